"""The daily aggregates stay equal to a recount from the raw events, whichever way events arrive."""

import queue
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
import time_machine
from sqlalchemy import delete, event, func, select

from linktrack.counting.conversions import flush_conversion_counts
from linktrack.counting.counters import RECOUNT_LOCK, count_conversions, recount_daily_stats
from linktrack.extensions import db
from linktrack.models import (
    CampaignLink,
    ClickEvent,
    ConversionEvent,
    LinkDailyBreakdown,
    LinkDailyLag,
    LinkDailyStats,
    LinkMonthlyStats,
    UserDailyStats,
)
from linktrack.redirect.clicks import click_row, store_clicks
from tests.support.redirect import CHROME_WINDOWS, FIREFOX_LINUX, SAFARI_IPHONE, create_link

DAY_ONE = datetime(2026, 5, 4, 23, 59, 59, tzinfo=timezone.utc)  # one second before midnight UTC
BOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
ORIGIN = "https://academy.example.com"


def counters(row, keys=("campaign_link_id", "day", "month")) -> dict:
    return {
        name: getattr(row, name) if not isinstance(getattr(row, name), Decimal) else Decimal(getattr(row, name))
        for name in row.__table__.columns.keys()  # noqa: SIM118 (names, not columns)
        if name not in keys
    }


def snapshot(app) -> dict:
    """Every aggregate row, as comparable plain values."""
    with app.app_context():
        stats = {
            (str(row.campaign_link_id), row.day): counters(row) for row in db.session.scalars(select(LinkDailyStats))
        }
        months = {
            (str(row.campaign_link_id), row.month): counters(row)
            for row in db.session.scalars(select(LinkMonthlyStats))
        }
        user_days = {
            (row.user_id, row.day): counters(row, keys=("user_id", "day"))
            for row in db.session.scalars(select(UserDailyStats))
        }
        lags = {
            (str(row.campaign_link_id), row.day, row.days_since_click): row.conversions
            for row in db.session.scalars(select(LinkDailyLag))
        }
        breakdowns = {
            (str(row.campaign_link_id), row.day, row.dimension, row.value): (row.user_id, row.clicks)
            for row in db.session.scalars(select(LinkDailyBreakdown))
        }
    return {"stats": stats, "months": months, "user_days": user_days, "lags": lags, "breakdowns": breakdowns}


def recounted(app) -> dict:
    with app.app_context():
        recount_daily_stats()
    return snapshot(app)


def visit(client, code, user_agent=CHROME_WINDOWS, ip="203.0.113.7", method="GET", referrer=None):
    headers = {"User-Agent": user_agent} | ({"Referer": referrer} if referrer else {})
    response = client.open(f"/{code}", method=method, headers=headers, environ_base={"REMOTE_ADDR": ip})
    assert response.status_code == 302
    query = dict(part.split("=", 1) for part in response.headers["Location"].split("?", 1)[1].split("&"))
    return query["ct_tracking_id"]


def convert(client, link_id, tracking_id, event_type, revenue=None, event_id=None):
    body = {"tracking_id": tracking_id, "campaign_link_id": str(link_id), "event_type": event_type}
    if revenue is not None:
        body["revenue_amount"] = revenue
    if event_id:
        body["event_id"] = event_id
    response = client.post("/api/conversions", json=body, headers={"Origin": ORIGIN})
    assert response.status_code in (200, 201), response.get_json()
    return response


@pytest.fixture
def owner(creator):
    return creator()[0]


