"""The Procfile's worker class (jobqueue.AppWorker): jobs run in the worker process, not a fork each, so
these tests check what the fork used to guarantee. Real Redis, a real queue, the real worker run
in this process with `work(burst=True)`, and a real HTTP server as the webhook destination.
"""

import json
from datetime import datetime, timedelta, timezone

import pytest
import time_machine
from rq import Queue
from rq.registry import FailedJobRegistry, ScheduledJobRegistry
from sqlalchemy import create_engine, func, select, text, update

from linktrack import jobs
from linktrack import queue as jobqueue
from linktrack.extensions import db
from linktrack.models import User
from linktrack.models.forwarding import ForwardingDelivery, ForwardingDestination
from tests.support.forwarding import conversion
from tests.support.redirect import click_from_youtube

# What the test jobs below saw, in this process (the worker runs here).
seen_sessions: list = []
attempts: list[datetime] = []
kept_objects: list = []


def work(app, redis_client, **kwargs) -> None:
    """The Procfile's worker class, in this process, until the queue is empty."""
    queue = Queue(jobqueue.QUEUE_NAME, connection=redis_client)
    jobqueue.AppWorker([queue], connection=redis_client, app=app).work(burst=True, **kwargs)


def deliveries(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(ForwardingDelivery))


def remember_session() -> None:
    """A test job: keeps the session it ran with."""
    seen_sessions.append(db.session())
    assert db.session.scalars(select(User)).all()  # something in its identity map, a transaction open


def creator_stops_sending_purchases() -> None:
    """A test job: it loads the destination and keeps it past its end (as a module-level cache
    would), then the creator turns purchases off from a web process, on a connection of its own."""
    kept_objects.append(db.session.scalar(select(ForwardingDestination)))
    db.session.commit()
    with db.engine.begin() as connection:
        connection.execute(update(ForwardingDestination).values(event_types=["newsletter_signup"]))


def break_the_session() -> None:
    """A test job that fails with its transaction broken (a duplicate key, never rolled back)."""
    attempts.append(datetime.now(timezone.utc))
    (user,) = db.session.scalars(select(User).limit(1))
    db.session.add(User(email=user.email, password_hash="x"))
    db.session.flush()


def drop_my_connection() -> None:
    """A test job whose database connection dies under it (PostgreSQL)."""
    db.session.execute(text("SELECT pg_terminate_backend(pg_backend_pid())"))


@pytest.fixture
def failing_job(monkeypatch):
    """break_the_session declared as a job, so queue.enqueue() queues it as it queues the real ones."""
    attempts.clear()
    declared = jobqueue.job(break_the_session)
    monkeypatch.setattr(jobs, "break_the_session", declared, raising=False)
    yield declared
    jobqueue.JOBS.pop("break_the_session", None)


def test_each_job_runs_in_an_app_context_of_its_own_and_its_session_is_removed(app, redis_client, creator):
    creator()
    seen_sessions.clear()
    queue = Queue(jobqueue.QUEUE_NAME, connection=redis_client)
    for _ in range(2):
        queue.enqueue(remember_session)
    with app.app_context():
        outer = db.session()  # a caller's context does not leak into the jobs either
        work(app, redis_client)
    first, second = seen_sessions
    assert first is not second and outer not in (first, second)
    for session in (first, second):
        assert not session.in_transaction() and len(session.identity_map) == 0
    assert len(queue.finished_job_registry.get_job_ids()) == 2


def test_the_next_job_sees_what_was_committed_since_the_last_one(redis_client, httpserver, redis_setup):  # noqa: F811
    """expire_on_commit is off: a session kept across jobs would still hold the destination as an
    earlier job loaded it, and forward the purchase to a destination that no longer wants it."""
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    _, app, link = redis_setup
    client = app.test_client()
    tracking_id = click_from_youtube(client, link["short_code"])
    conversion(client, link, tracking_id, event_id="order-1")  # queues its fan-out
    Queue(jobqueue.QUEUE_NAME, connection=redis_client).enqueue(creator_stops_sending_purchases)
    conversion(client, link, tracking_id, event_id="order-2")
    kept_objects.clear()
    work(app, redis_client)  # fan-out 1, the creator's change, fan-out 2, then delivery 1
    assert len(httpserver.log) == 1 and deliveries(app) == 1
    sent = json.loads(httpserver.log[0][0].get_data())["conversion"]["event_id"]
    assert sent == "order-1"


def test_a_failing_job_is_retried_per_retry_intervals_and_leaves_the_next_job_a_clean_session(
    redis_client,
    httpserver,
    redis_setup,  # noqa: F811 (the fixture imported above)
    failing_job,
):
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    _, app, link = redis_setup
    client = app.test_client()
    start = datetime.now(timezone.utc).replace(microsecond=0)  # rq schedules to the second
    with time_machine.travel(start, tick=False):
        tracking_id = click_from_youtube(client, link["short_code"])
        with app.app_context():
            assert jobqueue.enqueue("break_the_session") == "queued"
        conversion(client, link, tracking_id)  # its forwarding is queued behind the failing job
        work(app, redis_client)
    assert len(httpserver.log) == 1  # it ran right after the failure, and delivered

    scheduled = ScheduledJobRegistry(jobqueue.QUEUE_NAME, connection=redis_client)
    due = start
    for interval in jobqueue.RETRY_INTERVALS:
        (job_id,) = scheduled.get_job_ids()
        due += timedelta(seconds=interval)
        assert scheduled.get_scheduled_time(job_id) == due
        with time_machine.travel(due, tick=False):
            work(app, redis_client, with_scheduler=True)  # the scheduler queues what is due; it runs
    assert attempts == [start, start + timedelta(seconds=30), start + timedelta(seconds=150), due]
    assert due == start + timedelta(seconds=750)
    assert scheduled.get_job_ids() == []
    assert len(FailedJobRegistry(jobqueue.QUEUE_NAME, connection=redis_client).get_job_ids()) == 1


@pytest.mark.postgresql  # a database server whose connections can be killed
def test_a_dead_database_connection_does_not_fail_the_next_job(
    redis_client,
    httpserver,
    redis_setup,  # noqa: F811 (the fixture imported above)
    database_url,
):
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    _, app, link = redis_setup
    client = app.test_client()
    tracking_id = click_from_youtube(client, link["short_code"])
    queue = Queue(jobqueue.QUEUE_NAME, connection=redis_client)

    conversion(client, link, tracking_id, event_id="order-1")
    work(app, redis_client)
    conversion(client, link, tracking_id, event_id="order-2")
    killer = create_engine(database_url)  # the server drops every other connection between two jobs
    with killer.begin() as connection:
        killed = connection.execute(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        ).scalar()
    killer.dispose()
    assert killed >= 1
    work(app, redis_client)
    assert len(httpserver.log) == 2

    queue.enqueue(drop_my_connection)  # and one dies during a job
    conversion(client, link, tracking_id, event_id="order-3")
    work(app, redis_client)
    assert len(queue.failed_job_registry.get_job_ids()) == 1
    assert len(httpserver.log) == 3
