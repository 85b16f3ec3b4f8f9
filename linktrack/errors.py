"""One shape for every error: JSON under /api (DESIGN.md §5), a styled page elsewhere.

The database being unreachable (restarting, failing over, connections cut) is not a bug: it
answers 503 with Retry-After, never a stack trace or a 500, and the next request after it is
back succeeds on its own (pool_pre_ping replaces the dead connections; config.py).
"""

import logging

from flask import Flask, current_app, g, jsonify, make_response, render_template, request
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from werkzeug.exceptions import HTTPException, InternalServerError, ServiceUnavailable

from . import dialect

log = logging.getLogger(__name__)

# Default machine-readable codes for HTTP errors raised without an ApiError.
_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    410: "gone",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "unprocessable",
    429: "rate_limited",
    500: "internal_error",
    503: "service_unavailable",
}

VIEWER_BLUEPRINT = "redirect"  # GET /<short_code>: the only pages a creator's viewers meet
RETRY_AFTER_SECONDS = 30  # what a 503 asks clients to wait: a PostgreSQL restart or failover takes about that


def is_database_unavailable(exc: BaseException) -> bool:
    """Whether `exc` says the database cannot be used right now (unreachable, starting up, shutting
    down, connection dropped, deadlock, locked), as opposed to a bad query, a missing table or a
    broken constraint: only the first kind may work when tried again later."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, InterfaceError):
        return True
    if not isinstance(exc, OperationalError):
        return False
    return dialect.is_unavailable_error(exc.orig)


class DatabaseUnavailable(ServiceUnavailable):
    description = "linktrack cannot reach its database right now. Please try again in a moment."


class ApiError(Exception):
    """A refusal the API explains: HTTP status, a stable code, a sentence, and the field at fault."""

    def __init__(
        self, status: int, code: str, message: str, field: str | None = None, *, retry_after: int | None = None
    ):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.retry_after = retry_after  # seconds, sent as Retry-After (429, 503)

    def body(self) -> dict:
        """The JSON answer: {"error": {"code", "message", "field"?}}."""
        error = {"code": self.code, "message": self.message}
        if self.field:
            error["field"] = self.field
        return {"error": error}

    def headers(self) -> list[tuple[str, str]]:
        return [("Retry-After", str(self.retry_after))] if self.retry_after else []

    def to_response(self):
        return jsonify(self.body()), self.status, self.headers()


def wants_json() -> bool:
    return request.path.startswith("/api/") or request.path == "/api"


def _handle_http_exception(exc: HTTPException):
    status = exc.code or 500
    if wants_json():
        message = exc.description if status != 500 else "Something went wrong on our side."
        response = make_response(ApiError(status, _STATUS_CODES.get(status, "error"), message).to_response())
    else:
        template = f"errors/{status}.html" if status in (404, 410, 429, 500, 503) else "errors/generic.html"
        if request.blueprint == VIEWER_BLUEPRINT and status in (404, 410, 429):
            template = "errors/viewer.html"  # a creator's audience, not linktrack's: no sign-up, no nav
        response = make_response(render_template(template, error=exc, status=status), status)
    if status == 405 and getattr(exc, "valid_methods", None):
        response.headers["Allow"] = ", ".join(exc.valid_methods)
    if status == 429 and (retry_after := getattr(exc, "retry_after", None)):
        response.headers.setdefault("Retry-After", str(retry_after))
    if status == 503:
        response.headers.setdefault("Retry-After", str(RETRY_AFTER_SECONDS))
    return response


def _handle_database_unavailable(exc: Exception):
    """503, logged without a traceback flood: one line per request while the database is away."""
    log.warning("database unavailable on %s %s: %s", request.method, request.path, str(exc).splitlines()[0])
    if "_login_user" not in g:
        # The page's header asks who is signed in, which needs the database: show it signed out.
        g._login_user = current_app.login_manager.anonymous_user()
    return _handle_http_exception(DatabaseUnavailable())


def _handle_database_error(exc: DBAPIError):
    if is_database_unavailable(exc):
        return _handle_database_unavailable(exc)
    return _handle_unexpected(exc)


def _handle_unexpected(exc: Exception):
    log.exception("unhandled error on %s %s", request.method, request.path)
    return _handle_http_exception(InternalServerError())


def _end_session_even_without_a_database(_exc) -> None:
    """Registered after Flask-SQLAlchemy's teardown, so it runs first: ending a request's session
    rolls back on its connection, and a connection the database cut mid-request raises there,
    after the answer was made, which would turn it into a bare 500. The dead connection is
    already invalidated by then; the session is simply dropped."""
    from .extensions import db

    try:
        db.session.remove()
    except Exception as exc:
        if not is_database_unavailable(exc):
            raise
        log.warning("session ended on a lost database connection: %s", str(exc).splitlines()[0])
        db.session.registry.clear()


def register_error_handlers(app: Flask) -> None:
    app.teardown_appcontext(_end_session_even_without_a_database)
    app.register_error_handler(ApiError, lambda exc: exc.to_response())
    app.register_error_handler(HTTPException, _handle_http_exception)
    app.register_error_handler(DBAPIError, _handle_database_error)
    app.register_error_handler(Exception, _handle_unexpected)
