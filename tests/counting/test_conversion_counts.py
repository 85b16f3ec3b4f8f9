"""Conversions reach the report counts in batches after their commit: once each, even when the
process that recorded them never counts them."""

import uuid
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
import time_machine
from sqlalchemy import func, select

from linktrack import jobs
from linktrack.counting.conversions import LEFTOVER_AFTER, conversion_counter, count_leftovers, flush_conversion_counts
from linktrack.extensions import db
from linktrack.models import LinkDailyStats, UncountedConversion
from tests.support.counting import SteppedRecount, clicks_on, recounted, snapshot

ORIGIN = "https://landing.example.com"  # what make_link allows
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


def purchase(client, link_id, tracking_id, amount="49.99", event_id=None):
    body = {"tracking_id": tracking_id, "campaign_link_id": link_id, "event_type": "purchase"}
    body |= {"revenue_amount": amount} | ({"event_id": event_id} if event_id else {})
    return client.post("/api/conversions", json=body, headers={"Origin": ORIGIN})


def purchases_counted(app, link_id) -> tuple[int, Decimal]:
    with app.app_context():
        row = db.session.execute(
            select(func.sum(LinkDailyStats.purchase_count), func.sum(LinkDailyStats.purchase_revenue)).where(
                LinkDailyStats.campaign_link_id == uuid.UUID(link_id)
            )
        ).one()
        return row[0] or 0, Decimal(row[1] or 0)


def uncounted(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(UncountedConversion))


def test_a_batch_counts_its_conversions_once_and_the_reports_then_equal_a_recount(
    make_app, creator, make_link, make_click
):
    app = make_app(CONVERSION_COUNT_SECONDS=3600)  # batches only when flushed here
    client = app.test_client()
    link_id = make_link(creator()[0])
    clicks = [make_click(link_id, clicked_at=T0) for _ in range(3)]
    with time_machine.travel(T0 + timedelta(days=2), tick=False):
        for number, tracking_id in enumerate(clicks):
            assert purchase(client, link_id, tracking_id, event_id=f"order-{number}").status_code == 201
        assert purchase(client, link_id, clicks[0], event_id="order-0").status_code == 200  # a replay

    assert purchases_counted(app, link_id) == (0, Decimal("0"))  # recorded, not counted yet
    assert uncounted(app) == 3
    with app.app_context():
        assert flush_conversion_counts() == 3
        assert flush_conversion_counts() == 0
    assert purchases_counted(app, link_id) == (3, Decimal("149.97"))
    assert uncounted(app) == 0
    assert snapshot(app) == recounted(app)


def test_conversions_a_process_never_counted_are_counted_by_the_minute_sweep(make_app, creator, make_link, make_click):
    app = make_app(CONVERSION_COUNT_SECONDS=3600)
    link_id = make_link(creator()[0])
    tracking_id = make_click(link_id, clicked_at=T0)
    recorded_at = T0 + timedelta(hours=1)
    with time_machine.travel(recorded_at, tick=False):
        assert purchase(app.test_client(), link_id, tracking_id).status_code == 201
    with app.app_context():
        conversion_counter()._reset()  # the process died with its batch: only the database remembers it

    with time_machine.travel(recorded_at + LEFTOVER_AFTER - timedelta(seconds=1), tick=False), app.app_context():
        assert count_leftovers() == 0  # its own process may still count it
    with time_machine.travel(recorded_at + LEFTOVER_AFTER + timedelta(seconds=1), tick=False), app.app_context():
        assert jobs.run_due_jobs()["conversions_counted_late"] == 1
        assert count_leftovers() == 0
    assert purchases_counted(app, link_id) == (1, Decimal("49.99"))
    assert snapshot(app) == recounted(app)


def test_a_recount_leaves_uncounted_conversions_to_their_batch(make_app, creator, make_link, make_click):
    """The recount counts every stored conversion but those still uncounted: their batch adds them."""
    app = make_app(CONVERSION_COUNT_SECONDS=3600)
    link_id = make_link(creator()[0])
    tracking_id = make_click(link_id, clicked_at=T0)
    with time_machine.travel(T0 + timedelta(hours=1), tick=False):
        assert purchase(app.test_client(), link_id, tracking_id).status_code == 201

    recounted(app)
    assert purchases_counted(app, link_id) == (0, Decimal("0"))
    assert uncounted(app) == 1
    with app.app_context():
        assert flush_conversion_counts() == 1
    assert uncounted(app) == 0
    assert purchases_counted(app, link_id) == (1, Decimal("49.99"))
    assert snapshot(app) == recounted(app)


def test_in_tests_and_with_no_interval_each_conversion_is_counted_inside_its_request(
    app, client, creator, make_link, make_click
):
    link_id = make_link(creator()[0])
    tracking_id = make_click(link_id, clicked_at=T0)
    with time_machine.travel(T0 + timedelta(hours=1), tick=False):
        assert purchase(client, link_id, tracking_id).status_code == 201
    assert purchases_counted(app, link_id) == (1, Decimal("49.99"))
    assert uncounted(app) == 0


@pytest.mark.postgresql
def test_conversions_recorded_while_a_recount_runs_are_counted_once(make_app, creator, make_link):
    """A conversion committed between any two statements of a recount: the recount either counts it
    or leaves it to its batch, never both (the recount used to take it from the raw events after
    deleting the uncounted rows, and its batch then counted it again)."""
    app = make_app(CONVERSION_COUNT_SECONDS=3600)
    client = app.test_client()
    link_id = make_link(creator()[0])
    clicks = clicks_on(app, link_id, T0, count=100)
    recorded = 0
    with time_machine.travel(T0 + timedelta(hours=1), tick=False), SteppedRecount(app) as recount:
        for number, _statement in enumerate(recount.statements()):
            assert purchase(client, link_id, clicks[number], amount="2.00").status_code == 201
            recorded += 1
    assert recount.error is None, recount.error
    with app.app_context():
        flush_conversion_counts()
    assert purchases_counted(app, link_id) == (recorded, Decimal("2.00") * recorded)
    assert snapshot(app) == recounted(app)
