"""Forwarding is never lost when Redis loses its queue (issue 13, item 7).

A redis-server of the test's own, without persistence, holds the conversions' fan-out jobs while
no worker runs; it is killed and started again empty. The minute sweep finds the conversions that
have no delivery from the database, and a real worker (the Procfile's AppWorker) delivers each of
them exactly once to a real local HTTP receiver. The clock moves with time-machine.
"""

import json
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest
import time_machine
from redis import Redis
from rq import Queue
from sqlalchemy import func, select

from linktrack import jobs
from linktrack import queue as jobqueue
from linktrack.extensions import db
from linktrack.forwarding.destinations import create_destination, set_enabled
from linktrack.models.forwarding import ForwardingDelivery, ForwardingDestination
from tests.support.faults import REDIS_SERVER, RedisServer
from tests.support.forwarding import conversion
from tests.support.redirect import click_from_youtube, create_link

pytestmark = pytest.mark.skipif(REDIS_SERVER is None, reason="needs redis-server")


@pytest.fixture
def own_redis():
    server = RedisServer().start()
    yield server
    server.stop()


def work(app, url: str) -> None:
    """The Procfile's worker class, in this process, until the queue is empty."""
    client = Redis.from_url(url)
    jobqueue.AppWorker([Queue(jobqueue.QUEUE_NAME, connection=client)], connection=client, app=app).work(burst=True)
    client.close()


def sweep(app) -> dict:
    with app.app_context():
        return jobs.run_due_jobs()


def delivered_conversion_ids(httpserver) -> Counter:
    return Counter(json.loads(request.get_data())["conversion"]["id"] for request, _ in httpserver.log)


def test_conversions_whose_jobs_redis_lost_are_each_delivered_once(own_redis, make_app, creator, httpserver):
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    app = make_app(REDIS_URL=own_redis.url)
    user_id = creator()[0]
    link = create_link(app, user_id)
    with app.app_context():
        create_destination(user_id, "webhook", "hook", {"url": httpserver.url_for("/hook")}, ["purchase"])
        # Another creator's destination that wants no purchases: none of these conversions are its.
        other = creator()[0]
        create_destination(other, "webhook", "signups", {"url": httpserver.url_for("/other")}, ["newsletter_signup"])
    client = app.test_client()
    recorded = datetime.now(timezone.utc)
    tracking_id = click_from_youtube(client, link["short_code"])
    ids = [conversion(client, link, tracking_id, event_id=f"order-{n}")["id"] for n in range(5)]
    work(app, own_redis.url)  # the first five are forwarded as usual
    assert delivered_conversion_ids(httpserver) == Counter(ids)

    # The worker is paused: 15 purchases are answered 201 and their fan-out jobs wait in Redis.
    ids += [conversion(client, link, tracking_id, event_id=f"order-{n}")["id"] for n in range(5, 20)]
    assert Queue(jobqueue.QUEUE_NAME, connection=Redis.from_url(own_redis.url)).count == 15
    own_redis.kill()
    own_redis.start()  # empty: the 15 jobs are gone, and nothing in the database says so
    assert Queue(jobqueue.QUEUE_NAME, connection=Redis.from_url(own_redis.url)).count == 0
    work(app, own_redis.url)
    assert len(httpserver.log) == 5

    with time_machine.travel(recorded + timedelta(minutes=5)):
        assert sweep(app)["conversions_fanned_out"] == 0  # a fan-out job may still be on its way
    with time_machine.travel(recorded + timedelta(minutes=11)):
        assert sweep(app)["conversions_fanned_out"] == 15
        work(app, own_redis.url)
        assert sweep(app)["conversions_fanned_out"] == 0  # nothing is fanned out twice
        work(app, own_redis.url)

    assert delivered_conversion_ids(httpserver) == Counter(ids)  # each of the 20 exactly once
    assert {request.path for request, _ in httpserver.log} == {"/hook"}
    with app.app_context():
        statuses = db.session.execute(
            select(ForwardingDelivery.status, func.count()).group_by(ForwardingDelivery.status)
        ).all()
    assert statuses == [("delivered", 20)]


