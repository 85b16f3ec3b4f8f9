"""One shape for every error: JSON under /api (DESIGN.md §5), a styled page elsewhere."""

import logging

from flask import Flask, jsonify, make_response, render_template, request
from werkzeug.exceptions import HTTPException, InternalServerError

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


class ApiError(Exception):
    """A refusal the API explains: HTTP status, a stable code, a sentence, and the field at fault."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field

    def to_response(self):
        body = {"code": self.code, "message": self.message}
        if self.field:
            body["field"] = self.field
        return jsonify(error=body), self.status


def wants_json() -> bool:
    return request.path.startswith("/api/") or request.path == "/api"


def _handle_http_exception(exc: HTTPException):
    status = exc.code or 500
    if wants_json():
        message = exc.description if status != 500 else "Something went wrong on our side."
        response = make_response(ApiError(status, _STATUS_CODES.get(status, "error"), message).to_response())
    else:
        template = f"errors/{status}.html" if status in (404, 410, 429, 500) else "errors/generic.html"
        response = make_response(render_template(template, error=exc, status=status), status)
    if status == 405 and getattr(exc, "valid_methods", None):
        response.headers["Allow"] = ", ".join(exc.valid_methods)
    if status == 429 and (retry_after := getattr(exc, "retry_after", None)):
        response.headers.setdefault("Retry-After", str(retry_after))
    return response


def _handle_unexpected(exc: Exception):
    log.exception("unhandled error on %s %s", request.method, request.path)
    return _handle_http_exception(InternalServerError())


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(ApiError, lambda exc: exc.to_response())
    app.register_error_handler(HTTPException, _handle_http_exception)
    app.register_error_handler(Exception, _handle_unexpected)