def test_clicks_and_conversions_through_the_real_paths_match_a_recount(app, client, owner):
    link = create_link(app, owner)
    other = create_link(app, owner, campaign="other")
    with time_machine.travel(DAY_ONE, tick=False):
        alice = visit(client, link["short_code"])
        visit(client, link["short_code"])  # Alice again within the hour: counted, not unique
        bob = visit(client, link["short_code"], user_agent=SAFARI_IPHONE, ip="198.51.100.4")
        visit(client, link["short_code"], user_agent=BOT)
        visit(client, link["short_code"], method="HEAD")  # redirected, never stored
        carol = visit(client, other["short_code"], user_agent=FIREFOX_LINUX)
    with time_machine.travel(DAY_ONE + timedelta(seconds=1), tick=False):  # the next UTC day
        dave = visit(client, link["short_code"], user_agent=FIREFOX_LINUX, ip="192.0.2.9")
        convert(client, link["id"], alice, "newsletter_signup")
    with time_machine.travel(DAY_ONE + timedelta(days=3), tick=False):
        convert(client, link["id"], alice, "purchase", "49.99", event_id="order-1")
        convert(client, link["id"], alice, "purchase", "49.99", event_id="order-1")  # replay: counts nothing
        convert(client, link["id"], alice, "purchase", "10.01", event_id="order-2")  # second purchase, same visitor
        convert(client, link["id"], bob, "course_enrollment", 199)
        convert(client, other["id"], carol, "newsletter_signup", 5)
        convert(client, link["id"], dave, "newsletter_signup")

    live = snapshot(app)
    link_id = str(link["id"])
    first_day, second_day, fourth_day = date(2026, 5, 4), date(2026, 5, 5), date(2026, 5, 7)
    day_one = live["stats"][(link_id, first_day)]
    assert (day_one["user_id"], day_one["clicks"], day_one["unique_clicks"], day_one["bot_clicks"]) == (owner, 3, 2, 1)
    assert live["stats"][(link_id, second_day)]["clicks"] == 1
    assert live["stats"][(link_id, second_day)]["newsletter_signup_count"] == 1
    day_four = live["stats"][(link_id, fourth_day)]
    assert (day_four["purchase_count"], day_four["purchase_visitors"], day_four["purchase_revenue"]) == (
        2,
        1,
        Decimal("60.00"),
    )
    assert (day_four["course_enrollment_count"], day_four["course_enrollment_revenue"]) == (1, Decimal("199.00"))
    assert (day_four["newsletter_signup_count"], day_four["newsletter_signup_visitors"]) == (1, 1)
    assert live["lags"][(link_id, second_day, 0)] == 1  # Alice signed up a second after her click
    assert live["lags"][(link_id, fourth_day, 3)] == 3  # her two purchases and Bob's enrollment
    assert live["lags"][(link_id, fourth_day, 2)] == 1  # Dave converted 2 days 23:59:59 after his click
    assert live["months"] == months_from_days(live["stats"])
    assert live["user_days"] == user_days_from_days(live["stats"])
    assert live == recounted(app)


def test_a_batch_written_by_the_click_writer_matches_a_recount(app, owner):
    link = create_link(app, owner)
    eleven_pm = DAY_ONE.replace(hour=23, minute=0, second=0)
    with app.app_context():
        link_id = link["id"]
        rows = [
            click_row(link_id, uuid.uuid4(), ip, agent, None, eleven_pm + timedelta(minutes=minutes))
            for ip, agent, minutes in [
                ("203.0.113.1", CHROME_WINDOWS, 0),
                ("203.0.113.1", CHROME_WINDOWS, 10),  # a repeat inside the same batch
                ("203.0.113.2", SAFARI_IPHONE, 70),  # after midnight UTC
                ("203.0.113.3", BOT, 80),
            ]
        ]
        store_clicks(db.engine, rows)
    live = snapshot(app)
    assert live["stats"][(str(link_id), date(2026, 5, 4))]["clicks"] == 2
    assert live["stats"][(str(link_id), date(2026, 5, 4))]["unique_clicks"] == 1
    after_midnight = live["stats"][(str(link_id), date(2026, 5, 5))]
    assert (after_midnight["clicks"], after_midnight["unique_clicks"], after_midnight["bot_clicks"]) == (1, 1, 1)
    assert live["months"] == months_from_days(live["stats"])
    assert live["user_days"] == user_days_from_days(live["stats"])
    assert live == recounted(app)


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
    assert after["user_days"] == user_days_from_days(after["stats"])  # a partial recount rebuilds the creator's days
    assert after["breakdowns"][(str(link["id"]), date(2026, 5, 4), "device", "desktop")] == (owner, 1)
    with app.app_context():
        db.session.delete(db.session.get(CampaignLink, link["id"]))  # links are archived, never deleted, in the app
        db.session.commit()
        recount_daily_stats()  # so the creator's days need the recount the link's own rows do not
    assert snapshot(app) == {"stats": {}, "months": {}, "user_days": {}, "lags": {}, "breakdowns": {}}


def test_demo_data_arrives_with_its_aggregates(app):
    from linktrack.demo import load_demo_data

    with app.app_context():
        counts = load_demo_data(now=DAY_ONE)
    live = snapshot(app)
    assert sum(row["clicks"] + row["bot_clicks"] for row in live["stats"].values()) == counts["clicks"]
    assert sum(live["lags"].values()) == counts["conversions"]
    assert live["months"] == months_from_days(live["stats"])
    assert live["user_days"] == user_days_from_days(live["stats"])
    assert live == recounted(app)


