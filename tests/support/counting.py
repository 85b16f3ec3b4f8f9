"""Reading the aggregates back and driving the counters, for the counting tests and their neighbours.

`snapshot` reads every aggregate row as plain values; `recounted` is the snapshot after a recount,
so a test asserts "what the writers added equals a recount" with `snapshot(app) == recounted(app)`.
`SteppedRecount` runs a recount one SQL statement at a time, for the tests that write in between.
"""

import queue
import threading
import uuid
from datetime import datetime, timezone
from decimal import Decimal

from sqlalchemy import event, select

from linktrack.counting.recount import recount_daily_stats
from linktrack.extensions import db
from linktrack.models import (
    LinkDailyBreakdown,
    LinkDailyLag,
    LinkDailyRevenue,
    LinkDailyStats,
    LinkMonthlyStats,
    UserDailyStats,
)
from linktrack.redirect.clicks import click_row, click_writer
from tests.support.redirect import CHROME_WINDOWS

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
        revenue = {
            (str(row.campaign_link_id), row.day, row.event_type, row.currency): (
                row.user_id,
                row.conversions,
                Decimal(str(row.revenue)).quantize(Decimal("0.01")),
            )
            for row in db.session.scalars(select(LinkDailyRevenue))
        }
    return {
        "stats": stats,
        "months": months,
        "user_days": user_days,
        "lags": lags,
        "breakdowns": breakdowns,
        "revenue": revenue,
    }


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


def convert(client, link_id, tracking_id, event_type, revenue=None, event_id=None, currency=None):
    body = {"tracking_id": tracking_id, "campaign_link_id": str(link_id), "event_type": event_type}
    if currency:
        body["currency"] = currency
    if revenue is not None:
        body["revenue_amount"] = revenue
    if event_id:
        body["event_id"] = event_id
    response = client.post("/api/conversions", json=body, headers={"Origin": ORIGIN})
    assert response.status_code in (200, 201), response.get_json()
    return response


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


def assert_rollups_and_recount_agree(app, live: dict) -> None:
    """What every counting test ends with: the monthly and creator rows of the snapshot `live` are
    the sums of its daily rows, and all of it equals a recount from the raw events. (Helpers get no
    assertion rewriting: the messages show both sides.)"""
    for name, due in (("months", months_from_days(live["stats"])), ("user_days", user_days_from_days(live["stats"]))):
        assert live[name] == due, f"{name} are not the sums of the daily rows: {live[name]} != {due}"
    recount = recounted(app)
    assert live == recount, f"the aggregates differ from a recount: {live} != {recount}"


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
        click_writer().write(rows)  # stored, then counted (in tests, at once)
    return [str(row["tracking_id"]) for row in rows]
