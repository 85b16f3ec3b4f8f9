"""A recount corrects the aggregates to the raw events, exactly, while the writers keep adding."""

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
import time_machine
from sqlalchemy import delete, func, select

from linktrack.counting.consumer import count_now
from linktrack.counting.counters import AGGREGATES, count_uncounted
from linktrack.counting.recount import RECOUNT_LINKS_PER_SNAPSHOT, RECOUNT_LOCK, recount_daily_stats
from linktrack.extensions import db
from linktrack.models import CampaignLink, ClickEvent, ConversionEvent
from tests.support.counting import (
    DAY_ONE,
    WAIT,
    SteppedRecount,
    assert_rollups_and_recount_agree,
    clicks_on,
    convert,
    recounted,
    snapshot,
    user_days_from_days,
    visit,
)
from tests.support.redirect import create_link


def test_a_recount_after_deleting_events_and_a_deleted_link_leave_no_counts(app, client, owner):
    link = create_link(app, owner)
    with time_machine.travel(DAY_ONE, tick=False):
        tracking = visit(client, link["short_code"])
        convert(client, link["id"], tracking, "purchase", 20)
    with app.app_context():
        db.session.execute(delete(ConversionEvent))
        db.session.commit()
        recount_daily_stats([link["id"]])
    after = snapshot(app)
    assert after["stats"][(str(link["id"]), date(2026, 5, 4))]["purchase_count"] == 0
    assert after["stats"][(str(link["id"]), date(2026, 5, 4))]["clicks"] == 1
    assert after["lags"] == {}
    assert after["revenue"] == {}
    assert after["user_days"] == user_days_from_days(after["stats"])  # a partial recount rebuilds the creator's days
    assert after["breakdowns"][(str(link["id"]), date(2026, 5, 4), "device", "desktop")] == (owner, 1)
    with app.app_context():
        db.session.delete(db.session.get(CampaignLink, link["id"]))  # links are archived, never deleted, in the app
        db.session.commit()
        recount_daily_stats()  # so the creator's days need the recount the link's own rows do not
    assert snapshot(app) == {"stats": {}, "months": {}, "user_days": {}, "lags": {}, "breakdowns": {}, "revenue": {}}


def test_flask_recount_rebuilds_every_aggregate(app, client, owner):
    link = create_link(app, owner)
    with time_machine.travel(DAY_ONE, tick=False):
        tracking = visit(client, link["short_code"], referrer="https://www.youtube.com/")
        convert(client, link["id"], tracking, "purchase", 20)
    live = snapshot(app)
    with app.app_context():
        for table, _ in AGGREGATES:  # every aggregate the recount rebuilds
            db.session.execute(delete(table))
        db.session.commit()
    result = app.test_cli_runner().invoke(args=["recount"])
    assert result.exit_code == 0, result.output
    assert "Report aggregates rebuilt" in result.output
    assert snapshot(app) == live


# ---- a recount while clicks and conversions keep arriving ---------------------------------------


def uncounted_events_on(app, link_id, clicked_at: datetime) -> None:
    """A click and its purchase stored raw, without their counts (as a bulk load or a lost update
    leaves them): a recount has rows to correct."""
    with app.app_context():
        click = ClickEvent(campaign_link_id=link_id, clicked_at=clicked_at, device_type="mobile", browser="Safari")
        db.session.add(click)
        db.session.flush()
        db.session.add(
            ConversionEvent(
                tracking_id=click.tracking_id,
                campaign_link_id=link_id,
                event_type="purchase",
                revenue_amount=Decimal("12.50"),
                converted_at=clicked_at + timedelta(hours=2),
            )
        )
        db.session.commit()


def raw_totals(app) -> tuple[int, int]:
    with app.app_context():
        clicks = db.session.scalar(select(func.count()).select_from(ClickEvent).where(~ClickEvent.is_bot))
        return clicks, db.session.scalar(select(func.count()).select_from(ConversionEvent))


