"""What every JSON blueprint shares: CSRF rules, JSON body parsing, and JSON errors."""

import json
import math
from typing import Any

from flask import Blueprint, g, request
from flask.json.provider import DefaultJSONProvider
from flask_login import current_user
from flask_wtf.csrf import CSRFError

from ..errors import ApiError
from ..extensions import csrf

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def loads_strict(data: str | bytes) -> Any:
    """JSON as RFC 8259 means it, and only what the databases can store; ValueError otherwise.

    Python's json module also takes NaN and Infinity (and turns 1e400 into inf), strings with a
    lone surrogate ("\\ud800") and NUL characters, and raises RecursionError on deeply nested
    arrays: PostgreSQL refuses such text, SQLite keeps JSON no client can read back, and the
    RecursionError was a 500 (found while fuzzing the API contract, tests/test_openapi.py).
    """
    try:
        value = json.loads(data, parse_constant=_not_a_number, parse_float=_finite_float)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
    pending = [value]
    while pending:  # no recursion: the nesting is as deep as the client likes
        item = pending.pop()
        if isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
        elif isinstance(item, str):
            if "\x00" in item:
                raise ValueError("JSON strings cannot contain NUL (\\u0000)")
            item.encode("utf-8")  # UnicodeEncodeError (a ValueError) for a lone surrogate
    return value


def _not_a_number(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    number = float(text)
    if math.isinf(number):
        raise ValueError(f"{text} is beyond the range of a JSON number")
    return number


class StrictJSONProvider(DefaultJSONProvider):
    """The app's JSON: request.get_json() parses with loads_strict, so every view reading a body gets
    only plain JSON (and a malformed body is a 400, never a 500)."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return loads_strict(s)


def api_blueprint(name: str, import_name: str, url_prefix: str = "/api") -> Blueprint:
    """A blueprint for JSON endpoints.

    Calls with `Authorization: Bearer <key>` need no CSRF token (a browser cannot attach one
    cross-site); calls that ride on the session cookie must send `X-CSRFToken`, exactly like
    the forms do, so a hostile page cannot act with a creator's session.
    """
    bp = Blueprint(name, import_name, url_prefix=url_prefix)
    csrf.exempt(bp)
    bp.before_request(_csrf_for_session_callers)
    return bp


def _csrf_for_session_callers() -> None:
    if request.method in SAFE_METHODS:
        return
    # Loading current_user first lets the Bearer-key loader set g.api_key.
    if not current_user.is_authenticated or g.get("api_key") is not None:
        return
    try:
        csrf.protect()
    except CSRFError as exc:
        raise ApiError(400, "csrf_failed", exc.description) from exc


def json_body() -> dict:
    """The request's JSON object, or an ApiError that says why there is none."""
    if not request.is_json:
        raise ApiError(415, "unsupported_media_type", "Send the body as JSON (Content-Type: application/json).")
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_json", "The body must be a JSON object.")
    return body


def cors_headers(origin: str | None) -> list[tuple[str, str]]:
    """The conversions API answers landing pages on other origins: their Origin is echoed, and no
    cookie is ever allowed cross-site. The conversion fast path sends exactly these."""
    return [("Access-Control-Allow-Origin", origin), ("Vary", "Origin")] if origin else []


def allow_cross_origin(response):
    """cors_headers on a Flask response (an after_request hook's body)."""
    for name, value in cors_headers(request.headers.get("Origin")):
        if name == "Vary":
            response.vary.add(value)
        else:
            response.headers[name] = value
    return response