def test_click_breakdowns_count_people_by_referrer_site_device_browser_and_os(app, client, owner):
    link = create_link(app, owner)
    code = link["short_code"]
    with time_machine.travel(DAY_ONE, tick=False):
        visit(client, code, referrer="https://www.youtube.com/watch?v=dQw4w9WgXcQ&private=1")
        visit(client, code, referrer="https://WWW.YouTube.com/", ip="198.51.100.1")
        visit(client, code, user_agent=SAFARI_IPHONE, referrer="https://t.co/abc", ip="198.51.100.2")
        visit(client, code, user_agent=FIREFOX_LINUX, referrer="not a url", ip="198.51.100.3")
        visit(client, code, user_agent=FIREFOX_LINUX, ip="198.51.100.4")
        visit(client, code, user_agent=BOT, referrer="https://bots.example/")  # never in a breakdown
    with time_machine.travel(DAY_ONE + timedelta(seconds=1), tick=False):
        visit(client, code, referrer="https://m.youtube.com/", ip="198.51.100.5")

    live = snapshot(app)
    link_id, day, next_day = str(link["id"]), date(2026, 5, 4), date(2026, 5, 5)
    counts = {key[1:]: clicks for key, (_, clicks) in live["breakdowns"].items() if key[0] == link_id}
    by_dimension = {}
    for (when, dimension, value), clicks in counts.items():
        by_dimension.setdefault((when, dimension), {})[value] = clicks
    assert by_dimension[(day, "referrer")] == {"www.youtube.com": 2, "t.co": 1, "": 2}
    assert by_dimension[(next_day, "referrer")] == {"m.youtube.com": 1}
    assert sum(by_dimension[(day, "device")].values()) == live["stats"][(link_id, day)]["clicks"] == 5
    for dimension in ("device", "browser", "os"):
        assert sum(by_dimension[(day, dimension)].values()) == 5
        assert sum(by_dimension[(next_day, dimension)].values()) == 1
    assert not any("private" in value or "watch" in value for (_, _, value) in counts)
    assert live["months"] == months_from_days(live["stats"])
    assert live["user_days"] == user_days_from_days(live["stats"])
    assert live == recounted(app)

    # The link page shows sites without "www." (YouTube's two spellings fold into one line).
    from linktrack.reports.queries import NO_REFERRER, DateRange, link_report

    with app.app_context():
        report = link_report(db.session.get(CampaignLink, link["id"]), DateRange(day, next_day))
    assert [(share.name, share.count) for share in report.referrers] == [
        (NO_REFERRER, 2),  # ties by name
        ("youtube.com", 2),
        ("m.youtube.com", 1),
        ("t.co", 1),
    ]
    assert sum(share.count for share in report.devices) == sum(share.count for share in report.browsers) == 6


def user_days_from_days(stats: dict) -> dict:
    """The daily rows summed per creator and day, as the creator's rows must be."""
    days: dict = {}
    for (_, day), row in stats.items():
        total = days.setdefault((row["user_id"], day), dict.fromkeys((name for name in row if name != "user_id"), 0))
        for name in total:
            total[name] += row[name]
    return days


def months_from_days(stats: dict) -> dict:
    """The daily rows summed per link and month, as the monthly rows must be."""
    months: dict = {}
    for (link_id, day), row in stats.items():
        month = months.setdefault((link_id, day.replace(day=1)), dict.fromkeys(row, 0))
        for name, value in row.items():
            month[name] = value if name == "user_id" else month[name] + value
    return months


def test_monthly_rows_are_the_sums_of_the_daily_rows_across_a_month_boundary(app, client, owner):
    link = create_link(app, owner)
    other = create_link(app, owner, campaign="other")
    last_second_of_april = datetime(2026, 4, 30, 23, 59, 59, tzinfo=timezone.utc)
    with time_machine.travel(last_second_of_april - timedelta(days=1), tick=False):
        early = visit(client, link["short_code"], ip="198.51.100.20")
    with time_machine.travel(last_second_of_april, tick=False):
        alice = visit(client, link["short_code"])
        visit(client, link["short_code"], user_agent=BOT)
        carol = visit(client, other["short_code"], user_agent=SAFARI_IPHONE)
        convert(client, link["id"], early, "purchase", "19.99", event_id="april")
    with time_machine.travel(last_second_of_april + timedelta(seconds=1), tick=False):  # 1 May
        visit(client, link["short_code"], user_agent=FIREFOX_LINUX, ip="192.0.2.9")
        convert(client, link["id"], alice, "newsletter_signup")
        convert(client, link["id"], early, "purchase", "5.01", event_id="may")  # not her first purchase
        convert(client, other["id"], carol, "course_enrollment", 100)
    with time_machine.travel(datetime(2026, 5, 29, 12, tzinfo=timezone.utc), tick=False):
        convert(client, link["id"], alice, "purchase", "30")

    live = snapshot(app)
    link_id = str(link["id"])
    april, may = date(2026, 4, 1), date(2026, 5, 1)
    assert (live["months"][(link_id, april)]["clicks"], live["months"][(link_id, april)]["bot_clicks"]) == (2, 1)
    assert live["months"][(link_id, april)]["purchase_revenue"] == Decimal("19.99")
    may_row = live["months"][(link_id, may)]
    assert (may_row["clicks"], may_row["purchase_count"], may_row["purchase_visitors"]) == (1, 2, 1)
    assert may_row["purchase_revenue"] == Decimal("35.01")
    assert live["months"] == months_from_days(live["stats"])
    assert live["user_days"] == user_days_from_days(live["stats"])
    assert live == recounted(app)