def test_the_sweep_leaves_conversions_older_than_the_destination_or_the_lookback(
    make_app, creator, httpserver, redis_client, redis_url
):
    """Bounded: a destination added today does not receive older conversions, and the sweep looks
    back FORWARDING_LOST_LOOKBACK_HOURS only."""
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    app = make_app(REDIS_URL=redis_url)
    user_id = creator()[0]
    link = create_link(app, user_id)
    client = app.test_client()
    start = datetime.now(timezone.utc)
    with time_machine.travel(start):
        tracking_id = click_from_youtube(client, link["short_code"])
        conversion(client, link, tracking_id, event_id="before-the-destination")
    with time_machine.travel(start + timedelta(hours=1)), app.app_context():
        create_destination(user_id, "webhook", "hook", {"url": httpserver.url_for("/hook")}, ["purchase"])
    with time_machine.travel(start + timedelta(hours=2)):
        conversion(client, link, tracking_id, event_id="after-the-destination")
    redis_client.flushdb()  # both fan-out jobs lost

    lookback = app.config["FORWARDING_LOST_LOOKBACK_HOURS"]
    with time_machine.travel(start + timedelta(hours=2 + lookback, minutes=1)):
        assert sweep(app)["conversions_fanned_out"] == 0  # past the lookback
    with time_machine.travel(start + timedelta(hours=2, minutes=11)):
        assert sweep(app)["conversions_fanned_out"] == 1
        work(app, redis_url)
    sent = [json.loads(request.get_data())["conversion"]["event_id"] for request, _ in httpserver.log]
    assert sent == ["after-the-destination"]


def test_deliveries_whose_jobs_redis_lost_are_released_again_under_the_cap(
    make_app, creator, httpserver, redis_client, redis_url
):
    """Fanned out, two of five deliveries queued (the creator's cap), then Redis loses every job:
    the sweep puts the queued ones back in line and releases them, each try releases the next."""
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    app = make_app(REDIS_URL=redis_url)
    user_id = creator()[0]
    link = create_link(app, user_id)
    with app.app_context():
        for number in range(5):
            create_destination(user_id, "webhook", f"hook {number}", {"url": httpserver.url_for("/hook")}, ["purchase"])
    client = app.test_client()
    recorded = datetime.now(timezone.utc)
    purchase = conversion(client, link, click_from_youtube(client, link["short_code"]))
    redis_client.flushdb()
    with app.app_context():
        assert jobs.forward_conversion(purchase["id"]) == 5  # what the lost job would have done
        statuses = Counter(db.session.scalars(select(ForwardingDelivery.status)))
    assert statuses == {"queued": 2, "pending": 3}
    redis_client.flushdb()  # and the two delivery jobs are lost as well

    with time_machine.travel(recorded + timedelta(minutes=11)):
        assert sweep(app)["deliveries_requeued"] == 2
        work(app, redis_url)
        again = sweep(app)
        assert again["deliveries_requeued"] == again["conversions_fanned_out"] == 0  # nothing sent twice
    assert delivered_conversion_ids(httpserver) == Counter({purchase["id"]: 5})
    with app.app_context():
        assert Counter(db.session.scalars(select(ForwardingDelivery.status))) == {"delivered": 5}


def test_a_destination_turned_on_again_is_not_sent_what_was_recorded_while_it_was_off(make_app, creator, httpserver):
    """The sweep sends conversions with no delivery; one recorded while a destination was off has
    its delivery there, settled as not sent, so a sweep with no mark (a new process, or a Redis that
    lost everything) reads the whole lookback and still sends it nothing."""
    httpserver.expect_request("/on", method="POST").respond_with_data("ok")
    httpserver.expect_request("/off", method="POST").respond_with_data("ok")
    app = make_app()
    user_id = creator()[0]
    link = create_link(app, user_id)
    with app.app_context():
        create_destination(user_id, "webhook", "on", {"url": httpserver.url_for("/on")}, ["purchase"])
        off, _ = create_destination(user_id, "webhook", "off", {"url": httpserver.url_for("/off")}, ["purchase"])
        set_enabled(off, False)
        off_id = off.id
    client = app.test_client()
    recorded = datetime.now(timezone.utc)
    conversion(client, link, click_from_youtube(client, link["short_code"]), event_id="while-off")
    with app.app_context():
        set_enabled(db.session.get(ForwardingDestination, off_id), True)
        (delivery,) = db.session.scalars(select(ForwardingDelivery).where(ForwardingDelivery.destination_id == off_id))
        assert delivery.status == "failed"
        assert [attempt.error for attempt in delivery.attempt_log] == ["Not sent: the destination is off or paused."]

    with time_machine.travel(recorded + timedelta(minutes=11)):
        assert sweep(make_app())["conversions_fanned_out"] == 0  # a new process: no mark
    assert [request.path for request, _ in httpserver.log] == ["/on"]
