"""`enqueue()`, the only way to start a background job, and the worker that runs them (DESIGN.md §7).

The job bodies are in jobs.py; they are declared with `@job` and named by their function name.

- REDIS_URL set: the job goes on the RQ queue `default`; `rq worker` runs it (Procfile `worker`).
- REDIS_URL unset: the job runs inline, right away (callers enqueue after their commit), and
  due pending jobs are swept at most every JOBS_SWEEP_SECONDS on the way.
- Redis down: the job is written to `pending_jobs`; `run_due_jobs` (every minute from
  `flask cron`, cron.py) re-enqueues it once Redis answers, so no work is lost. After a
  refusal or a timeout the process leaves Redis alone for REDIS_REST_SECONDS (jobs go straight
  to pending_jobs), so a hung Redis costs one request a socket timeout, not every request.

Callers name a job (`enqueue("deliver_forwarding", 7)`), so no room imports jobs.py, which imports
the rooms. A failing job never fails the request that enqueued it. Jobs take ids (strings), not objects,
and run in an app context: the caller's in inline mode, otherwise a fresh one per job of the app the
worker process builds once with create_app() (AppWorker). Importing this module builds nothing.
"""

import functools
import importlib
import logging
import os
import time
from collections.abc import Callable
from contextlib import nullcontext
from datetime import datetime, timedelta

from flask import Flask, current_app, has_app_context
from redis.exceptions import RedisError
from rq import Queue, Retry, SimpleWorker
from sqlalchemy import delete, select

from . import metrics
from .extensions import db, redis_connection
from .models import PendingJob, utcnow

log = logging.getLogger(__name__)

QUEUE_NAME = "default"
JOB_TIMEOUT_SECONDS = 600
PENDING_BATCH = 500
REDIS_REST_SECONDS = 5.0
# A job that fails (say, the database was away when the worker ran it) runs again this many seconds
# later, three times at most; every job is safe to run twice (fan-out and deliveries check first).
RETRY_INTERVALS = [30, 120, 600]
NIGHTLY_CLEANUP_AT = (3, 17)  # UTC hour and minute; cron.py says the same

JOBS_MODULE = "linktrack.jobs"  # where the bodies are: rq imports them from there by name
NIGHTLY_CLEANUP_JOB = "cleanup_all_creators"
SWEEP_JOB = "run_due_jobs"
JOBS: dict[str, Callable] = {}
_worker_app = None


def _app_for_worker():
    """The worker process's app, built on first use (create_app takes about a second)."""
    global _worker_app
    if _worker_app is None:
        from . import create_app

        _worker_app = create_app()
        log.info("linktrack app built for worker process %d", os.getpid())
    return _worker_app


def _job_context():
    """The app context a job runs in: the caller's, or the worker process's own app."""
    if has_app_context():
        return nullcontext()
    return _app_for_worker().app_context()


