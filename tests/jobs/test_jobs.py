"""Jobs (DESIGN.md §7): RQ on real Redis with real workers, the inline mode, and Redis down at enqueue."""

import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import time_machine
from rq import Queue
from rq.cron import CronScheduler
from sqlalchemy import func, select

from linktrack import jobs
from linktrack import queue as jobqueue
from linktrack.extensions import db
from linktrack.models import ConversionEvent, PendingJob
from tests.support.counting import convert
from tests.support.paths import REPO_ROOT
from tests.support.redirect import click_from_youtube, create_link, update_link

REDIS_DOWN = "redis://127.0.0.1:1/0"
T0 = datetime(2026, 3, 2, 9, 30, tzinfo=timezone.utc)


@pytest.fixture
def out_of_window_conversion(app, client, creator):
    """A link with one conversion recorded on day 11 of a window later shortened to 10 days."""
    link = create_link(app, creator()[0])
    with time_machine.travel(T0, tick=False):
        tracking_id = click_from_youtube(client, link["short_code"])
    with time_machine.travel(T0 + timedelta(days=11), tick=False):
        convert(client, link["id"], tracking_id, "purchase", revenue="20.00")
    update_link(app, link["id"], attribution_window_days=10)
    return link["id"]


def conversions(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(ConversionEvent))


def pending(app) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(PendingJob.job_name)))


def work(app, redis_client) -> None:
    """The Procfile's worker class, in this process, until the queue is empty."""
    queue = Queue(jobqueue.QUEUE_NAME, connection=redis_client)
    jobqueue.AppWorker([queue], connection=redis_client, app=app).work(burst=True)


def test_importing_the_jobs_and_the_cron_list_builds_no_app():
    environment = {key: value for key, value in os.environ.items() if key not in ("SECRET_KEY", "FLASK_DEBUG")}
    code = (
        "import linktrack.jobs, linktrack.cron, linktrack.queue as q; assert q._worker_app is None; print(len(q.JOBS))"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, env=environment, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_the_cron_list_registers_the_cleanup_the_pending_sweep_and_the_partitions(
    make_app, redis_client, redis_url, out_of_window_conversion
):
    scheduler = CronScheduler(connection=redis_client)
    scheduler.load_config_from_file("linktrack.cron")
    registered = {(cron_job.func_name, cron_job.queue_name) for cron_job in scheduler.get_jobs()}
    assert registered == {
        ("linktrack.jobs.cleanup_all_creators", "default"),
        ("linktrack.jobs.run_due_jobs", "default"),
        ("linktrack.jobs.create_partitions_ahead", "default"),
    }

    # What the scheduler enqueues when each is due, a worker runs.
    for cron_job in scheduler.get_jobs():
        cron_job.enqueue(redis_client)
    app = make_app(REDIS_URL=redis_url)
    assert conversions(app) == 1
    work(app, redis_client)
    assert conversions(app) == 0


def test_with_redis_a_job_waits_for_the_worker(make_app, redis_client, redis_url, out_of_window_conversion):
    app = make_app(REDIS_URL=redis_url)
    with app.app_context():
        assert jobqueue.enqueue("cleanup_all_creators") == "queued"
    assert conversions(app) == 1
    work(app, redis_client)
    assert conversions(app) == 0
    finished = Queue(jobqueue.QUEUE_NAME, connection=redis_client).finished_job_registry.get_job_ids()
    assert len(finished) == 1


def test_the_procfile_worker_command_runs_queued_jobs(
    make_app, redis_client, redis_url, database_url, out_of_window_conversion
):
    app = make_app(REDIS_URL=redis_url)
    with app.app_context():
        assert jobqueue.enqueue("cleanup_all_creators") == "queued"
        assert jobqueue.enqueue("run_due_jobs") == "queued"
    procfile = dict(line.split(": ", 1) for line in (REPO_ROOT / "Procfile").read_text().splitlines() if line)
    environment = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url, "SECRET_KEY": "worker-test"}
    command = procfile["worker"].replace("$REDIS_URL", redis_url).split()
    assert command[:2] == ["rq", "worker"]
    rq = str(Path(sys.executable).parent / "rq")
    done = subprocess.run(
        [rq, *command[1:-1], "--burst", command[-1]],
        cwd=REPO_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    output = done.stderr + done.stdout
    assert output.count("Job OK") >= 2  # both jobs ran (rq and the root logger both print it)
    assert output.count("linktrack app built for worker process") == 1  # once per process, not per job
    assert conversions(app) == 0


def test_without_redis_a_job_runs_inline(app, out_of_window_conversion):
    with app.app_context():
        assert jobqueue.enqueue("cleanup_all_creators") == "inline"
    assert conversions(app) == 0


def test_a_job_due_later_without_redis_runs_at_the_first_enqueue_after_it_is_due(app, out_of_window_conversion):
    later = T0 + timedelta(days=11, minutes=5)
    with time_machine.travel(T0 + timedelta(days=11), tick=False), app.app_context():
        assert jobqueue.enqueue("cleanup_all_creators", at=later) == "pending"
    assert conversions(app) == 1
    with time_machine.travel(later + timedelta(seconds=60), tick=False), app.app_context():
        jobqueue.enqueue("run_due_jobs")
    assert conversions(app) == 0


def test_without_redis_the_nightly_cleanup_runs_when_due(app, out_of_window_conversion):
    """No rq cron without Redis: the sweep keeps the next night's cleanup in pending_jobs."""
    with app.app_context():
        (waiting,) = db.session.scalars(select(PendingJob)).all()  # left by the conversion's sweep
        assert (waiting.job_name, waiting.run_after) == (
            "cleanup_all_creators",
            datetime(2026, 3, 14, 3, 17, tzinfo=timezone.utc),
        )
    with time_machine.travel(datetime(2026, 3, 14, 3, 16, 59, tzinfo=timezone.utc), tick=False), app.app_context():
        jobqueue.enqueue("run_due_jobs")
    assert conversions(app) == 1
    with time_machine.travel(datetime(2026, 3, 14, 3, 18, tzinfo=timezone.utc), tick=False), app.app_context():
        jobqueue.enqueue("run_due_jobs")
    assert conversions(app) == 0
    with app.app_context():
        (waiting,) = db.session.scalars(select(PendingJob)).all()
        assert waiting.run_after == datetime(2026, 3, 15, 3, 17, tzinfo=timezone.utc)


@time_machine.travel(T0 + timedelta(days=11, hours=1), tick=False)
def test_redis_down_at_enqueue_keeps_the_job_until_redis_is_back(
    make_app, redis_client, redis_url, out_of_window_conversion
):
    down = make_app(REDIS_URL=REDIS_DOWN)
    nightly = pending(down)  # the no-Redis app's nightly cleanup, due tomorrow
    with down.app_context():
        assert jobqueue.enqueue("cleanup_all_creators") == "pending"
        jobs.run_due_jobs()  # still down: the sweep leaves it where it is
    assert pending(down) == [*nightly, "cleanup_all_creators"]

    up = make_app(REDIS_URL=redis_url)
    with up.app_context():
        assert jobs.run_due_jobs()["pending_jobs_run"] == 1
    assert pending(up) == nightly and conversions(up) == 1
    work(up, redis_client)
    assert conversions(up) == 0


def test_only_declared_jobs_can_be_enqueued(app):
    with app.app_context(), pytest.raises(ValueError):
        jobqueue.enqueue("print")
