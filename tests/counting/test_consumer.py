"""Clicks and conversions reach the report counts through one counting consumer: once each, at most
one run per period across processes, and exactly even when the process that stored them is killed."""

import os
import signal
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
import time_machine
from sqlalchemy import func, select, text

from linktrack import jobs
from linktrack.config import Config
from linktrack.counting.consumer import COUNTING_LOCK, Run, count_now, count_once
from linktrack.extensions import db
from linktrack.models import (
    CampaignLink,
    ClickEvent,
    ConversionEvent,
    LinkDailyStats,
    UncountedClick,
    UncountedConversion,
)
from linktrack.redirect.clicks import click_row, store_clicks
from tests.support.click_load import APPLICATION_NAME
from tests.support.counting import WAIT, recounted, snapshot
from tests.support.faults import wait_until
from tests.support.redirect import CHROME_WINDOWS

ROOT = Path(__file__).resolve().parents[2]
ORIGIN = "https://landing.example.com"  # what make_link allows
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


def purchase(client, link_id, tracking_id, amount="49.99", event_id=None):
    body = {"tracking_id": tracking_id, "campaign_link_id": link_id, "event_type": "purchase"}
    body |= {"revenue_amount": amount} | ({"event_id": event_id} if event_id else {})
    return client.post("/api/conversions", json=body, headers={"Origin": ORIGIN})


def counted(app, link_id) -> tuple[int, int, Decimal]:
    """(clicks, purchases, revenue) in the link's report counts."""
    with app.app_context():
        row = db.session.execute(
            select(
                func.sum(LinkDailyStats.clicks),
                func.sum(LinkDailyStats.purchase_count),
                func.sum(LinkDailyStats.purchase_revenue),
            ).where(LinkDailyStats.campaign_link_id == uuid.UUID(link_id))
        ).one()
        return row[0] or 0, row[1] or 0, Decimal(row[2] or 0)


def uncounted(app) -> tuple[int, int]:
    with app.app_context():
        clicks = db.session.scalar(select(func.count()).select_from(UncountedClick))
        return clicks, db.session.scalar(select(func.count()).select_from(UncountedConversion))


def stored_without_counting(app, link_id, count=3) -> None:
    """A click batch committed by a process that died before it asked for a count."""
    with app.app_context():
        rows = [
            click_row(uuid.UUID(link_id), uuid.uuid4(), f"203.0.113.{n}", CHROME_WINDOWS, None, T0)
            for n in range(count)
        ]
        store_clicks(db.engine, rows)


def test_a_run_counts_every_stored_click_and_conversion_once(make_app, creator, make_link, make_click):
    app = make_app(CLICK_COUNT_SECONDS=3600, CONVERSION_COUNT_SECONDS=3600)  # counted when the test says
    client = app.test_client()
    link_id = make_link(creator()[0])
    clicks = [make_click(link_id, clicked_at=T0) for _ in range(3)]  # stored and counted
    with time_machine.travel(T0 + timedelta(days=2), tick=False):
        for number, tracking_id in enumerate(clicks):
            assert purchase(client, link_id, tracking_id, event_id=f"order-{number}").status_code == 201
        assert purchase(client, link_id, clicks[0], event_id="order-0").status_code == 200  # a replay
    stored_without_counting(app, link_id, count=2)

    assert counted(app, link_id) == (3, 0, Decimal("0"))  # stored, not counted yet
    assert uncounted(app) == (2, 3)
    with app.app_context():
        assert count_now() == Run(clicks=2, conversions=3)
        assert count_now() == Run()
    assert counted(app, link_id) == (5, 3, Decimal("149.97"))
    assert uncounted(app) == (0, 0)
    assert snapshot(app) == recounted(app)


def test_runs_are_one_period_apart_across_processes_by_the_database_clock(make_app, creator, make_link):
    """Two app processes (each its own engine and consumer): the second finds the first's run too
    recent and counts nothing, however much is waiting; so does the minute sweep."""
    first, second = make_app(CLICK_COUNT_SECONDS=3600), make_app(CLICK_COUNT_SECONDS=3600)
    link_id = make_link(creator()[0])
    stored_without_counting(first, link_id)
    with first.app_context():
        assert count_once(db.engine, 3600) == Run(clicks=3)
    stored_without_counting(second, link_id)
    with second.app_context():
        run = count_once(db.engine, 3600)
        assert (run.clicks, run.conversions) == (0, 0)
        assert 3500 < run.again_in <= 3600  # when the next run is due
        assert jobs.run_due_jobs()["clicks_counted"] == 0
    assert uncounted(second) == (3, 0)
    assert counted(second, link_id)[0] == 3


def test_what_a_process_stored_and_never_counted_is_counted_by_the_minute_sweep(app, creator, make_link):
    link_id = make_link(creator()[0])
    stored_without_counting(app, link_id)
    with app.app_context():
        assert jobs.run_due_jobs()["clicks_counted"] == 3
    assert counted(app, link_id)[0] == 3
    assert snapshot(app) == recounted(app)


def test_in_tests_each_click_and_conversion_is_counted_inside_its_request(app, client, creator, make_link):
    link_id = make_link(creator()[0])
    with app.app_context():
        short_code = db.session.get(CampaignLink, uuid.UUID(link_id)).short_code
    location = client.get(f"/{short_code}", headers={"User-Agent": CHROME_WINDOWS}).headers["Location"]
    tracking_id = location.split("ct_tracking_id=")[1].split("&")[0]
    assert purchase(client, link_id, tracking_id).status_code == 201
    assert counted(app, link_id) == (1, 1, Decimal("49.99"))
    assert uncounted(app) == (0, 0)


