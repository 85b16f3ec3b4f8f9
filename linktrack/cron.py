"""Periodic jobs as data, read by `rq cron linktrack.cron` (Procfile `cron`).

Each entry is (job function, RQ queue, schedule): an interval in seconds or a cron string.
Jobs take ids, not objects, and open their own app context (jobs.py).
"""

from rq import cron

from . import jobs
from .queue import NIGHTLY_CLEANUP_AT, QUEUE_NAME

PERIODIC_JOBS: list[tuple] = [
    # Pending work (Redis was down, or a retry is due) goes back on the queue within a minute.
    (jobs.run_due_jobs, QUEUE_NAME, {"interval": 60}),
    # Attribution cleanup for every creator, nightly (UTC), outside the busy hours.
    (jobs.cleanup_all_creators, QUEUE_NAME, {"cron": "{1} {0} * * *".format(*NIGHTLY_CLEANUP_AT)}),
]

for func, queue_name, schedule in PERIODIC_JOBS:
    cron.register(func, queue_name, **schedule)
