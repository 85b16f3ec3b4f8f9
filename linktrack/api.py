"""What every JSON blueprint shares: CSRF rules, JSON body parsing, and JSON errors."""

from flask import Blueprint, g, request
from flask_login import current_user
from flask_wtf.csrf import CSRFError

from .errors import ApiError
from .extensions import csrf

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


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
