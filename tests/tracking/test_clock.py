"""Whose clock decides the attribution window (CONVERSION_CLOCK, dialect.database_now).

On PostgreSQL the database's: an app host whose clock is a day off decides nothing differently,
on the fast path's one statement and on the Flask view's session alike. time-machine moves only
the app's clock, so these tests skew it and keep the database's real; the click is stored relative
to the database's real time. On SQLite the database runs in the app's process: its clock is the
app's, and time-machine still moves the decision (the rest of the suite relies on it).
"""

import uuid
from datetime import datetime, timedelta, timezone

import pytest
import time_machine
from sqlalchemy import select, text

from linktrack.extensions import db
from linktrack.models import CampaignLink, ConversionEvent
from tests.support.conversions import conversion, error, post

DAY = timedelta(days=1)


@pytest.fixture
def database_clock_app(make_app):
    return make_app(CONVERSION_CLOCK="database")


def database_time(app) -> datetime:
    with app.app_context():
        return db.session.execute(text("SELECT CURRENT_TIMESTAMP")).scalar_one().astimezone(timezone.utc)


def stored_converted_at(app) -> datetime:
    with app.app_context():
        return db.session.scalars(select(ConversionEvent.converted_at)).one()


@pytest.fixture
def click_at(database_clock_app, creator, make_link, make_click):
    """A click `age` before the database's time now: (link_id, tracking_id)."""

    def make(age: timedelta):
        link_id = make_link(creator()[0])
        return link_id, make_click(link_id, clicked_at=database_time(database_clock_app) - age)

    return make


@pytest.mark.postgresql
class TestPostgresqlDecidesByItsClock:
    @pytest.mark.parametrize("route", ["fast path", "flask view"])
    def test_an_app_clock_two_days_ahead_still_accepts_day_30(self, database_clock_app, click_at, route, api_key_for):
        attributed = click_at(30 * DAY + timedelta(hours=1))  # day 30 by the database: the last day in
        client = database_clock_app.test_client()
        with time_machine.travel(datetime.now(timezone.utc) + 2 * DAY, tick=True):  # this host is 2 days fast
            response = self._post(client, attributed, route, api_key_for)
        assert response.status_code == 201, response.get_json()
        assert response.get_json()["days_since_click"] == 30
        # Stored at the database's time, not the host's day-after-tomorrow.
        assert abs(stored_converted_at(database_clock_app) - database_time(database_clock_app)) < timedelta(minutes=1)

    @pytest.mark.parametrize("route", ["fast path", "flask view"])
    def test_an_app_clock_two_days_behind_still_refuses_day_31(self, database_clock_app, click_at, route, api_key_for):
        attributed = click_at(31 * DAY + timedelta(hours=1))  # day 31 by the database: out
        client = database_clock_app.test_client()
        with time_machine.travel(datetime.now(timezone.utc) - 2 * DAY, tick=True):
            response = self._post(client, attributed, route, api_key_for)
        assert response.status_code == 422
        assert error(response)["code"] == "attribution_window_expired"
        assert "31 days ago" in error(response)["message"]

    @staticmethod
    def _post(client, attributed, route, api_key_for):
        """A landing page's call (the fast path's one statement) or the creator's server's (the view's session)."""
        body = conversion(attributed, event_type="newsletter_signup")
        if route == "fast path":
            return post(client, body)
        with client.application.app_context():
            owner = db.session.get(CampaignLink, uuid.UUID(attributed[0])).user_id
        key = api_key_for(owner)
        return client.post("/api/conversions", json=body, headers={"Authorization": f"Bearer {key}"})


def test_the_app_clock_setting_follows_the_app_host(make_app, creator, make_link, make_click):
    """CONVERSION_CLOCK=app (the test suite's): the host's clock decides, on either database."""
    app = make_app(CONVERSION_CLOCK="app")
    link_id = make_link(creator()[0])
    clicked_at = datetime(2026, 3, 1, 12, tzinfo=timezone.utc)
    attributed = (link_id, make_click(link_id, clicked_at=clicked_at))
    with time_machine.travel(clicked_at + 31 * DAY, tick=False):
        response = post(app.test_client(), conversion(attributed, event_type="newsletter_signup"))
    assert error(response)["code"] == "attribution_window_expired"


def test_on_sqlite_the_database_clock_is_the_apps(database_clock_app, creator, make_link, make_click):
    """SQLite runs in the app's process, so with CONVERSION_CLOCK=database the app's clock (moved
    here by time-machine) still decides; on PostgreSQL the database's real clock does."""
    link_id = make_link(creator()[0])
    clicked_at = datetime.now(timezone.utc) - 10 * DAY
    attributed = (link_id, make_click(link_id, clicked_at=clicked_at))
    with time_machine.travel(clicked_at + 31 * DAY, tick=False):  # 21 days from now
        response = post(database_clock_app.test_client(), conversion(attributed, event_type="newsletter_signup"))
    with database_clock_app.app_context():
        on_postgresql = db.engine.dialect.name == "postgresql"
    if on_postgresql:
        assert response.status_code == 201 and response.get_json()["days_since_click"] == 10
    else:
        assert error(response)["code"] == "attribution_window_expired"


@pytest.mark.postgresql
def test_the_per_visitor_limit_counts_by_the_database_clock_too(make_app, click_at, creator):
    """CONVERSION_RATE_LIMIT_PER_TRACKING_ID looks back a minute from the database's time: a host a
    day fast would otherwise see no recent conversion and never refuse."""
    app = make_app(
        CONVERSION_CLOCK="database", RATELIMIT_ENABLED=True, CONVERSION_RATE_LIMIT_PER_TRACKING_ID="2 per minute"
    )
    attributed = click_at(DAY)
    client = app.test_client()
    with time_machine.travel(datetime.now(timezone.utc) + DAY, tick=True):
        codes = [
            post(client, conversion(attributed, event_type="purchase", revenue_amount=5)).status_code for _ in range(3)
        ]
    assert codes == [201, 201, 429]
