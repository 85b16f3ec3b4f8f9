"""GET /api/conversions/funnel/<id> and /types/<id>: numbers against the hand-computed shop."""

import uuid

import pytest
import time_machine

from tests.support.forms import form_post
from tests.support.reports import NOW, build_shop


@pytest.fixture
def shop(app, creator):
    with time_machine.travel(NOW, tick=False):
        yield build_shop(app, creator)


@pytest.fixture
def alice(app, shop, api_key_for):
    """Alice's API client: her Bearer key on every call."""
    key = api_key_for(shop.alice_id)
    client = app.test_client()

    def get(path, **kwargs):
        return client.get(path, headers={"Authorization": f"Bearer {key}"}, **kwargs)

    return get


def test_the_funnel_counts_clicks_then_distinct_visitors_per_stage(alice, shop):
    response = alice(f"/api/conversions/funnel/{shop.alpha}")

    assert response.status_code == 200
    assert response.get_json() == {
        "campaign_link_id": shop.alpha,
        "window_days": 30,
        "from": "2026-03-02",
        "to": "2026-03-31",
        "stages": [
            # Four clicks by people (one a repeat visit); the two bots are left out.
            {"stage": "clicks", "count": 4},
            # Two visitors signed up (one of them twice).
            {"stage": "newsletter_signup", "count": 2, "rate": 0.5},
            {"stage": "course_enrollment", "count": 1, "rate": 0.5},
            # Two buyers: one bought twice; one clicked 30 days 23.5 hours before buying (in the window)
            # and skipped the earlier steps, so this step passes 100%.
            {"stage": "purchase", "count": 2, "rate": 2.0},
        ],
        "total_revenue": "368.99",
        "revenue_by_currency": {"USD": "368.99"},
        "main_currency": "USD",
    }


def test_revenue_by_type_counts_every_conversion(alice, shop):
    body = alice(f"/api/conversions/types/{shop.alpha}").get_json()

    assert body == {
        "campaign_link_id": shop.alpha,
        "from": "2026-03-02",
        "to": "2026-03-31",
        "types": [
            {"event_type": "newsletter_signup", "count": 3, "revenue": "0.00", "revenue_by_currency": {}},
            {
                "event_type": "course_enrollment",
                "count": 1,
                "revenue": "199.00",
                "revenue_by_currency": {"USD": "199.00"},
            },
            {"event_type": "purchase", "count": 3, "revenue": "169.99", "revenue_by_currency": {"USD": "169.99"}},
        ],
        "total_revenue": "368.99",
        "revenue_by_currency": {"USD": "368.99"},
        "main_currency": "USD",
        "sources": [
            {"source": "browser", "count": 6, "revenue": "268.99", "revenue_by_currency": {"USD": "268.99"}},
            {"source": "server", "count": 1, "revenue": "100.00", "revenue_by_currency": {"USD": "100.00"}},
        ],
    }


def test_a_rate_after_an_empty_stage_is_null(alice, shop):
    body = alice(f"/api/conversions/funnel/{shop.bravo}?from=2026-03-02&to=2026-03-02").get_json()

    assert body["stages"] == [
        {"stage": "clicks", "count": 0},
        {"stage": "newsletter_signup", "count": 0, "rate": None},
        {"stage": "course_enrollment", "count": 0, "rate": None},
        {"stage": "purchase", "count": 1, "rate": None},
    ]
    assert body["total_revenue"] == "10.00"


