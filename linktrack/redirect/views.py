"""GET /<short_code>: the viewer's only contact with linktrack, so it does one thing, fast.

One cached lookup (links/cache.py), a click row handed to the click writer (redirect/clicks.py,
which writes batches off the request), a 302. No session, no user, no template except the 404
and 410 pages. `Cache-Control: no-store`, because every answer carries a fresh tracking id and
an archive must take effect. Click storage failing never fails the redirect.

The happy path (a live link's 302) is answered by `ShortLinkFastPath`, a WSGI layer in front of
Flask: Flask's per-request machinery (rate limiter, CSRF, login and session hooks, response
object) cost a third of the redirect's time for nothing it needs (bench/redirect.py). Unknown,
archived and expired codes, and every other path, go on to Flask, where `follow` renders the
404 and 410 pages with the rest of the site's error handling.
"""

import time
import uuid
from datetime import datetime, timezone
from html import escape

from flask import Blueprint, Flask, abort, redirect, request
from werkzeug.datastructures import EnvironHeaders

from ..extensions import limiter
from ..links.cache import SHORT_CODE_SHAPE, CachedLink, find_link
from ..web.security import FAST_PATH_HEADERS, is_https
from ..web.sessions import sessionless
from .clicks import is_counted, record_click

bp = Blueprint("redirect", __name__)

# A redirect's Referrer-Policy replaces the viewer's page's policy for the next hop, so it decides
# what the landing page is told: the site the viewer came from (e.g. https://www.youtube.com/,
# what landing-page analytics expect), never the full address of that page (which may be a
# private forum thread or a webmail message), and nothing from an https page to an http one.
REFERRER_POLICY = "strict-origin-when-cross-origin"
NEVER_CACHED = {"Cache-Control": "no-store", "Referrer-Policy": REFERRER_POLICY}
# The fast path's fixed headers, built once: with and without HSTS (see security.py).
_FAST_302_HEADERS = {
    https: [("Content-Type", "text/html; charset=utf-8"), *NEVER_CACHED.items(), *FAST_PATH_HEADERS[https]]
    for https in (False, True)
}


@limiter.request_filter
def _not_rate_limited() -> bool:
    """Viewers share addresses (mobile carriers), so short links are never limited; a filter, unlike
    an exemption, lets Flask-Limiter skip its per-request work for them."""
    return request.blueprint == bp.name


def click_through(link: CachedLink, *, method: str, headers, ip, user_agent, referrer, now: float) -> str:
    """Log the click (unless HEAD or a prefetch) and return where this viewer goes."""
    tracking_id = uuid.uuid4()
    if is_counted(method, headers):
        record_click(
            link.id,
            tracking_id,
            ip=ip,
            user_agent=user_agent,
            referrer=referrer,
            clicked_at=datetime.fromtimestamp(now, timezone.utc),
        )
    return link.location(tracking_id)


@bp.get("/<short_code>")
@sessionless
def follow(short_code: str):
    """302 to the link's destination with a fresh tracking id; HEAD and GET alike (Flask adds HEAD)."""
    now = time.time()
    link = find_link(short_code, now)
    if link is None:
        abort(404)
    if link.is_gone(now):
        abort(410)
    location = click_through(
        link,
        method=request.method,
        headers=request.headers,
        ip=request.remote_addr,
        user_agent=request.headers.get("User-Agent"),
        referrer=request.referrer,
        now=now,
    )
    return redirect(location, 302)


@bp.after_request
def _never_cached(response):
    """Also applies to the 404 and 410 pages, so a restored or new link is seen at once."""
    response.headers.update(NEVER_CACHED)
    return response


def _safe_for_werkzeug_redirects(environ):
    """The parts of a request werkzeug copies into the Location of its own redirects (a doubled
    slash tidied up), made safe: a raw CR or LF in the query string percent-encoded (no HTTP server
    passes one on, but a WSGI caller can, and the header would raise), and a scheme a trusted proxy
    reported that is neither http nor https replaced by the connection's own (X-Forwarded-Proto
    "evil.com:443" made "evil.com:443://host/..." of it)."""
    query = environ.get("QUERY_STRING", "")
    if "\r" in query or "\n" in query:
        environ["QUERY_STRING"] = query.replace("\r", "%0D").replace("\n", "%0A")
    if environ.get("wsgi.url_scheme") not in ("http", "https"):
        original = environ.get("werkzeug.proxy_fix.orig", {}).get("wsgi.url_scheme")
        environ["wsgi.url_scheme"] = original if original in ("http", "https") else "http"
    return environ


class ShortLinkFastPath:
    """WSGI middleware answering a live short link's 302 before Flask's machinery runs.

    It takes only GET/HEAD on `/<code>` whose first segment is no route of the app's own (the
    url map's static first segments, read once); anything it does not answer with a 302 it
    passes to the Flask app untouched. Install it inside ProxyFix, so REMOTE_ADDR is the
    viewer's address.
    """

    def __init__(self, app: Flask, wsgi_app):
        self.app = app
        self.wsgi_app = wsgi_app
        self._app_paths: frozenset[str] | None = None

    def __call__(self, environ, start_response):
        short_code = self._short_code(environ)
        location = self._answer(short_code, environ) if short_code else None
        if location is None:
            return self.wsgi_app(_safe_for_werkzeug_redirects(environ), start_response)
        body = _redirect_body(location)
        headers = [
            ("Location", location),
            ("Content-Length", str(len(body))),
            *_FAST_302_HEADERS[is_https(environ)],
        ]
        start_response("302 FOUND", headers)
        return [b""] if environ["REQUEST_METHOD"] == "HEAD" else [body]

    def _short_code(self, environ) -> str | None:
        if environ["REQUEST_METHOD"] not in ("GET", "HEAD"):
            return None
        path = environ.get("PATH_INFO", "")
        code = path[1:]
        if not path.startswith("/") or not SHORT_CODE_SHAPE.fullmatch(code):
            return None
        if self._app_paths is None:
            self._app_paths = frozenset(
                rule.rule.split("/")[1] for rule in self.app.url_map.iter_rules() if "<" not in rule.rule.split("/")[1]
            )
        return None if code in self._app_paths else code

    def _answer(self, short_code: str, environ) -> str | None:
        """The Location for a live link's click, or None to let Flask answer."""
        with self.app.app_context():
            now = time.time()
            try:
                link = find_link(short_code, now)
            except Exception:  # e.g. the database is away: Flask tries again and answers (503, 500) properly
                return None
            if link is None or link.is_gone(now):
                return None
            return click_through(
                link,
                method=environ["REQUEST_METHOD"],
                headers=EnvironHeaders(environ),
                ip=environ.get("REMOTE_ADDR"),
                user_agent=environ.get("HTTP_USER_AGENT"),
                referrer=environ.get("HTTP_REFERER"),
                now=now,
            )


def _redirect_body(location: str) -> bytes:
    """What a browser that does not follow redirects shows (the same text Flask's redirect sends)."""
    href = escape(location)
    return (
        "<!doctype html>\n<html lang=en>\n<title>Redirecting...</title>\n<h1>Redirecting...</h1>\n"
        f'<p>You should be redirected automatically to the target URL: <a href="{href}">{href}</a>. '
        "If not, click the link.\n"
    ).encode()
