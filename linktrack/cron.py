"""Periodic jobs as data, read by `rq cron linktrack.cron` (Procfile `cron`).

Each entry is (job function, RQ queue, interval in seconds). Jobs take ids, not objects,
and open their own app context (see jobs.py once it exists).
"""

from rq import cron

PERIODIC_JOBS: list[tuple] = []

for func, queue_name, interval in PERIODIC_JOBS:
    cron.register(func, queue_name, interval=interval)