@pytest.mark.postgresql
def test_a_recount_is_exact_while_click_and_count_batches_commit_between_its_statements(make_app, creator):
    """Before every statement of a recount: a click batch (a day that has counts, and a day that has
    none yet), a conversion and a count batch all commit. None of them waits for the recount, and
    afterwards every total equals a fresh recount's, with each click and conversion counted once."""
    app = make_app(CONVERSION_COUNT_SECONDS=3600)  # conversions are counted when the test says
    client = app.test_client()
    live = create_link(app, creator()[0])["id"]
    drifted = create_link(app, creator()[0])["id"]  # another creator's link, with counts to correct
    now = datetime(2026, 6, 3, 12, 0, tzinfo=timezone.utc)
    uncounted_events_on(app, drifted, now - timedelta(days=3))
    waiting = clicks_on(app, live, now - timedelta(hours=1), count=2)

    def traffic(number: int) -> None:
        nonlocal waiting
        with app.app_context():
            with db.engine.begin() as connection:
                count_uncounted(connection, 500)  # a counting run: the conversion of the step before
            # Left uncounted until then (the app's own counter would count it in an hour).
            convert(client, live, waiting.pop(), "purchase", "10.00", event_id=f"order-{number}")
            waiting += clicks_on(app, live, now - timedelta(hours=1))  # a day with counts
            clicks_on(app, live, now - timedelta(days=1 + number % 40))  # often a day (or month) without

    steps = []
    with (
        time_machine.travel(now, tick=False),
        ThreadPoolExecutor(1) as writer,
        SteppedRecount(app) as recount,
    ):
        for number, statement in enumerate(recount.statements()):
            steps.append(statement)
            try:
                writer.submit(traffic, number).result(timeout=WAIT)
            except TimeoutError:
                pytest.fail(f"a click or count batch waited for the recount before: {statement}")
    assert recount.error is None, recount.error
    assert len(steps) > 5
    with app.app_context():
        count_now()

    totals = snapshot(app)
    clicks, conversions = raw_totals(app)
    assert sum(row["clicks"] for row in totals["stats"].values()) == clicks
    assert sum(row["purchase_count"] for row in totals["stats"].values()) == conversions == len(steps) + 1
    assert sum(row["clicks"] for row in totals["user_days"].values()) == clicks
    assert_rollups_and_recount_agree(app, totals)


@pytest.mark.postgresql
def test_a_second_recount_waits_for_the_first_rather_than_add_the_same_drift_again(app, owner):
    link = create_link(app, owner)
    morning = DAY_ONE.replace(hour=9)
    uncounted_events_on(app, link["id"], morning)  # a drift both recounts measure
    with SteppedRecount(app) as first:
        statements = first.statements()
        while "INSERT INTO link_daily_stats" not in next(statements):
            pass  # measured, about to add its drift
        with app.app_context(), db.engine.connect() as other:
            assert other.scalar(select(func.pg_try_advisory_lock(RECOUNT_LOCK))) is False
        second = threading.Thread(target=recounted, args=(app,))
        second.start()  # waits for the first's lock, then measures after its correction
        for _ in statements:
            pass
    second.join(WAIT)
    assert first.error is None and not second.is_alive()
    totals = snapshot(app)
    assert totals["stats"][(str(link["id"]), morning.date())]["purchase_count"] == 1
    assert totals == recounted(app)


def test_a_recount_leaves_uncounted_clicks_and_conversions_to_the_consumer(make_app, creator):
    """It makes the totals equal the raw events minus the uncounted ones: it never counts those
    itself, so the consumer's run cannot count them a second time."""
    app = make_app(CLICK_COUNT_SECONDS=3600, CONVERSION_COUNT_SECONDS=3600)  # counted when the test says
    link_id = create_link(app, creator()[0])["id"]
    with app.app_context():
        count_now()  # a run just now: the next is due in an hour (the conversion's sweep makes none)
    tracking_ids = clicks_on(app, link_id, DAY_ONE, count=3)
    with time_machine.travel(DAY_ONE, tick=False):
        convert(app.test_client(), link_id, tracking_ids[0], "purchase", "10.00")
    before = snapshot(app)
    assert before["stats"] == {}
    assert recounted(app) == before
    with app.app_context():
        run = count_now()
    assert (run.clicks, run.conversions) == (3, 1)
    after = snapshot(app)
    day = after["stats"][(str(link_id), DAY_ONE.date())]
    assert (day["clicks"], day["purchase_count"], day["purchase_revenue"]) == (3, 1, Decimal("10.00"))
    assert_rollups_and_recount_agree(app, after)


def test_a_recount_reads_a_batch_of_links_per_snapshot_not_one_snapshot_for_all(app, owner):
    """51 links: two batches of links and one of creators, each read in a snapshot of its own (on
    PostgreSQL a REPEATABLE READ transaction, on SQLite a BEGIN IMMEDIATE one), so none spans the
    whole history and holds back vacuum of the busy totals for the whole recount."""
    links = [
        create_link(app, owner, campaign=f"video {number}")["id"] for number in range(RECOUNT_LINKS_PER_SNAPSHOT + 1)
    ]
    for link in links[::10]:
        uncounted_events_on(app, link, DAY_ONE)  # drift to correct, in both batches
    with SteppedRecount(app) as recount:
        statements = list(recount.statements())
    assert recount.error is None, recount.error
    snapshots = [s for s in statements if "REPEATABLE READ" in s or s.startswith("BEGIN IMMEDIATE")]
    assert len(snapshots) == 3 + (0 if "REPEATABLE READ" in "".join(statements) else 1)  # SQLite: setup too
    totals = snapshot(app)
    assert sum(row["purchase_count"] for row in totals["stats"].values()) == len(links[::10])
    assert_rollups_and_recount_agree(app, totals)
