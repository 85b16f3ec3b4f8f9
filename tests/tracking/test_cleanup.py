"""Attribution cleanup (DESIGN.md §6) on crafted data: windows, idempotency keys, PII, retention."""

import uuid
from datetime import datetime, timedelta, timezone

import pytest
import time_machine
from sqlalchemy import select

from linktrack.extensions import db
from linktrack.models import ClickEvent, ConversionEvent
from linktrack.tracking.cleanup import referrer_origin
from tests.support.counting import convert, recounted, snapshot
from tests.support.forms import form_post
from tests.support.redirect import CHROME_WINDOWS, click_from_youtube, create_link, update_link

T0 = datetime(2026, 3, 2, 9, 30, tzinfo=timezone.utc)
NOTHING = {
    "conversions_outside_window_removed": 0,
    "conversions_past_retention_removed": 0,
    "idempotency_keys_cleared": 0,
    "clicks_anonymised": 0,
    "links_recounted": 0,
    "finished": True,
}


def cleanup(client, key: str) -> dict:
    response = client.post("/api/conversions/cleanup", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def event_ids(app, link_id) -> dict:
    with app.app_context():
        rows = db.session.execute(
            select(ConversionEvent.converted_at, ConversionEvent.event_id)
            .where(ConversionEvent.campaign_link_id == link_id)
            .order_by(ConversionEvent.converted_at)
        )
        return {converted_at: event_id for converted_at, event_id in rows}


@pytest.fixture
def shortened_window(app, client, creator):
    """A creator whose link had a 30-day window, with conversions on days 5, 10 (23 h in) and 11,
    then shortened to 10 days; and another creator with the same shape."""
    made = {}
    for who in ("owner", "other"):
        user_id = creator()[0]
        link = create_link(app, user_id)
        with time_machine.travel(T0, tick=False):
            tracking_id = click_from_youtube(client, link["short_code"])
        for offset, event_id in (
            (timedelta(days=5), "a"),
            (timedelta(days=10, hours=23), "b"),
            (timedelta(days=11), "c"),
        ):
            with time_machine.travel(T0 + offset, tick=False):
                convert(client, link["id"], tracking_id, "purchase", revenue="20.00", event_id=event_id)
        update_link(app, link["id"], attribution_window_days=10)
        made[who] = {"user_id": user_id, "link_id": link["id"], "tracking_id": tracking_id}
    return made


def test_anonymous_callers_are_refused(client):
    response = client.post("/api/conversions/cleanup")
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "unauthorized"


def test_conversions_past_the_shortened_window_go_and_the_rest_stay(app, client, api_key_for, shortened_window):
    owner, other = shortened_window["owner"], shortened_window["other"]
    key = api_key_for(owner["user_id"])
    with time_machine.travel(T0 + timedelta(days=12), tick=False):
        assert cleanup(client, key) == {**NOTHING, "conversions_outside_window_removed": 1, "links_recounted": 1}
        assert snapshot(app) == recounted(app)
        assert cleanup(client, key) == NOTHING  # the second run changes nothing

    assert list(event_ids(app, owner["link_id"])) == [T0 + timedelta(days=5), T0 + timedelta(days=10, hours=23)]
    assert len(event_ids(app, other["link_id"])) == 3  # another creator's data is untouched


def test_idempotency_keys_are_kept_a_week_past_the_window_then_cleared(app, client, api_key_for, shortened_window):
    owner = shortened_window["owner"]
    key = api_key_for(owner["user_id"])
    replay = {"tracking_id": owner["tracking_id"], "campaign_link_id": str(owner["link_id"])}
    with time_machine.travel(T0 + timedelta(days=17, hours=23), tick=False):
        assert cleanup(client, key)["idempotency_keys_cleared"] == 0
        # Still within the margin: a replay answers with the stored conversion.
        answer = convert(client, owner["link_id"], owner["tracking_id"], "purchase", revenue="20.00", event_id="a")
        assert answer.status_code == 200
    with time_machine.travel(T0 + timedelta(days=18), tick=False):
        assert cleanup(client, key) == {**NOTHING, "idempotency_keys_cleared": 2}
        assert cleanup(client, key) == NOTHING
        late = client.post(
            "/api/conversions",
            json={**replay, "event_type": "purchase", "revenue_amount": "20.00", "event_id": "a"},
            headers={"Origin": "https://academy.example.com"},
        )
    assert late.status_code == 422
    assert late.get_json()["error"]["code"] == "attribution_window_expired"
    assert set(event_ids(app, owner["link_id"]).values()) == {None}
    assert set(event_ids(app, shortened_window["other"]["link_id"]).values()) == {"a", "b", "c"}


def test_clicks_lose_personal_data_after_the_retention_period(app, client, api_key_for, shortened_window):
    owner = shortened_window["owner"]
    key = api_key_for(owner["user_id"])

    def click(tracking_id):
        with app.app_context():
            return db.session.scalar(select(ClickEvent).where(ClickEvent.tracking_id == uuid.UUID(tracking_id)))

    with time_machine.travel(T0 + timedelta(days=90), tick=False):
        assert cleanup(client, key)["clicks_anonymised"] == 0  # exactly 90 days old: kept
    kept = click(owner["tracking_id"])
    assert kept.user_agent == CHROME_WINDOWS and kept.ip_hash

    with time_machine.travel(T0 + timedelta(days=90, seconds=1), tick=False):
        assert cleanup(client, key)["clicks_anonymised"] == 1
        assert cleanup(client, key)["clicks_anonymised"] == 0
    stripped = click(owner["tracking_id"])
    assert (stripped.user_agent, stripped.ip_hash, stripped.referrer) == (None, None, "https://www.youtube.com")
    assert (stripped.device_type, stripped.browser) == (kept.device_type, kept.browser)
    assert click(shortened_window["other"]["tracking_id"]).user_agent == CHROME_WINDOWS


def test_valid_conversions_go_only_after_the_retention_period_the_creator_chose(app, client, register, api_key_for):
    email = register()
    with app.app_context():
        from linktrack.models import User

        owner = User.by_email(email).id
    link = create_link(app, owner)
    with time_machine.travel(T0, tick=False):
        tracking_id = click_from_youtube(client, link["short_code"])
    for day in (1, 20):
        with time_machine.travel(T0 + timedelta(days=day), tick=False):
            convert(client, link["id"], tracking_id, "course_enrollment", event_id=f"day-{day}")

    assert "conversions are kept for good" in client.get("/settings").get_data(as_text=True)
    key = api_key_for(owner)
    with time_machine.travel(T0 + timedelta(days=60), tick=False):
        # No retention period: both valid conversions stay (only their stale replay keys go).
        assert cleanup(client, key) == {**NOTHING, "idempotency_keys_cleared": 2}

    refused = form_post(client, "/settings", {"retention_days": "7"}, action="/settings/retention")
    assert refused.status_code == 422
    assert "Use between 30 and 3650 days" in refused.get_data(as_text=True)
    saved = form_post(
        client, "/settings", {"retention_days": "50"}, action="/settings/retention", follow_redirects=True
    )
    assert "Conversions older than 50 days will be removed" in saved.get_data(as_text=True)
    assert "conversions are kept for 50 days" in saved.get_data(as_text=True)

    with time_machine.travel(T0 + timedelta(days=60), tick=False):
        assert cleanup(client, key) == {**NOTHING, "conversions_past_retention_removed": 1, "links_recounted": 1}
        assert snapshot(app) == recounted(app)
    assert list(event_ids(app, link["id"])) == [T0 + timedelta(days=20)]

    cleared = form_post(
        client, "/settings", {"retention_days": ""}, action="/settings/retention", follow_redirects=True
    )
    assert "Conversions are kept for good." in cleared.get_data(as_text=True)


@pytest.mark.parametrize(
    ("referrer", "origin"),
    [
        ("https://www.youtube.com/watch?v=x", "https://www.youtube.com"),
        ("https://user:pw@Example.com:8443/a#b", "https://example.com:8443"),
        ("https://example.com", "https://example.com"),
        ("android-app://com.google.android.youtube/", "android-app://com.google.android.youtube"),
        ("not a url", None),
        ("", None),
    ],
)
def test_a_referrer_keeps_only_its_origin(referrer, origin):
    assert referrer_origin(referrer) == origin


def test_small_batches_reach_every_row(app, client, creator, api_key_for):
    """Each batch is its own transaction; the loops must still reach every row, once."""
    app.config["CLEANUP_BATCH_SIZE"] = 2
    user_id = creator()[0]
    link = create_link(app, user_id)
    with time_machine.travel(T0, tick=False):
        tracking_ids = [click_from_youtube(client, link["short_code"]) for _ in range(5)]
    with time_machine.travel(T0 + timedelta(days=11), tick=False):
        for number, tracking_id in enumerate(tracking_ids):
            convert(client, link["id"], tracking_id, "purchase", revenue="5.00", event_id=f"n{number}")
    update_link(app, link["id"], attribution_window_days=10)
    key = api_key_for(user_id)
    with time_machine.travel(T0 + timedelta(days=91), tick=False):
        assert cleanup(client, key) == {
            **NOTHING,
            "conversions_outside_window_removed": 5,
            "clicks_anonymised": 5,
            "links_recounted": 1,
        }
        assert cleanup(client, key) == NOTHING
        assert snapshot(app) == recounted(app)


def nightly(app, now: datetime) -> dict:
    """The nightly job's run for every creator, at `now`."""
    from linktrack.tracking.cleanup import run_cleanup

    with app.app_context(), time_machine.travel(now, tick=False):
        return run_cleanup().as_dict()


def personal_clicks(app) -> list:
    with app.app_context():
        rows = db.session.execute(
            select(ClickEvent.clicked_at).where(ClickEvent.user_agent.is_not(None)).order_by(ClickEvent.clicked_at)
        )
        return [clicked_at for (clicked_at,) in rows]


def test_the_nightly_run_strips_each_click_once_month_after_month(app, client, creator):
    """Clicks in three months (three partitions on PostgreSQL), walked in small batches: each run
    strips exactly the clicks that passed retention since the run before, and keeps its place."""
    app.config["CLEANUP_BATCH_SIZE"] = 2
    link = create_link(app, creator()[0])
    moments = [T0 + timedelta(days=day, hours=hour) for day in (0, 20, 31, 45, 62) for hour in (0, 5)]
    for moment in moments:
        with time_machine.travel(moment, tick=False):
            click_from_youtube(client, link["short_code"])

    retention = timedelta(days=90)
    first = nightly(app, T0 + timedelta(days=31) + retention + timedelta(hours=1))
    assert (first["clicks_anonymised"], first["finished"]) == (5, True)  # days 0 and 20, and 31's first
    assert personal_clicks(app) == moments[5:]
    with app.app_context():
        from linktrack.models import CleanupCursor

        assert db.session.get(CleanupCursor, "click_anonymisation").clicked_at == moments[4]

    assert nightly(app, T0 + timedelta(days=31) + retention + timedelta(hours=2))["clicks_anonymised"] == 0
    assert nightly(app, T0 + timedelta(days=70) + retention)["clicks_anonymised"] == 5
    assert personal_clicks(app) == []


def test_a_run_out_of_time_says_so_and_the_next_run_goes_on(app, client, creator):
    app.config["CLEANUP_BATCH_SIZE"] = 2
    link = create_link(app, creator()[0])
    for hour in range(3):
        with time_machine.travel(T0 + timedelta(hours=hour), tick=False):
            click_from_youtube(client, link["short_code"])

    app.config["CLEANUP_MAX_SECONDS"] = 0  # spent before its first batch
    assert nightly(app, T0 + timedelta(days=100)) == {**NOTHING, "finished": False}
    assert len(personal_clicks(app)) == 3

    app.config["CLEANUP_MAX_SECONDS"] = 300
    assert nightly(app, T0 + timedelta(days=100)) == {**NOTHING, "clicks_anonymised": 3}
    assert personal_clicks(app) == []
