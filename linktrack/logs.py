"""Logs as one JSON object a line, each with the id of the request it was written for (LOG_FORMAT=json).

A line: {"time": ISO 8601 UTC with milliseconds, "level", "logger", "message", "request_id"}, and
"exception" (the formatted traceback) when there is one. request_id is null outside a request
(the click writer's thread, jobs, the CLI).

The request id: an incoming X-Request-ID is kept when it looks like one (1-128 characters of
letters, digits and `-_.:@/+=`, as proxies and tracing systems make them), so one id follows the
request from the proxy's log to ours; anything else is replaced by a fresh UUID4 (hex), so a client
cannot inject quotes, spaces or a megabyte into our logs. The id is sent back in the answer's
X-Request-ID header. RequestId is a WSGI layer outside every other (fast paths included); it is
installed only with LOG_FORMAT=json, so the text format costs the redirect nothing.

gunicorn's own lines (its error log, and the access log when ACCESS_LOG is on) are written in the
same shape by gunicorn.conf.py with JsonFormatter.
"""

import contextvars
import json
import logging
import re
import uuid
from datetime import datetime, timezone

REQUEST_ID_HEADER = "X-Request-ID"
SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9\-_.:@/+=]{1,128}")

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("linktrack_request_id", default=None)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": request_id.get(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def incoming_or_new(value: str | None) -> str:
    return value if value and SANE_REQUEST_ID.fullmatch(value) else uuid.uuid4().hex


class RequestId:
    """WSGI layer: the request's id in the context of everything it logs, and in its answer."""

    def __init__(self, wsgi_app):
        self.wsgi_app = wsgi_app

    def __call__(self, environ, start_response):
        current = incoming_or_new(environ.get("HTTP_X_REQUEST_ID"))
        token = request_id.set(current)

        def start_response_with_id(status, headers, exc_info=None):
            headers = [(name, value) for name, value in headers if name.lower() != "x-request-id"]
            headers.append((REQUEST_ID_HEADER, current))
            return start_response(status, headers, exc_info)

        try:
            return self.wsgi_app(environ, start_response_with_id)
        finally:
            request_id.reset(token)


def use_json_lines(level: int = logging.INFO) -> None:
    """The root logger writes JSON lines to stderr (replacing its handlers), at `level`."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