@pytest.mark.parametrize(
    ("query", "clicks", "purchases", "revenue"),
    [
        # The click at 23:59:59 UTC on 1 Mar belongs to 1 Mar; its purchase at 00:00:00 on 2 Mar to 2 Mar.
        ("from=2026-03-01&to=2026-03-01", 1, 0, "0.00"),
        ("from=2026-03-02&to=2026-03-02", 0, 1, "10.00"),
        ("from=2026-03-01&to=2026-03-02", 1, 1, "10.00"),
        ("from=2026-03-31&to=2026-03-31", 1, 0, "0.00"),
        ("", 1, 1, "10.00"),  # the last 30 days: 2 Mar to 31 Mar
        ("range=7d", 1, 0, "0.00"),
        ("range=all", 2, 1, "10.00"),
    ],
)
def test_days_are_whole_utc_days_both_ends_included(alice, shop, query, clicks, purchases, revenue):
    body = alice(f"/api/conversions/funnel/{shop.bravo}?{query}").get_json()

    assert body["stages"][0]["count"] == clicks
    assert body["stages"][3]["count"] == purchases
    assert body["total_revenue"] == revenue


def test_all_time_starts_at_the_links_first_day(alice, shop):
    body = alice(f"/api/conversions/types/{shop.alpha}?range=all").get_json()
    assert (body["from"], body["to"]) == ("2026-02-19", "2026-03-31")


@pytest.mark.parametrize(
    ("query", "code", "field"),
    [
        ("from=2026-3-1", "invalid_date", "from"),
        ("from=yesterday", "invalid_date", "from"),
        ("to=2026-02-30", "invalid_date", "to"),
        ("from=1999-12-31", "invalid_date", "from"),
        ("from=2026-03-10&to=2026-03-01", "invalid_range", "to"),
        ("from=2000-01-01&to=2026-03-01", "invalid_range", "from"),
        ("range=forever", "invalid_range", "range"),
    ],
)
def test_a_bad_range_answers_400_naming_the_field(alice, shop, query, code, field):
    for endpoint in ("funnel", "types"):
        response = alice(f"/api/conversions/{endpoint}/{shop.alpha}?{query}")
        assert response.status_code == 400
        error = response.get_json()["error"]
        assert (error["code"], error["field"]) == (code, field)
        assert error["message"]


def test_a_signed_in_browser_session_may_read_them_too(app, shop):
    browser = app.test_client()
    assert form_post(browser, "/login", {"email": shop.alice_email, "password": shop.password}).status_code == 302
    assert browser.get(f"/api/conversions/funnel/{shop.alpha}").get_json()["stages"][0]["count"] == 4
    assert browser.get(f"/api/conversions/types/{shop.alpha}").get_json()["total_revenue"] == "368.99"


@pytest.mark.parametrize("endpoint", ["funnel", "types"])
def test_another_creators_link_and_malformed_ids_answer_404(alice, shop, endpoint):
    for link_id in (shop.bob_link, str(uuid.uuid4()), "not-a-uuid", "1"):
        response = alice(f"/api/conversions/{endpoint}/{link_id}")
        assert response.status_code == 404
        assert response.get_json()["error"]["code"] == "not_found"
        assert "999" not in response.get_data(as_text=True)


@pytest.mark.parametrize("endpoint", ["funnel", "types"])
def test_anonymous_and_bad_keys_answer_401(app, shop, endpoint):
    client = app.test_client()
    for headers in ({}, {"Authorization": "Bearer lt_not_a_key"}):
        response = client.get(f"/api/conversions/{endpoint}/{shop.alpha}", headers=headers)
        assert response.status_code == 401
        assert response.get_json()["error"]["code"] in ("unauthorized", "invalid_api_key")


@pytest.mark.parametrize("endpoint", ["funnel", "types"])
def test_the_reports_answer_other_origins_as_the_conversions_api_does(app, shop, api_key_for, endpoint):
    """Under /api/conversions, so with its CORS answer: the caller's Origin echoed, Vary: Origin."""
    key = api_key_for(shop.alice_id)
    headers = {"Authorization": f"Bearer {key}", "Origin": "https://dashboard.example.com"}
    response = app.test_client().get(f"/api/conversions/{endpoint}/{shop.alpha}", headers=headers)
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "https://dashboard.example.com"
    assert "Origin" in response.headers["Vary"]