class AppWorker(SimpleWorker):
    """`rq worker --worker-class linktrack.queue.AppWorker` (Procfile): runs each job in the worker
    process. rq's default Worker forked a process per job, which cost 90-170 ms a job (4-10 jobs/s
    against 70-90 now: bench/jobs.py; how many workers to run: docs/operations.md).
    What the fork gave, kept here:
    - a clean slate per job: each job runs in an app context of its own, whose SQLAlchemy session
      is removed when it ends (Flask-SQLAlchemy's teardown), so a failed job's transaction is rolled
      back and no object or identity map reaches the next job;
    - the job timeout: SimpleWorker's death penalty is SIGALRM in this (main) thread, which raises
      JobTimeoutException inside the job; retries and `--with-scheduler` work as with Worker.
    Database connections now outlive a job; pool_pre_ping (config.py) replaces one the server
    closed in between, and a connection that fails during a job is discarded by SQLAlchemy.
    Not kept: a job that crashes the interpreter takes the worker down (the platform restarts it).
    """

    def __init__(self, *args, app: Flask | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.app = app  # tests pass theirs; `rq worker` builds the process's own in work()

    def work(self, *args, **kwargs):
        if self.app is None:
            self.app = _app_for_worker()
        _forget_inherited_connections_after_fork()
        return super().work(*args, **kwargs)

    def perform_job(self, job, queue) -> bool:
        with self.app.app_context():
            return super().perform_job(job, queue)


_fork_hook_installed = False


def _forget_inherited_connections_after_fork() -> None:
    """rq forks its scheduler (`--with-scheduler`) from the worker, and may do so again once jobs
    have opened database connections: the child must never use nor close the parent's sockets."""
    global _fork_hook_installed
    if not _fork_hook_installed:
        os.register_at_fork(after_in_child=_drop_pool_in_child)
        _fork_hook_installed = True


def _drop_pool_in_child() -> None:
    if _worker_app is not None:
        with _worker_app.app_context():
            for engine in db.engines.values():  # the maintenance and reports engines too
                engine.dispose(close=False)


def job(func: Callable) -> Callable:
    """Declare a job: it runs inside an app context and can be named in enqueue() and pending_jobs."""

    @functools.wraps(func)
    def run(*args):
        with _job_context():
            try:
                return func(*args)
            except BaseException:  # a timeout (rq's JobTimeoutException) too; rq or the caller handles it
                metrics.job_failed(func.__name__)
                raise

    JOBS[func.__name__] = run
    return run


def enqueue(name: str, *args, at: datetime | None = None) -> str:
    """Start the job `name` with `args` now (or at `at`); answers how: "queued", "inline" or "pending".

    Never raises for a Redis or job failure: the caller's request has already committed its work.
    """
    _declared_jobs()
    if name not in JOBS:
        raise ValueError(f"{name} is not a job declared in linktrack.jobs")
    redis = redis_connection()
    if redis is None:
        if at is not None and at > utcnow():
            _record_pending(name, args, at)
            return "pending"
        _sweep_if_due()
        _run_inline(name, args)
        return "inline"
    if _redis_resting():
        _record_pending(name, args, at or utcnow())
        return "pending"
    try:
        _push(redis, name, args, at)
    except RedisError as exc:
        _rest_redis(REDIS_REST_SECONDS)
        log.warning("Redis refused job %s%r (%s); kept in pending_jobs", name, args, exc)
        _record_pending(name, args, at or utcnow())
        return "pending"
    return "queued"


def _redis_resting() -> bool:
    state = current_app.extensions.setdefault("linktrack_jobs", {})
    return state.get("redis_rests_until", 0.0) > time.monotonic()


def _rest_redis(seconds: float) -> None:
    """Leave Redis alone for `seconds` in this process (0: it answered, use it again at once)."""
    current_app.extensions.setdefault("linktrack_jobs", {})["redis_rests_until"] = time.monotonic() + seconds


def _push(redis, name: str, args: tuple, at: datetime | None) -> None:
    queue = Queue(QUEUE_NAME, connection=redis)
    target = f"{JOBS_MODULE}.{name}"
    retry = Retry(max=len(RETRY_INTERVALS), interval=RETRY_INTERVALS)
    if at is not None and at > utcnow():
        queue.enqueue_at(at, target, *args, job_timeout=JOB_TIMEOUT_SECONDS, retry=retry)
    else:
        queue.enqueue(target, *args, job_timeout=JOB_TIMEOUT_SECONDS, retry=retry)


def _record_pending(name: str, args: tuple, run_after: datetime) -> None:
    """Keep the job in the database, in a transaction of its own (the caller's has committed)."""
    try:
        db.session.add(PendingJob(job_name=name, args=list(args), run_after=run_after))
        db.session.commit()
    except Exception:
        db.session.rollback()
        log.exception("could not keep job %s%r in pending_jobs either", name, args)


def _run_inline(name: str, args) -> None:
    try:
        JOBS[name](*args)
    except Exception:
        db.session.rollback()
        log.exception("inline job %s%r failed", name, args)


def sweep_if_due_without_redis() -> None:
    """For requests that start background work without enqueueing (a conversion counted in a
    batch): in no-Redis mode, run the sweep as an enqueue would. With Redis, `flask cron` enqueues the sweep."""
    if redis_connection() is None:
        _sweep_if_due()


def _sweep_if_due() -> None:
    """No-Redis mode has no cron: the next enqueue after JOBS_SWEEP_SECONDS runs what is due."""
    state = current_app.extensions.setdefault("linktrack_jobs", {})
    now = utcnow()
    last = state.get("last_sweep")
    if last is not None and now - last < timedelta(seconds=current_app.config["JOBS_SWEEP_SECONDS"]):
        return
    state["last_sweep"] = now
    try:
        _declared_jobs()
        JOBS[SWEEP_JOB]()
    except Exception:
        db.session.rollback()
        log.exception("sweeping pending jobs failed")


def next_nightly_cleanup(now: datetime) -> datetime:
    """The next 03:17 UTC, when cron.py runs the cleanup."""
    candidate = now.replace(hour=NIGHTLY_CLEANUP_AT[0], minute=NIGHTLY_CLEANUP_AT[1], second=0, microsecond=0)
    return candidate if candidate > now else candidate + timedelta(days=1)


def schedule_nightly_cleanup_without_redis(now: datetime) -> None:
    """No Redis means no cron process: the nightly cleanup waits in pending_jobs and the sweep runs it
    when due, then this puts the next night's in its place."""
    waiting = db.session.scalar(select(PendingJob.id).where(PendingJob.job_name == NIGHTLY_CLEANUP_JOB).limit(1))
    if waiting is None:
        db.session.add(PendingJob(job_name=NIGHTLY_CLEANUP_JOB, args=[], run_after=next_nightly_cleanup(now)))
    db.session.commit()


def _claim(pending_id: int) -> bool:
    """Take one pending job: only the process whose DELETE removed the row runs it."""
    claimed = db.session.execute(delete(PendingJob).where(PendingJob.id == pending_id)).rowcount == 1
    db.session.commit()
    return claimed


def _declared_jobs() -> None:
    """Importing jobs.py declares the bodies (each `@job` adds itself to JOBS); done on first use,
    so that this module imports no room and nothing here runs at import (a dictionary look-up once
    it is imported)."""
    importlib.import_module(JOBS_MODULE)


def run_pending_jobs() -> int:
    """Run or re-enqueue the pending jobs that are due (the sweep's first part); returns how many."""
    _declared_jobs()
    redis = redis_connection()
    now = utcnow()
    due = db.session.execute(
        select(PendingJob.id, PendingJob.job_name, PendingJob.args)
        .where(PendingJob.run_after <= now)
        .order_by(PendingJob.run_after, PendingJob.id)
        .limit(PENDING_BATCH)
    ).all()
    db.session.commit()
    done = 0
    for pending_id, name, args in due:
        if name not in JOBS:
            log.error("pending job %s names no job; dropped", name)
            _claim(pending_id)
            continue
        if redis is not None:
            try:
                _push(redis, name, tuple(args), None)
            except RedisError:
                log.warning("Redis still refuses jobs; %d left in pending_jobs", len(due) - done)
                break
            _rest_redis(0)  # it answered: this process's jobs go to Redis again
            db.session.execute(delete(PendingJob).where(PendingJob.id == pending_id))
            db.session.commit()
        elif _claim(pending_id):
            _run_inline(name, tuple(args))
        done += 1
    if redis is None:
        schedule_nightly_cleanup_without_redis(now)
    return done
