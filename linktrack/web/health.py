"""GET /healthz and GET /readyz: what a load balancer or an orchestrator asks a web process.

- /healthz: the process is alive and answering HTTP. No I/O at all (no database, no Redis, no
  session), so it stays 200 while a backend is away: restarting the process would not help then.
- /readyz: this process can do its work. The database answers `SELECT 1` within
  READY_TIMEOUT_SECONDS (connecting is bounded by DATABASE_CONNECT_TIMEOUT_SECONDS), Redis answers
  PING within READY_TIMEOUT_SECONDS when REDIS_URL is set, and neither of this process's
  background writers is stuck: the click writer (click_buffer, counting/buffer.py
  ClickWriter.stalled: a batch waiting on a lock, a thread that died) and the counting consumer
  (counting, counting/consumer.py: this process's counting run waiting on a lock or failing).
  200 when every check passes, 503 naming the
  failing ones. Why a check failed is logged; the answer gives only the exception's class, since
  the endpoint is public and a driver's message can name internal hosts.

Both are routes of the app's own, so the short-link fast path (which skips the url map's first
segments) never looks them up as codes, and links/validation.py refuses them as short codes.
No session, no login, not rate limited, `Cache-Control: no-store`. Each answers for the process
that received it: under gunicorn, a probe reaches one worker of several.
"""

import logging
import time

from flask import Blueprint, current_app, jsonify
from redis import Redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from sqlalchemy import text

from .. import dialect
from ..counting.consumer import counting_stalled
from ..extensions import db, limiter
from ..redirect.clicks import click_writer_stalled
from .security import API_HEADERS
from .sessions import sessionless

log = logging.getLogger(__name__)

bp = Blueprint("health", __name__)
limiter.exempt(bp)

READY_TIMEOUT_SECONDS = 2.0  # one check's answer; a balancer's own probe timeout is usually 5 s or more
_REDIS_KEY = "linktrack_readiness_redis"


@bp.after_request
def _never_cached(response):
    """A probe's answer is about this moment; and it is JSON, so it gets the API's headers, not a page's."""
    response.headers["Cache-Control"] = "no-store"
    for name, value in API_HEADERS:
        response.headers.setdefault(name, value)
    return response


@bp.get("/healthz")
@sessionless
def healthz():
    return {"status": "ok"}


@bp.get("/readyz")
@sessionless
def readyz():
    checks = {
        "database": _database(),
        "redis": _redis(),
        "click_buffer": _writer("click_buffer", click_writer_stalled),
        "counting": _writer("counting", counting_stalled),
    }
    failing = [name for name, check in checks.items() if check["status"] == "failing"]
    body = {"status": "not_ready" if failing else "ready", "failing": failing, "checks": checks}
    response = jsonify(body)
    response.status_code = 503 if failing else 200
    return response


def _ok() -> dict:
    return {"status": "ok"}


def _failing(name: str, reason: str, exc: BaseException | None = None) -> dict:
    log.warning("not ready: %s: %s", name, reason)
    return {"status": "failing", "reason": type(exc).__name__ if exc is not None else reason}


def _database() -> dict:
    try:
        with db.engine.connect() as connection:
            dialect.set_statement_timeout(connection, READY_TIMEOUT_SECONDS)
            connection.execute(text("SELECT 1"))
    except Exception as exc:
        return _failing("database", (str(exc) or type(exc).__name__).splitlines()[0], exc)
    return _ok()


def _redis() -> dict:
    url = current_app.config.get("REDIS_URL")
    if not url:
        return {"status": "unused"}
    try:
        _readiness_redis(url).ping()
    except Exception as exc:
        return _failing("redis", str(exc) or type(exc).__name__, exc)
    return _ok()


def _readiness_redis(url: str) -> Redis:
    """A client of its own: the app's retries a refused connection ten times with backoff (about
    4 s), where a probe wants one try and a short timeout."""
    client = current_app.extensions.get(_REDIS_KEY)
    if client is None:
        client = Redis.from_url(
            url,
            socket_connect_timeout=READY_TIMEOUT_SECONDS,
            socket_timeout=READY_TIMEOUT_SECONDS,
            retry=Retry(NoBackoff(), 0),
        )
        current_app.extensions[_REDIS_KEY] = client
    return client


def _writer(name: str, stalled) -> dict:
    reason = stalled(time.time())
    return _failing(name, reason) if reason else _ok()
