"""Periodic jobs as data, and the process that enqueues them (Procfile `cron`: `flask --app wsgi cron`).

Each entry is (job function, RQ queue, schedule): an interval in seconds or a cron string.
Jobs take ids, not objects, and open their own app context (jobs.py). `rq cron linktrack.cron`
still reads the list, but it dies with a traceback when Redis goes away and stays dead, so the
periodic sweep would stop until a person restarted it: `run_cron` keeps rq's scheduler running
across Redis restarts instead.
"""

import logging
import time

from redis import Redis
from redis.exceptions import RedisError
from rq import cron
from rq.cron import CronScheduler
from rq.exceptions import StopRequested

from . import jobs
from .queue import NIGHTLY_CLEANUP_AT, QUEUE_NAME

log = logging.getLogger(__name__)

SWEEP_SECONDS = 60  # `rq cron`'s interval; `flask cron` takes JOBS_SWEEP_SECONDS
RESTART_BACKOFF_SECONDS = (1, 30)  # first and longest wait before rq's loop starts again


def periodic_jobs(sweep_seconds: int = SWEEP_SECONDS) -> list[tuple]:
    return [
        # Pending work (Redis was down, a retry is due, a job Redis lost) goes back on the queue.
        (jobs.run_due_jobs, QUEUE_NAME, {"interval": sweep_seconds}),
        # Attribution cleanup for every creator, nightly (UTC), outside the busy hours.
        (jobs.cleanup_all_creators, QUEUE_NAME, {"cron": "{1} {0} * * *".format(*NIGHTLY_CLEANUP_AT)}),
        # Monthly partitions of click_events made ahead (PostgreSQL; nothing to do on SQLite), daily:
        # a month's partition exists weeks before its first click, however many runs are missed.
        (jobs.create_partitions_ahead, QUEUE_NAME, {"cron": "30 0 * * *"}),
    ]


PERIODIC_JOBS: list[tuple] = periodic_jobs()

for func, queue_name, schedule in PERIODIC_JOBS:
    cron.register(func, queue_name, **schedule)


def run_cron(connection: Redis, sweep_seconds: int) -> None:
    """rq's cron loop, started again with backoff whenever Redis fails under it; returns on SIGTERM
    or SIGINT. One scheduler object lives throughout, so each job keeps its schedule: the sweep
    runs as soon as Redis answers again, and a nightly run missed while Redis was away runs then."""
    scheduler = CronScheduler(connection=connection)
    for func, queue_name, schedule in periodic_jobs(sweep_seconds):
        scheduler.register(func, queue_name, **schedule)
    first, longest = RESTART_BACKOFF_SECONDS
    wait = first
    while True:
        started = time.monotonic()
        try:
            scheduler.start()  # until a signal (it returns) or a Redis error (it raises)
            return
        except RedisError as exc:
            if time.monotonic() - started > longest:
                wait = first  # it ran a good while: a new outage starts with a short wait
            log.warning("Redis failed under the cron scheduler (%s); starting again in %s s", exc, wait)
        try:
            time.sleep(wait)
        except (StopRequested, KeyboardInterrupt):  # rq's signal handlers are still installed
            return
        wait = min(wait * 2, longest)
