"""What each process counts for Prometheus: one small call per event, from the rooms that see it.

The instruments are prometheus-client's. Under gunicorn with PROMETHEUS_MULTIPROC_DIR set (the
gunicorn config, gunicorn.conf.py, sets it when METRICS_TOKEN is set), every process writes its
values to its own memory-mapped files in that directory, and GET /metrics (web/metrics.py) adds up
the files of every process, live or dead: counters and histograms keep what a recycled worker
counted; the gauges add up live processes only (gunicorn's child_exit hook marks a dead worker's).
Without that directory each process counts in its own memory, which is right for one process
(`flask run`, the tests).

Cost: an update writes a float into a mapped file under a lock, about 1 us (measured on this
machine); the redirect pays three (its request, its latency, the click buffer's depth).

Limits: a process on another host (an `rq worker` on a machine of its own) writes into its own
directory, so its job failures and forwarding attempts reach /metrics only where it shares the
web processes' directory; the queue depth and the failed jobs are read from Redis at each scrape
(web/metrics.py) and so are seen from anywhere.
"""

from prometheus_client import Counter, Gauge, Histogram, disable_created_metrics

disable_created_metrics()  # the *_created series (a timestamp per label set) double a scrape for nothing

REQUEST_ROUTES = ("redirect", "conversions", "api", "pages", "static", "health")

REQUESTS = Counter(
    "linktrack_http_requests",
    "HTTP requests answered, by route class (redirect, conversions, api, pages, static, health) and status.",
    ["route", "status"],
)
# Buckets around the redirect's own times: ~1 ms alone, p99 ~15-25 ms under bench/redirect.py's load.
REDIRECT_SECONDS = Histogram(
    "linktrack_redirect_duration_seconds",
    "Time the app took to answer GET /<code> (from the WSGI call to its answer), any status.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
BUFFER_ROWS = Gauge(
    "linktrack_buffer_rows",
    "Rows waiting in the write-behind buffers (writer=clicks, conversions_to_count), held ones included.",
    ["writer"],
    multiprocess_mode="livesum",
)
BUFFER_HELD_ROWS = Gauge(
    "linktrack_buffer_held_rows",
    "Of those, rows held because the database refused their batch (tried again every second).",
    ["writer"],
    multiprocess_mode="livesum",
)
CLICKS_DROPPED = Counter(
    "linktrack_clicks_dropped",
    "Clicks answered with a redirect but never stored (past the held bound, held at exit, or refused).",
)
JOB_FAILURES = Counter("linktrack_job_failures", "Background job runs that raised, by job name.", ["job"])
FORWARDING_ATTEMPTS = Counter(
    "linktrack_forwarding_attempts",
    "Forwarding tries, by destination kind and outcome (delivered, retrying, failed).",
    ["kind", "outcome"],
)

_request_children: dict = {}
_writer_children: dict = {}


def request_answered(route: str, status: str, seconds: float) -> None:
    """One answered request (the WSGI middleware in web/metrics.py calls it)."""
    child = _request_children.get((route, status))
    if child is None:
        child = _request_children.setdefault((route, status), REQUESTS.labels(route, status))
    child.inc()
    if route == "redirect":
        REDIRECT_SECONDS.observe(seconds)


def buffer_rows(rows_name: str, waiting: int, held: bool) -> None:
    """A write-behind buffer's depth now (counting/buffer.py): `waiting` rows, all held when `held`."""
    children = _writer_children.get(rows_name)
    if children is None:
        writer = rows_name.replace(" ", "_")
        children = _writer_children.setdefault(rows_name, (BUFFER_ROWS.labels(writer), BUFFER_HELD_ROWS.labels(writer)))
    children[0].set(waiting)
    children[1].set(waiting if held else 0)


def clicks_dropped(count: int) -> None:
    CLICKS_DROPPED.inc(count)


def job_failed(name: str) -> None:
    JOB_FAILURES.labels(name).inc()


def forwarding_attempt(kind: str, outcome: str) -> None:
    FORWARDING_ATTEMPTS.labels(kind, outcome).inc()
