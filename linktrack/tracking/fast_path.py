"""POST /api/conversions from a landing page, answered before Flask's machinery runs.

Why: measured with bench/conversions.py, Flask's per-request work (request and app contexts,
Flask-Limiter resolving its limits, the login and CSRF hooks, the response object) cost more
than recording the conversion. This layer does what a browser's conversion needs and nothing
else: the per-IP rate limit (ip_limit.py: one count shared in Flask-Limiter's Redis, under the
address's daily keyed hash), service.record_conversion, the CORS and security headers.

It takes only a browser's call: POST, exactly /api/conversions, a JSON content type, a body of
known length within CONVERSION_MAX_BYTES that parses to a JSON object, no Authorization header.
Everything else (server calls with an API key, malformed bodies, the preflight) goes on to the
Flask view (views.py), which answers with the same codes. So does a request whose database work
failed before anything was committed: Flask answers it, with a 503 if the database is down.
"""

import io
import logging
from contextlib import nullcontext
from datetime import datetime, timezone

from flask import Flask
from werkzeug.http import HTTP_STATUS_CODES

from .. import dialect
from ..errors import ApiError
from ..extensions import db
from ..redirect.clicks import address_key
from ..web.api import cors_headers, loads_strict
from ..web.security import api_headers, is_https
from . import service
from .ip_limit import IpLimit, limit_from_config
from .store import SessionStore, psycopg_store

log = logging.getLogger(__name__)

PATH = "/api/conversions"
INTERNAL_ERROR = "The conversion was stored, but its answer failed; sending it again with the same event_id is safe."


class ConversionFastPath:
    """WSGI middleware: a landing page's conversion, or the next WSGI app for anything else."""

    def __init__(self, app: Flask, wsgi_app):
        self.app = app
        self.wsgi_app = wsgi_app
        self._ip_limit: IpLimit | None = None  # made on the first conversion, from the app's config
        self._postgresql: bool | None = None  # PostgreSQL runs the statements on psycopg (store.py)

    def __call__(self, environ, start_response):
        body = self._browser_conversion(environ)
        if body is None:
            return self.wsgi_app(environ, start_response)
        origin = environ.get("HTTP_ORIGIN")
        with self.app.app_context():
            store = None
            try:
                refusal = self._rate_limited(environ.get("REMOTE_ADDR") or "")
                if refusal is not None:
                    raise refusal
                with psycopg_store() if self._on_postgresql() else nullcontext(SessionStore()) as store:
                    recorded = service.record_conversion(body, source="browser", origin=origin, store=store)
                    status, payload, extra = (201 if recorded.created else 200), service.conversion_json(recorded), []
            except ApiError as exc:
                status, payload, extra = exc.status, exc.body(), exc.headers()
            except Exception:
                db.session.rollback()
                if store is not None and store.committed:
                    # Stored: Flask must not record it again. The tracker retries a 500 with the
                    # event_id it always sends, so its retry is a replay, not a second conversion.
                    log.exception("conversion stored, its answer failed")
                    status, payload, extra = 500, ApiError(500, "internal_error", INTERNAL_ERROR).body(), []
                else:  # nothing was committed: Flask answers it again, in its own way
                    environ["wsgi.input"] = io.BytesIO(environ["linktrack.body"])
                    return self.wsgi_app(environ, start_response)
            data = self.app.json.dumps(payload, separators=(",", ":")).encode() + b"\n"  # as jsonify writes it
        headers = [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(data))),
            *api_headers(is_https(environ)),
            *extra,
            *cors_headers(origin),
        ]
        start_response(f"{status} {HTTP_STATUS_CODES.get(status, '')}", headers)
        return [data]

    def _on_postgresql(self) -> bool:
        if self._postgresql is None:
            self._postgresql = dialect.is_postgresql(db.engine)
        return self._postgresql

    @staticmethod
    def _browser_conversion(environ) -> dict | None:
        """The JSON object a landing page posted, or None to leave the request to Flask."""
        if environ["REQUEST_METHOD"] != "POST" or environ.get("PATH_INFO") != PATH:
            return None
        if "HTTP_AUTHORIZATION" in environ:
            return None
        if environ.get("CONTENT_TYPE", "").split(";")[0].strip().lower() != "application/json":
            return None
        try:
            length = int(environ.get("CONTENT_LENGTH") or "")
        except ValueError:
            return None
        if not 0 < length <= service.CONVERSION_MAX_BYTES:
            return None
        raw = environ["wsgi.input"].read(length)
        environ["linktrack.body"] = raw
        environ["wsgi.input"] = io.BytesIO(raw)  # Flask can still read it if we pass
        try:
            body = loads_strict(raw)  # what json.loads takes beyond plain JSON goes to Flask's 400
        except ValueError:
            return None
        return body if isinstance(body, dict) else None

    def _rate_limited(self, ip: str) -> ApiError | None:
        """The refusal if this address is over CONVERSION_RATE_LIMIT_PER_IP, else None (the hit is
        counted in Redis under the address's daily keyed hash, never the raw IP: ip_limit.py). The
        per-tracking-id limit is counted by service.record_conversion."""
        config = self.app.config
        if not config.get("RATELIMIT_ENABLED", True):
            return None
        if self._ip_limit is None:
            self._ip_limit = limit_from_config(IpLimit, config)
        limit = service.parsed_limit(config["CONVERSION_RATE_LIMIT_PER_IP"])
        address = address_key(ip, datetime.now(timezone.utc).date(), config["SECRET_KEY"])
        retry_after = self._ip_limit.hit(limit, address)
        if retry_after is None:
            return None
        message = f"Too many conversions: at most {limit}. Try again later."
        return ApiError(429, "rate_limited", message, retry_after=retry_after)