@pytest.mark.postgresql
def test_a_process_that_finds_a_run_in_progress_skips_it_and_tries_again_later(app, creator, make_link):
    """No process waits for the counting lock: while another transaction holds it, a run returns at
    once, counting nothing, and says to try again a period later."""
    link_id = make_link(creator()[0])
    stored_without_counting(app, link_id)
    with app.app_context(), db.engine.connect() as holder, ThreadPoolExecutor(1) as other:
        holder.execute(select(func.pg_advisory_xact_lock(COUNTING_LOCK)))
        engine = db.engine
        assert other.submit(count_once, engine, 0.5).result(timeout=WAIT) == Run(again_in=0.5)
        holder.rollback()
        assert other.submit(count_once, engine, 0.5).result(timeout=WAIT) == Run(clicks=3)


# ---- killed mid-load -----------------------------------------------------------------------------


def counting_lock_holder(app) -> int | None:
    """The backend pid holding the counting lock now (PostgreSQL), or None."""
    high, low = COUNTING_LOCK >> 32, COUNTING_LOCK & 0xFFFF_FFFF
    with app.app_context(), db.engine.connect() as connection:
        return connection.scalar(
            text(
                "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted"
                " AND classid = :high AND objid = :low AND objsubid = 1"
            ),
            {"high": high, "low": low},
        )


def backends_of_the_killed_process(app) -> int:
    with app.app_context(), db.engine.connect() as connection:
        return connection.scalar(
            text("SELECT count(*) FROM pg_stat_activity WHERE application_name = :name"), {"name": APPLICATION_NAME}
        )


def test_a_process_killed_mid_load_leaves_counts_that_equal_the_recount(app, database_url, creator, make_link):
    """A real process clicks one link and buys on every tenth click (the click writer's batches and
    the counting consumer's runs, every 50 ms), and is killed with SIGKILL once it has counted some
    and stored more: on PostgreSQL while it holds the counting lock, inside a run. The next run
    (another process's) counts what it left; nothing is counted twice or never."""
    link_id = make_link(creator()[0])
    with app.app_context():
        short_code = db.session.get(CampaignLink, uuid.UUID(link_id)).short_code
    command = [sys.executable, "-m", "tests.support.click_load", database_url, short_code, link_id]
    child = subprocess.Popen(command, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    postgresql = database_url.startswith("postgresql")
    caught_in_a_run = False
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and child.poll() is None:
            if counted(app, link_id)[0] >= 300 and sum(uncounted(app)) > 0:
                if not postgresql:
                    break
                if counting_lock_holder(app) is not None:  # its consumer is inside a run right now
                    caught_in_a_run = True
                    break
            time.sleep(0.002)
        assert child.poll() is None, "the clicking process ended by itself"
        child.send_signal(signal.SIGKILL)
    finally:
        child.kill()
        child.wait(timeout=WAIT)
    assert caught_in_a_run or not postgresql, "never saw the process inside a counting run"
    if postgresql:  # a backend ends its dead client's transaction (a commit under way may still land)
        wait_until(lambda: not backends_of_the_killed_process(app), WAIT, "the killed process's backends to end")

    with app.app_context():
        count_now()  # the next run, by another process
        clicks = db.session.scalar(select(func.count()).select_from(ClickEvent))
        purchases = db.session.scalar(select(func.count()).select_from(ConversionEvent))
    assert clicks >= 300
    assert uncounted(app) == (0, 0)
    assert counted(app, link_id) == (clicks, purchases, Decimal("1.00") * purchases)
    assert snapshot(app) == recounted(app)


def test_with_production_intervals_the_consumer_thread_counts_clicks_and_conversions(make_app, creator, make_link):
    """Batches every 10 ms and a counting run within 50 ms (the defaults' shape, shorter): nobody asks
    for a count, and the totals still arrive (polled, with a deadline)."""
    app = make_app(CLICK_FLUSH_SECONDS=0.01, CLICK_COUNT_SECONDS=0.05, CONVERSION_COUNT_SECONDS=0.05)
    client = app.test_client()
    link_id = make_link(creator()[0])
    with app.app_context():
        short_code = db.session.get(CampaignLink, uuid.UUID(link_id)).short_code
    location = client.get(f"/{short_code}", headers={"User-Agent": CHROME_WINDOWS}).headers["Location"]
    tracking_id = location.split("ct_tracking_id=")[1].split("&")[0]
    assert purchase(client, link_id, tracking_id).status_code == 201  # its click is written first
    deadline = time.monotonic() + WAIT
    while counted(app, link_id) != (1, 1, Decimal("49.99")) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert counted(app, link_id) == (1, 1, Decimal("49.99"))
    assert uncounted(app) == (0, 0)


def test_the_counting_periods_are_set_from_the_environment():
    assert (Config.CLICK_COUNT_SECONDS, Config.CONVERSION_COUNT_SECONDS) == (0.5, 1.0)
    values = Config.from_environ({"CLICK_COUNT_SECONDS": "0.8", "CONVERSION_COUNT_SECONDS": "2"})
    assert (values["CLICK_COUNT_SECONDS"], values["CONVERSION_COUNT_SECONDS"]) == (0.8, 2.0)
