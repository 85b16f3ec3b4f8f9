"""Forwarding is fair across creators (issue 13, item 8): one creator's slow receiver delays only
their own deliveries, with the Procfile's single worker.

Creator A has ten webhooks to a real local receiver that answers only after the read timeout
(FORWARDING_READ_TIMEOUT_SECONDS, short here); creator B has one webhook to a fast receiver. A's purchase
is recorded first. Without fairness B's delivery waited behind all ten of A's timeouts (the issue
measured 161 s with an 8-second receiver); with at most FORWARDING_IN_FLIGHT_PER_CREATOR of A's
jobs on the queue, B's is sent after at most that many of A's tries.
"""

import threading

import pytest
from redis import Redis
from rq import Queue
from sqlalchemy import select
from werkzeug import Response

from linktrack import queue as jobqueue
from linktrack.extensions import db
from linktrack.forwarding.destinations import create_destination
from linktrack.models.forwarding import ForwardingAttempt, ForwardingDelivery, ForwardingDestination
from tests.support.forwarding import conversion
from tests.support.redirect import click_from_youtube, create_link

pytest_httpserver = pytest.importorskip("pytest_httpserver")

TIMEOUT_SECONDS = 0.5


@pytest.fixture
def slow_receiver():
    """A receiver that holds every request until the test ends, well past the read timeout."""
    released = threading.Event()

    def answer_late(request):
        released.wait(30)
        return Response("too late")

    server = pytest_httpserver.HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.expect_request("/slow", method="POST").respond_with_handler(answer_late)
    server.start()
    yield server
    released.set()
    server.clear()
    server.stop()


def test_a_creator_with_a_slow_receiver_delays_only_their_own_deliveries(
    make_app, creator, redis_client, redis_url, httpserver, slow_receiver
):
    httpserver.expect_request("/fast", method="POST").respond_with_data("ok")
    app = make_app(REDIS_URL=redis_url, FORWARDING_READ_TIMEOUT_SECONDS=TIMEOUT_SECONDS)
    slow_creator, fast_creator = creator()[0], creator()[0]
    slow_link, fast_link = create_link(app, slow_creator), create_link(app, fast_creator)
    with app.app_context():
        for number in range(10):
            url = slow_receiver.url_for("/slow")
            create_destination(slow_creator, "webhook", f"slow {number}", {"url": url}, ["purchase"])
        create_destination(fast_creator, "webhook", "fast", {"url": httpserver.url_for("/fast")}, ["purchase"])
    client = app.test_client()
    conversion(client, slow_link, click_from_youtube(client, slow_link["short_code"]), event_id="slow-1")
    conversion(client, fast_link, click_from_youtube(client, fast_link["short_code"]), event_id="fast-1")

    queue = Queue(jobqueue.QUEUE_NAME, connection=redis_client)
    jobqueue.AppWorker([queue], connection=Redis.from_url(redis_url), app=app).work(burst=True)

    with app.app_context():
        tries = db.session.execute(
            select(ForwardingDestination.user_id, ForwardingAttempt.attempted_at, ForwardingAttempt.status_code)
            .join(ForwardingDelivery, ForwardingDelivery.id == ForwardingAttempt.delivery_id)
            .join(ForwardingDestination, ForwardingDestination.id == ForwardingDelivery.destination_id)
            .order_by(ForwardingAttempt.attempted_at)
        ).all()
    assert len(httpserver.log) == 1  # B's purchase arrived
    (fast_sent_at,) = [at for user_id, at, code in tries if user_id == fast_creator and code == 200]
    slow_tries = [at for user_id, at, _ in tries if user_id == slow_creator]
    assert len(slow_tries) == 10  # each of A's ten was tried once and timed out (a retry is scheduled)
    tried_before_fast = sum(at < fast_sent_at for at in slow_tries)
    # B waited for at most two of A's timeouts (about a second here), not for all ten.
    assert tried_before_fast <= app.config["FORWARDING_IN_FLIGHT_PER_CREATOR"] == 2
