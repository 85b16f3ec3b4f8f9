"""Redis stopped, crashed or hung: redirects still redirect and store clicks, conversions are still
accepted (rate limits fall back to each process's memory), and forwarding queued meanwhile waits
in pending_jobs until the sweep hands it to RQ once Redis is back, then runs exactly once.

Each test runs its own redis-server (tests/faults_support.py) and stops it for real; the shared
Redis is never touched. Forwarding goes to a local HTTP server; a real RQ worker runs the jobs.
"""

import time
from datetime import datetime, timedelta, timezone

import pytest
import time_machine
from redis import Redis
from rq import Queue, SimpleWorker
from sqlalchemy import select

from linktrack import jobs
from linktrack import queue as jobqueue
from linktrack.extensions import db
from linktrack.forwarding.destinations import create_destination
from linktrack.models import ClickEvent, ConversionEvent, PendingJob
from linktrack.models.forwarding import ForwardingDelivery
from tests.support.faults import RedisServer
from tests.support.forms import form_post
from tests.support.redirect import CHROME_WINDOWS, create_link

ORIGIN = "https://academy.example.com"
T = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)
# A viewer's or a landing page's request must not wait on Redis: these bound a single request while
# Redis is away (a stopped one refuses at once; a hung one costs at most one socket timeout).
STOPPED_REDIS_BOUND_SECONDS = 1.0
HUNG_REDIS_BOUND_SECONDS = 4.0


@pytest.fixture
def redis_server():
    server = RedisServer().start()
    yield server
    server.kill()


@pytest.fixture
def shop(make_app, creator, redis_server, httpserver):
    """linktrack on the private Redis with rate limits on (stored in that Redis, as in production),
    a creator's link and a webhook destination; returns (app, link). Built last: the rate limiter
    is one object per process (conftest)."""
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    user_id = creator()[0]
    app = make_app(REDIS_URL=redis_server.url, RATELIMIT_ENABLED=True)
    assert app.config["RATELIMIT_STORAGE_URI"] == redis_server.url
    link = create_link(app, user_id)
    with app.app_context():
        create_destination(user_id, "webhook", "hook", {"url": httpserver.url_for("/hook")}, ["purchase"])
    return app, link


def timed(call):
    started = time.monotonic()
    response = call()
    return response, time.monotonic() - started


def click(client, link) -> tuple[str, float]:
    """A viewer's click; returns its tracking id and how long the redirect took."""
    response, seconds = timed(lambda: client.get(f"/{link['short_code']}", headers={"User-Agent": CHROME_WINDOWS}))
    assert response.status_code == 302
    return response.headers["Location"].split("ct_tracking_id=")[1].split("&")[0], seconds


def convert(client, link, tracking_id: str, event_id: str) -> tuple[dict, float]:
    """The landing page reporting a purchase; returns the stored conversion and how long it took."""
    body = {
        "tracking_id": tracking_id,
        "campaign_link_id": str(link["id"]),
        "event_type": "purchase",
        "revenue_amount": "49.99",
        "event_id": event_id,
    }
    response, seconds = timed(lambda: client.post("/api/conversions", json=body, headers={"Origin": ORIGIN}))
    assert response.status_code == 201, response.get_json()
    return response.get_json(), seconds


def rows(app, column) -> list:
    with app.app_context():
        return list(db.session.scalars(select(column)))


def sweep(app) -> dict:
    """What `rq cron linktrack.cron` runs every minute (run_due_jobs)."""
    with app.app_context():
        return jobs.run_due_jobs()


def work(app, redis_server) -> None:
    """A real RQ worker on the private Redis, until the queue is empty."""
    connection = Redis.from_url(redis_server.url)
    with app.app_context():
        SimpleWorker([Queue(jobqueue.QUEUE_NAME, connection=connection)], connection=connection).work(burst=True)
    connection.close()


def delivered(app, httpserver) -> list[str]:
    """The conversions the webhook received, by event id (read from what it was sent)."""
    sent = [request.get_json()["conversion"]["event_id"] for request, _ in httpserver.log]
    assert rows(app, ForwardingDelivery.status) == ["delivered"] * len(sent)
    return sorted(sent)


