"""A creator's days are days in their time zone: at DST changes (a 23- and a 25-hour day), in a
half-hour zone, and after a change of zone, the counters equal a recount of the raw events."""

from collections import Counter
from datetime import date, datetime, timedelta, timezone

import pytest
import time_machine
from sqlalchemy import select

from linktrack.auth.service import register_user, set_time_zone
from linktrack.counting.days import local_day
from linktrack.extensions import db
from linktrack.models import User
from tests.support.counting import convert, recounted, snapshot, visit
from tests.support.redirect import create_link

UTC = timezone.utc
SECOND = timedelta(seconds=1)


def creator_in(app, zone: str) -> int:
    with app.app_context():
        return register_user(f"creator-{zone.replace('/', '-').lower()}@example.com", "correct horse battery", zone).id


def clicks_at(client, link, instants, purchase: bool = False) -> None:
    for instant in instants:
        with time_machine.travel(instant, tick=False):
            tracking = visit(client, link["short_code"])
            if purchase:
                convert(client, link["id"], tracking, "purchase", 10)


def days_of(app, link) -> dict:
    """{day: (clicks, purchases)} of the link's daily rows."""
    stats = snapshot(app)["stats"]
    return {
        day: (row["clicks"], row["purchase_count"])
        for (link_id, day), row in stats.items()
        if link_id == str(link["id"])
    }


# The first instant of each local day, around the transitions (hand-checked against the tz database).
DAY_BOUNDARIES = {
    # 8 Mar 2026, 23 hours: 00:00 EST (-5) to 00:00 EDT (-4).
    "America/New_York": [
        (date(2026, 3, 8), datetime(2026, 3, 8, 5, tzinfo=UTC), datetime(2026, 3, 9, 4, tzinfo=UTC)),
        # 1 Nov 2026, 25 hours: 00:00 EDT to 00:00 EST.
        (date(2026, 11, 1), datetime(2026, 11, 1, 4, tzinfo=UTC), datetime(2026, 11, 2, 5, tzinfo=UTC)),
    ],
    "Europe/Berlin": [
        (date(2026, 3, 29), datetime(2026, 3, 28, 23, tzinfo=UTC), datetime(2026, 3, 29, 22, tzinfo=UTC)),
        (date(2026, 10, 25), datetime(2026, 10, 24, 22, tzinfo=UTC), datetime(2026, 10, 25, 23, tzinfo=UTC)),
    ],
    # +05:30 all year: a day starts at 18:30 UTC, which no UTC hour boundary gives.
    "Asia/Kolkata": [
        (date(2026, 5, 4), datetime(2026, 5, 3, 18, 30, tzinfo=UTC), datetime(2026, 5, 4, 18, 30, tzinfo=UTC)),
    ],
}


@pytest.mark.parametrize("zone", sorted(DAY_BOUNDARIES))
def test_clicks_and_purchases_land_on_the_creators_local_day(app, client, zone):
    link = create_link(app, creator_in(app, zone))
    expected: Counter = Counter()
    for day, starts, ends in DAY_BOUNDARIES[zone]:
        hours = (ends - starts) / timedelta(hours=1)
        assert hours in (23, 24, 25) and local_day(starts, zone) == day and local_day(ends - SECOND, zone) == day
        # Just before the day, its first and last second, and just after it.
        clicks_at(client, link, [starts - SECOND, starts, ends - SECOND, ends], purchase=True)
        expected.update([day - timedelta(days=1), day, day, day + timedelta(days=1)])
    assert days_of(app, link) == {day: (count, count) for day, count in expected.items()}
    live = snapshot(app)
    assert recounted(app) == live  # the recount's SQL rule is the consumer's Python rule


def test_the_hours_of_a_23_and_a_25_hour_day_all_count_on_that_day(app, client):
    link = create_link(app, creator_in(app, "America/New_York"))
    short = datetime(2026, 3, 8, 5, tzinfo=UTC)
    long = datetime(2026, 11, 1, 4, tzinfo=UTC)
    clicks_at(client, link, [short + timedelta(hours=hour) for hour in range(23)])
    clicks_at(client, link, [long + timedelta(hours=hour) for hour in range(25)])
    assert days_of(app, link) == {date(2026, 3, 8): (23, 0), date(2026, 11, 1): (25, 0)}
    assert recounted(app) == snapshot(app)


def test_a_change_of_zone_rebuilds_the_days_exactly(app, client):
    """A creator in UTC moves to Asia/Kolkata: their days are recounted from the raw events, equal
    to a whole recount, with the months and creator days that follow; counting goes on in the new zone."""
    user_id = creator_in(app, "UTC")
    link = create_link(app, user_id)
    evening = datetime(2026, 5, 4, 19, 0, tzinfo=UTC)  # 4 May in UTC, 5 May 00:30 in Kolkata
    clicks_at(client, link, [datetime(2026, 4, 30, 18, 45, tzinfo=UTC), evening], purchase=True)
    assert days_of(app, link) == {date(2026, 4, 30): (1, 1), date(2026, 5, 4): (1, 1)}
    with app.test_request_context(), time_machine.travel(evening + SECOND, tick=False):
        user = db.session.get(User, user_id)
        assert set_time_zone(user, "Asia/Kolkata")  # the rebuild runs inline here (no Redis)
        assert not set_time_zone(user, "Asia/Kolkata")  # the same zone again changes nothing
    rebuilt = snapshot(app)
    assert days_of(app, link) == {date(2026, 5, 1): (1, 1), date(2026, 5, 5): (1, 1)}
    assert {month for _, month in rebuilt["months"]} == {date(2026, 5, 1)}  # April's row is gone
    assert recounted(app) == rebuilt
    with app.app_context():
        zones = db.session.execute(select(User.time_zone, User.counted_time_zone).where(User.id == user_id)).one()
    assert tuple(zones) == ("Asia/Kolkata", "Asia/Kolkata")
    clicks_at(client, link, [datetime(2026, 5, 5, 18, 29, 59, tzinfo=UTC)])  # still 5 May in Kolkata
    assert days_of(app, link)[date(2026, 5, 5)] == (2, 1)
    assert recounted(app) == snapshot(app)
