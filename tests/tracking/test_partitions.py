"""Clicks by tracking id across monthly partitions (PostgreSQL) and in SQLite's one table: UUIDv7
ids from the redirect, UUIDv4 ids from before migration 0015, and months without a partition."""

import uuid
from datetime import datetime, timedelta, timezone

import pytest
import time_machine
from sqlalchemy import text

from linktrack.extensions import db
from linktrack.tracking.partitions import create_click_partitions
from tests.support.counting import convert
from tests.support.redirect import click_from_youtube, create_link

FAR_MONTH = datetime(2031, 5, 14, 12, 0, tzinfo=timezone.utc)  # no partition of its own until made


def attribution(client, key: str, tracking_id: str):
    return client.get(f"/api/conversions/attribution/{tracking_id}", headers={"Authorization": f"Bearer {key}"})


def test_a_click_with_an_old_uuid4_tracking_id_still_converts_and_attributes(
    app, client, creator, api_key_for, make_click
):
    user_id = creator()[0]
    link = create_link(app, user_id)
    clicked_at = datetime.now(timezone.utc) - timedelta(days=2)
    tracking_id = make_click(str(link["id"]), tracking_id=uuid.uuid4(), id=uuid.uuid4(), clicked_at=clicked_at)

    convert(client, link["id"], tracking_id, "purchase", revenue="12.50", event_id="order-1")  # asserts 201

    found = attribution(client, api_key_for(user_id), tracking_id)
    assert found.status_code == 200
    assert found.get_json()["days_since_click"] == 2
    assert [c["revenue_amount"] for c in found.get_json()["conversions"]] == ["12.50"]


def test_a_click_in_the_last_instant_of_a_month_converts_the_next_day(app, client, creator):
    """Its tracking id holds its time to the millisecond (23:59:59.999); its clicked_at is later
    within that millisecond: the lookup's bounds still take in the month it lies in."""
    link = create_link(app, creator()[0])
    with time_machine.travel(datetime(2027, 1, 31, 23, 59, 59, 999_900, tzinfo=timezone.utc), tick=False):
        tracking_id = click_from_youtube(client, link["short_code"])
    with time_machine.travel(datetime(2027, 2, 1, 8, 0, tzinfo=timezone.utc), tick=False):
        convert(client, link["id"], tracking_id, "newsletter_signup", event_id="late-night")  # asserts 201


@pytest.mark.postgresql
def test_a_lookup_by_a_uuid7_tracking_id_reads_one_partition(app):
    """What makes the partitions pay: the plan of find_click's condition scans one partition; an
    old UUIDv4 id asks every partition's index."""
    from sqlalchemy import select

    from linktrack.models import ClickEvent
    from linktrack.models.events import time_ordered_id

    def scanned(tracking_id) -> set:
        query = select(ClickEvent.id).where(ClickEvent.with_tracking_id(tracking_id))
        compiled = query.compile(db.engine, compile_kwargs={"literal_binds": True})
        plan = db.session.execute(text(f"EXPLAIN {compiled}")).scalars().all()
        words = [line.split() for line in plan]
        return {line[i + 1] for line in words for i, word in enumerate(line[:-1]) if word == "on"}

    with app.app_context():
        partitions = db.session.execute(
            text("SELECT count(*) FROM pg_inherits WHERE inhparent = 'click_events'::regclass")
        ).scalar_one()
        assert partitions >= 4  # before the migration's month, two months ahead, default
        assert len(scanned(time_ordered_id(datetime(2027, 1, 15, tzinfo=timezone.utc)))) == 1
        assert len(scanned(uuid.uuid4())) == partitions


def partition_of(tracking_id: str) -> str:
    return db.session.execute(
        text("SELECT tableoid::regclass::text FROM click_events WHERE tracking_id = :id"), {"id": tracking_id}
    ).scalar_one()


@pytest.mark.postgresql
def test_a_click_in_a_month_without_a_partition_is_kept_found_and_moved_to_its_month(app, client, creator, api_key_for):
    user_id = creator()[0]
    link = create_link(app, user_id)
    made = []
    try:
        with time_machine.travel(FAR_MONTH, tick=False):
            tracking_id = click_from_youtube(client, link["short_code"])
        with app.app_context():
            assert partition_of(tracking_id) == "click_events_default"
        with time_machine.travel(FAR_MONTH + timedelta(days=1), tick=False):
            assert attribution(client, api_key_for(user_id), tracking_id).status_code == 200

        with app.app_context(), time_machine.travel(FAR_MONTH, tick=False):
            made = create_click_partitions()
            assert made == ["click_events_y2031m05", "click_events_y2031m06", "click_events_y2031m07"]
            assert create_click_partitions() == []  # every host's cron may run it: nothing twice
            assert partition_of(tracking_id) == "click_events_y2031m05"
            assert db.session.execute(text("SELECT count(*) FROM click_events_default")).scalar_one() == 0
        with time_machine.travel(FAR_MONTH + timedelta(days=2), tick=False):
            convert(client, link["id"], tracking_id, "newsletter_signup", event_id="signup")
            assert len(attribution(client, api_key_for(user_id), tracking_id).get_json()["conversions"]) == 1
    finally:
        with app.app_context():
            db.session.remove()
            with db.engine.begin() as connection:
                for name in made:
                    connection.execute(text(f"DROP TABLE {name}"))


def test_flask_partitions_makes_the_months_ahead_once(app, database_url):
    runner = app.test_cli_runner()
    if not database_url.startswith("postgresql"):
        assert "no partitions to make" in runner.invoke(args=["partitions"]).output
        return
    try:
        with time_machine.travel(FAR_MONTH, tick=False):
            first = runner.invoke(args=["partitions"])
            again = runner.invoke(args=["partitions"])
    finally:
        with app.app_context(), db.engine.begin() as connection:
            for name in ("click_events_y2031m05", "click_events_y2031m06", "click_events_y2031m07"):
                connection.execute(text(f"DROP TABLE IF EXISTS {name}"))
    assert first.exit_code == 0
    assert first.output == "Partitions created: click_events_y2031m05, click_events_y2031m06, click_events_y2031m07.\n"
    assert again.output == "Every partition needed exists already.\n"


@pytest.mark.parametrize(
    "made_up", ["ffffffff-ffff-7fff-bfff-ffffffffffff", "00000000-0000-7000-8000-000000000000"], ids=["last", "first"]
)
def test_a_made_up_uuid7_of_any_time_is_an_unknown_tracking_id(app, client, creator, api_key_for, made_up):
    """The time a UUIDv7 claims can lie past anything a date holds (the year 10889): still a 422 for
    the landing page and a 404 for the owner, never a 500."""
    user_id = creator()[0]
    link = create_link(app, user_id)
    body = {"tracking_id": made_up, "campaign_link_id": str(link["id"]), "event_type": "newsletter_signup"}
    response = client.post("/api/conversions", json=body, headers={"Origin": "https://academy.example.com"})
    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == "unknown_tracking_id"
    assert attribution(client, api_key_for(user_id), made_up).status_code == 404