def failed_login(app) -> int:
    """A wrong password on the login form (a rate-limited endpoint); answers the status."""
    return form_post(app.test_client(), "/login", {"email": "nobody@example.com", "password": "wrong"}).status_code


def assert_rate_limits_are_counted_in_redis_again(app, redis_server) -> None:
    """Rate limits were counted in each process's memory meanwhile; Flask-Limiter looks for Redis
    again after 1, 2, 4... 32 s (its own backoff, read from the clock), then counts there again,
    shared by every process. The clock is moved, minute by minute, until it has looked."""
    redis = Redis.from_url(redis_server.url)
    for minutes in range(1, 6):
        with time_machine.travel(datetime.now(timezone.utc) + timedelta(minutes=minutes)):
            assert failed_login(app) == 422
        if any(key.startswith(b"LIMITS") for key in redis.keys("*")):
            break
    assert any(key.startswith(b"LIMITS") for key in redis.keys("*")), redis.keys("*")
    redis.close()


@pytest.mark.parametrize("outage", ["stopped", "killed"])
def test_with_redis_gone_clicks_and_conversions_are_stored_and_forwarding_runs_once_it_is_back(
    shop, redis_server, httpserver, outage
):
    app, link = shop
    client = app.test_client()
    before, _ = click(client, link)
    convert(client, link, before, "order-before")
    work(app, redis_server)
    assert delivered(app, httpserver) == ["order-before"]

    redis_server.stop() if outage == "stopped" else redis_server.kill()
    tracking_ids, timings = [], []
    for number in range(3):
        tracking_id, seconds = click(client, link)
        tracking_ids.append(tracking_id)
        timings.append(seconds)
        conversion, seconds = convert(client, link, tracking_id, f"order-{number}")
        timings.append(seconds)
        assert conversion["event_type"] == "purchase"
    assert max(timings) < STOPPED_REDIS_BOUND_SECONDS, timings
    assert failed_login(app) == 422  # rate-limited pages still answer: counted in memory meanwhile

    assert set(tracking_ids) < {str(t) for t in rows(app, ClickEvent.tracking_id)}
    assert len(rows(app, ConversionEvent.id)) == 4
    assert rows(app, PendingJob.job_name) == ["forward_conversion"] * 3  # kept, since Redis refused them
    assert sweep(app)["pending_jobs_run"] == 0  # still down: the sweep leaves them where they are
    assert len(rows(app, PendingJob.id)) == 3 and len(httpserver.log) == 1

    redis_server.start()  # same port, empty: a restart without persistence
    assert sweep(app)["pending_jobs_run"] == 3
    assert rows(app, PendingJob.id) == []
    work(app, redis_server)
    assert delivered(app, httpserver) == ["order-0", "order-1", "order-2", "order-before"]

    # Exactly once: another sweep and another worker send nothing more.
    assert sweep(app)["pending_jobs_run"] == 0
    work(app, redis_server)
    assert len(httpserver.log) == 4

    assert_rate_limits_are_counted_in_redis_again(app, redis_server)


def test_a_hung_redis_costs_a_request_one_timeout_at_most_and_loses_nothing(shop, redis_server, httpserver):
    app, link = shop
    client = app.test_client()

    redis_server.freeze()  # accepts connections, answers nothing
    try:
        timings, event_ids = [], []
        for number in range(4):
            tracking_id, seconds = click(client, link)
            timings.append(seconds)
            _, seconds = convert(client, link, tracking_id, f"order-{number}")
            timings.append(seconds)
            event_ids.append(f"order-{number}")
    finally:
        redis_server.thaw()
    assert max(timings) < HUNG_REDIS_BOUND_SECONDS, timings
    # One timeout for the first conversion, not one for every request after it.
    assert sum(timings) < 2 * HUNG_REDIS_BOUND_SECONDS, timings

    assert rows(app, PendingJob.job_name) == ["forward_conversion"] * 4
    assert sweep(app)["pending_jobs_run"] == 4
    work(app, redis_server)
    assert delivered(app, httpserver) == event_ids
    assert_rate_limits_are_counted_in_redis_again(app, redis_server)
