"""GET /metrics for Prometheus, and the WSGI layer that counts every request (linktrack/metrics.py).

- METRICS_TOKEN unset: /metrics answers 404 like any unknown page and no request is measured
  (the layer is not installed). Set: /metrics asks for `Authorization: Bearer <token>`, compared in
  constant time; anything else is 401. Scrape it over the private network or through the proxy.
- Under gunicorn with PROMETHEUS_MULTIPROC_DIR (gunicorn.conf.py), the answer adds up every
  worker's files, so whichever worker takes the scrape answers for all. Without it, for itself.
- At each scrape, read from Redis when REDIS_URL is set: the RQ queue's jobs by state (queued,
  scheduled, started, failed: rq keeps a failed job for a year), one round trip each. And from the
  database: jobs kept in pending_jobs (Redis was away), and the counting consumer's backlog
  (uncounted clicks and conversions, seconds since its last run). These need no worker on the same host.

Route classes (RequestMetrics): health (/healthz, /readyz, /metrics), static (/static/...),
conversions (the tracker's script and POST/OPTIONS /api/conversions, and the sale webhooks under
/api/integrations/), api (the rest of /api/), redirect (any one-segment path that is no route of
the app's own: what the short-link fast path or the redirect view answers) and pages (the rest).
"""

import hmac
import logging
import os
import time

from flask import Blueprint, Response, abort, current_app, request
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily
from redis.exceptions import RedisError
from rq import Queue
from sqlalchemy import func, select

from .. import metrics
from ..counting.consumer import backlog
from ..extensions import db, limiter, redis_connection
from ..links.validation import routed_segments
from ..models import PendingJob
from ..queue import QUEUE_NAME
from .sessions import sessionless

log = logging.getLogger(__name__)

bp = Blueprint("metrics", __name__)
limiter.exempt(bp)

HEALTH_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
CONVERSION_PATHS = frozenset({"/api/conversions", "/api/conversions/script"})


@bp.get("/metrics")
@sessionless
def scrape():
    token = current_app.config.get("METRICS_TOKEN")
    if not token:
        abort(404)
    sent = request.headers.get("Authorization", "")
    if not hmac.compare_digest(sent.encode(), f"Bearer {token}".encode()):
        return Response("metrics need Authorization: Bearer <METRICS_TOKEN>\n", 401, {"WWW-Authenticate": "Bearer"})
    registry = REGISTRY  # this process's own values, unless every worker's files are there to add up
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    read_now = CollectorRegistry()
    read_now.register(ReadAtScrape())
    body = generate_latest(registry) + generate_latest(read_now)
    return Response(body, 200, {"Content-Type": CONTENT_TYPE_LATEST, "Cache-Control": "no-store"})


class ReadAtScrape:
    """The figures read at the scrape (queue depth, pending jobs), in the scraping app's context."""

    def collect(self):
        depth = GaugeMetricFamily(
            "linktrack_queue_jobs", "RQ jobs on the queue, by state (read from Redis at the scrape).", labels=["state"]
        )
        redis = redis_connection()
        if redis is not None:
            queue = Queue(QUEUE_NAME, connection=redis)
            try:
                depth.add_metric(["queued"], queue.count)
                depth.add_metric(["scheduled"], queue.scheduled_job_registry.count)
                depth.add_metric(["started"], queue.started_job_registry.count)
                depth.add_metric(["failed"], queue.failed_job_registry.count)
            except RedisError as exc:
                log.warning("metrics: the queue's depth is unknown: %s", exc)
        yield depth
        pending = GaugeMetricFamily(
            "linktrack_pending_jobs", "Jobs kept in the pending_jobs table (Redis was away, or no Redis)."
        )
        try:
            pending.add_metric([], db.session.scalar(select(func.count()).select_from(PendingJob)))
        except Exception as exc:
            db.session.rollback()
            log.warning("metrics: pending jobs unknown: %s", exc)
        yield pending
        yield from _counting_backlog()


def _counting_backlog():
    """The counting consumer's backlog (counting/consumer.backlog), read from the database."""
    uncounted = GaugeMetricFamily(
        "linktrack_uncounted_events", "Stored events not yet added to the report totals, by kind.", labels=["kind"]
    )
    since = GaugeMetricFamily(
        "linktrack_seconds_since_counting_run", "Seconds since the counting consumer last ran (database clock)."
    )
    try:
        found = backlog()
    except Exception as exc:
        db.session.rollback()
        log.warning("metrics: the counting backlog is unknown: %s", exc)
        return
    uncounted.add_metric(["clicks"], found["clicks"])
    uncounted.add_metric(["conversions"], found["conversions"])
    yield uncounted
    if found["seconds_since_run"] is not None:
        since.add_metric([], found["seconds_since_run"])
        yield since


class RequestMetrics:
    """WSGI layer counting each answer by route class and status, and timing the redirect's.

    Outside ProxyFix, the trusted-hosts check and the fast paths, so it sees what the client got
    (a trusted-hosts 400 too). Times run to the moment
    the app hands back its body (the redirect's is one small bytes object).
    """

    def __init__(self, app, wsgi_app):
        self.app = app
        self.wsgi_app = wsgi_app
        self._app_paths: frozenset[str] | None = None

    def __call__(self, environ, start_response):
        started = time.perf_counter()
        status = "500"

        def start_response_seen(status_line, headers, exc_info=None):
            nonlocal status
            status = status_line[:3]
            return start_response(status_line, headers, exc_info)

        try:
            return self.wsgi_app(environ, start_response_seen)
        finally:
            route = self.route_class(environ.get("PATH_INFO", ""))
            metrics.request_answered(route, status, time.perf_counter() - started)

    def route_class(self, path: str) -> str:
        if path in HEALTH_PATHS:
            return "health"
        if path.startswith("/static/"):
            return "static"
        if path in CONVERSION_PATHS or path.startswith("/api/integrations/"):
            return "conversions"
        if path.startswith("/api/"):
            return "api"
        if self._app_paths is None:
            self._app_paths = routed_segments(self.app)
        segments = path.split("/")
        if len(segments) == 2 and segments[1] not in self._app_paths:
            return "redirect"
        return "pages"
