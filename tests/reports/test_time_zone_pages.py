"""Report pages, JSON and CSV count whole days in the creator's time zone, and "today" is today
there: a creator in Los Angeles sees yesterday's evening (in UTC, today's) as today."""

import csv
import io
from datetime import datetime, timezone

import pytest
import time_machine
from sqlalchemy import update

from linktrack.auth.service import register_user
from linktrack.extensions import db
from linktrack.models import User
from tests.support.counting import convert, visit
from tests.support.forms import form_post
from tests.support.pages import visible_text
from tests.support.redirect import create_link
from tests.support.reports import text_of

ZONE = "America/Los_Angeles"
PASSWORD = "correct horse battery"
# 30 Mar 2026, 21:00 in Los Angeles (PDT, -7): already 31 Mar in UTC.
EVENING = datetime(2026, 3, 31, 4, 0, tzinfo=timezone.utc)
NOW = datetime(2026, 3, 31, 5, 0, tzinfo=timezone.utc)  # 22:00 on 30 Mar there


@pytest.fixture
def angeleno(app):
    """(logged-in client, link, user id) of a creator in Los Angeles with a click and a purchase on
    the evening of 30 Mar, local time."""
    with app.app_context():
        user_id = register_user("la@example.com", PASSWORD, ZONE).id
    link = create_link(app, user_id)
    viewer = app.test_client()
    with time_machine.travel(EVENING, tick=False):
        convert(viewer, link["id"], visit(viewer, link["short_code"]), "purchase", 25)
    client = app.test_client()
    with time_machine.travel(NOW, tick=False):  # sessions end: log in when the pages are read
        assert form_post(client, "/login", {"email": "la@example.com", "password": PASSWORD}).status_code == 302
    return client, link, user_id


def page(client, path: str) -> str:
    with time_machine.travel(NOW, tick=False):
        response = client.get(path)
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    return response.get_data(as_text=True)


def test_today_and_the_default_range_are_the_creators_days(angeleno):
    client, _, _ = angeleno
    text = visible_text(page(client, "/dashboard"))
    assert f"Last 30 days · 1 Mar – 30 Mar 2026 ({ZONE})" in text  # in UTC it would end on 31 Mar
    assert f"Whole days in {ZONE}, both ends included." in text
    assert text_of(page(client, "/dashboard?range=7d"), "total-clicks") == "1"


def test_a_typed_day_is_a_whole_day_in_the_zone(angeleno):
    client, link, _ = angeleno
    assert text_of(page(client, "/dashboard?from=2026-03-30&to=2026-03-30"), "total-clicks") == "1"
    report = page(client, f"/links/{link['id']}/report?from=2026-03-30&to=2026-03-30")
    assert text_of(report, "total-clicks") == "1"
    assert "$25.00" in visible_text(report)  # its conversions by source read raw events between local midnights


def test_the_csv_counts_the_creators_days(angeleno):
    client, link, _ = angeleno
    with time_machine.travel(NOW, tick=False):
        response = client.get("/reports/funnel.csv?group=link&from=2026-03-30&to=2026-03-30")
    assert response.status_code == 200
    assert "2026-03-30-to-2026-03-30" in response.headers["Content-Disposition"]
    header, row = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert dict(zip(header, row, strict=True))["clicks"] == "1"
    assert row[0] == link["short_code"] or link["short_code"] in ",".join(row)


def test_the_json_reports_count_the_creators_days(app, angeleno, api_key_for):
    _, link, user_id = angeleno
    key = api_key_for(user_id)
    with time_machine.travel(NOW, tick=False):
        funnel = app.test_client().get(
            f"/api/conversions/funnel/{link['id']}", headers={"Authorization": f"Bearer {key}"}
        )
        me = app.test_client().get("/api/me", headers={"Authorization": f"Bearer {key}"})
        # Per source, read from the raw conversions between the zone's midnights.
        types = {
            day: app.test_client()
            .get(f"/api/conversions/types/{link['id']}?from={day}&to={day}", headers={"Authorization": f"Bearer {key}"})
            .get_json()
            for day in ("2026-03-30", "2026-03-31")
        }
    assert (funnel.get_json()["from"], funnel.get_json()["to"]) == ("2026-03-01", "2026-03-30")
    assert funnel.get_json()["stages"][0] == {"stage": "clicks", "count": 1}
    assert me.get_json()["time_zone"] == ZONE
    assert sum(source["count"] for source in types["2026-03-30"]["sources"]) == 1
    assert sum(source["count"] for source in types["2026-03-31"]["sources"]) == 0
    assert types["2026-03-31"]["total_revenue"] == "0.00"


def test_pages_say_when_the_days_are_being_recounted(app, angeleno):
    client, _, user_id = angeleno
    with app.app_context():
        db.session.execute(update(User).where(User.id == user_id).values(counted_time_zone="UTC"))
        db.session.commit()
    text = visible_text(page(client, "/dashboard"))
    assert f"Recounting your reports in {ZONE}" in text