def test_flask_recount_rebuilds_every_aggregate(app, client, owner):
    link = create_link(app, owner)
    with time_machine.travel(DAY_ONE, tick=False):
        tracking = visit(client, link["short_code"], referrer="https://www.youtube.com/")
        convert(client, link["id"], tracking, "purchase", 20)
    live = snapshot(app)
    with app.app_context():
        for table in (LinkDailyStats, LinkMonthlyStats, UserDailyStats, LinkDailyLag, LinkDailyBreakdown):
            db.session.execute(delete(table))
        db.session.commit()
    result = app.test_cli_runner().invoke(args=["recount"])
    assert result.exit_code == 0, result.output
    assert "Report aggregates rebuilt" in result.output
    assert snapshot(app) == live


# ---- a recount while clicks and conversions keep arriving ---------------------------------------

WAIT = 10  # seconds a step may take before the test fails instead of hanging


class SteppedRecount:
    """recount_daily_stats() in a thread that stops before each of its SQL statements until the test
    asks for the next one (a before_cursor_execute listener waiting on a queue): the test writes
    between any two statements, in a known order, without sleeping."""

    DONE = object()

    def __init__(self, app, link_ids=None):
        self.app, self.link_ids = app, link_ids
        self.arrived: queue.Queue = queue.Queue()
        self.go: queue.Queue = queue.Queue()
        self.free = False  # set when the test is done stepping: the rest runs straight through
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="stepped-recount", daemon=True)

    def _run(self) -> None:
        try:
            with self.app.app_context():
                recount_daily_stats(self.link_ids)
        except BaseException as exc:  # reported by the test
            self.error = exc
        finally:
            self.arrived.put(self.DONE)

    def _before(self, _connection, _cursor, statement, *_args) -> None:
        if threading.current_thread() is self.thread and not self.free:
            self.arrived.put(statement)
            self.go.get(timeout=WAIT)

    def statements(self):
        """Each statement the recount is about to run; it runs when the next one is asked for."""
        while (statement := self.arrived.get(timeout=WAIT)) is not self.DONE:
            yield statement
            self.go.put(True)

    def __enter__(self) -> "SteppedRecount":
        with self.app.app_context():
            self.engine = db.engine
        event.listen(self.engine, "before_cursor_execute", self._before)
        self.thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self.free = True
        self.go.put(True)
        self.thread.join(WAIT)
        event.remove(self.engine, "before_cursor_execute", self._before)
        assert not self.thread.is_alive(), "the recount did not finish"


def clicks_on(app, link_id, clicked_at: datetime, count: int = 1, agent: str = CHROME_WINDOWS) -> list[str]:
    """`count` clicks from different people, written as one batch by the click writer's path."""
    with app.app_context():
        rows = [
            click_row(link_id, uuid.uuid4(), f"198.51.100.{n}", agent, "https://www.youtube.com/", clicked_at)
            for n in range(count)
        ]
        store_clicks(db.engine, rows)
    return [str(row["tracking_id"]) for row in rows]


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
    app = make_app(CONVERSION_COUNT_SECONDS=3600)  # conversions are counted when the test flushes them
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
                count_conversions(connection)  # a count batch: the conversion of the step before
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
        flush_conversion_counts()

    totals = snapshot(app)
    clicks, conversions = raw_totals(app)
    assert sum(row["clicks"] for row in totals["stats"].values()) == clicks
    assert sum(row["purchase_count"] for row in totals["stats"].values()) == conversions == len(steps) + 1
    assert sum(row["clicks"] for row in totals["user_days"].values()) == clicks
    assert totals["months"] == months_from_days(totals["stats"])
    assert totals["user_days"] == user_days_from_days(totals["stats"])
    assert totals == recounted(app)


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
