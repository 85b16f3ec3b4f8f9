"""POST /api/conversions: every rule of DESIGN.md §6 and its error code, replays, CORS, limits."""

import gzip
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine

from tests.support.conversions import ORIGIN, T0, conversion, error, post, stored_count


@pytest.fixture
def owner(creator):
    return creator()


@pytest.fixture
def attributed(owner, make_link, make_click):
    """A link of `owner` and one click on it made at T0: (link_id, tracking_id)."""
    link_id = make_link(owner[0])
    tracking_id = make_click(link_id, clicked_at=T0)
    return link_id, tracking_id


@pytest.fixture
def at_day_one():
    with time_machine.travel(T0 + timedelta(days=1), tick=False):
        yield


@pytest.mark.usefixtures("at_day_one")
class TestRecording:
    def test_purchase_is_stored_and_returned(self, client, app, attributed):
        r = post(client, conversion(attributed, event_type="purchase", revenue_amount=49.99, event_id="order-1"))
        assert r.status_code == 201
        body = r.get_json()
        assert body["event_type"] == "purchase"
        assert body["revenue_amount"] == "49.99"
        assert body["currency"] == "USD"
        assert body["source"] == "browser"
        assert body["days_since_click"] == 1
        assert body["warnings"] == []
        assert body["tracking_id"] == attributed[1]
        assert body["window_expires_at"].startswith("2026-04-01T12:00:00")
        assert r.headers["Access-Control-Allow-Origin"] == ORIGIN
        assert stored_count(app) == 1

    def test_replay_with_same_event_id_answers_200_and_stores_nothing(self, client, app, attributed):
        body = conversion(attributed, event_type="purchase", revenue_amount="19.00", event_id="evt-42")
        first = post(client, body)
        again = post(client, body)
        assert (first.status_code, again.status_code) == (201, 200)
        assert again.get_json()["id"] == first.get_json()["id"]
        assert stored_count(app) == 1

    def test_same_event_id_on_another_click_is_a_new_conversion(self, client, app, owner, make_link, make_click):
        link_id = make_link(owner[0])
        first, second = make_click(link_id, clicked_at=T0), make_click(link_id, clicked_at=T0)
        for tracking_id in (first, second):
            r = post(
                client,
                {
                    "tracking_id": tracking_id,
                    "campaign_link_id": link_id,
                    "event_type": "newsletter_signup",
                    "event_id": "same",
                },
            )
            assert r.status_code == 201
        assert stored_count(app) == 2

    def test_revenue_as_numeric_string(self, client, attributed):
        r = post(client, conversion(attributed, event_type="purchase", revenue_amount="1234.5"))
        assert r.status_code == 201
        assert r.get_json()["revenue_amount"] == "1234.50"

    def test_enrollment_without_revenue_and_with_revenue(self, client, attributed):
        assert post(client, conversion(attributed, event_type="course_enrollment")).status_code == 201
        r = post(client, conversion(attributed, event_type="course_enrollment", revenue_amount=99))
        assert r.status_code == 201 and r.get_json()["revenue_amount"] == "99.00"

    def test_signup_with_revenue_is_accepted_with_a_warning(self, client, attributed):
        r = post(client, conversion(attributed, event_type="newsletter_signup", revenue_amount=5))
        assert r.status_code == 201
        assert "Newsletter signups" in r.get_json()["warnings"][0]

    def test_huge_revenue_is_accepted_with_a_warning(self, client, attributed):
        r = post(client, conversion(attributed, event_type="purchase", revenue_amount=25000))
        assert r.status_code == 201
        assert r.get_json()["revenue_amount"] == "25000.00"
        assert any("unusual" in w for w in r.get_json()["warnings"])

    def test_currency_is_upper_cased_and_event_data_kept(self, client, attributed):
        r = post(
            client,
            conversion(
                attributed,
                event_type="purchase",
                revenue_amount=10,
                currency="eur",
                event_data={"plan": "pro", "coupon": None},
            ),
        )
        assert r.status_code == 201
        assert r.get_json()["currency"] == "EUR"
        assert r.get_json()["event_data"] == {"plan": "pro", "coupon": None}

    def test_a_browser_call_without_origin_is_refused(self, client, app, attributed):
        """Issue 13 item 4: before, a call with no Origin skipped the origin check (201)."""
        r = post(client, conversion(attributed, event_type="newsletter_signup"), origin=None)
        assert r.status_code == 403
        assert (error(r)["code"], error(r)["field"]) == ("origin_required", "origin")
        assert stored_count(app) == 0


@pytest.mark.usefixtures("at_day_one")
class TestRefusals:
    @pytest.mark.parametrize(
        ("change", "status", "code", "field"),
        [
            ({"tracking_id": None}, 400, "missing_tracking_id", "tracking_id"),
            ({"tracking_id": "not-a-uuid"}, 400, "invalid_tracking_id", "tracking_id"),
            ({"tracking_id": 12345}, 400, "invalid_tracking_id", "tracking_id"),
            ({"campaign_link_id": ""}, 400, "missing_campaign_link_id", "campaign_link_id"),
            ({"campaign_link_id": "xyz"}, 400, "invalid_campaign_link_id", "campaign_link_id"),
            ({"event_type": None}, 400, "missing_event_type", "event_type"),
            ({"event_type": "refund"}, 400, "invalid_event_type", "event_type"),
            ({"revenue_amount": None}, 422, "revenue_required", "revenue_amount"),
            ({"revenue_amount": 0}, 422, "revenue_not_positive", "revenue_amount"),
            ({"revenue_amount": -5}, 422, "revenue_not_positive", "revenue_amount"),
            ({"revenue_amount": "49.999"}, 400, "invalid_revenue_precision", "revenue_amount"),
            ({"revenue_amount": 0.001}, 400, "invalid_revenue_precision", "revenue_amount"),
            ({"revenue_amount": "abc"}, 400, "invalid_revenue", "revenue_amount"),
            ({"revenue_amount": True}, 400, "invalid_revenue", "revenue_amount"),
            ({"revenue_amount": [1]}, 400, "invalid_revenue", "revenue_amount"),
            ({"revenue_amount": "NaN"}, 400, "invalid_revenue", "revenue_amount"),
            ({"revenue_amount": "100000000"}, 422, "revenue_too_large", "revenue_amount"),
            ({"revenue_amount": "1e12"}, 400, "invalid_revenue", "revenue_amount"),
            ({"currency": "dollars"}, 400, "invalid_currency", "currency"),
            ({"currency": 5}, 400, "invalid_currency", "currency"),
            ({"event_data": [1, 2]}, 400, "invalid_event_data", "event_data"),
            ({"event_data": "text"}, 400, "invalid_event_data", "event_data"),
            ({"event_data": {"blob": "x" * 5000}}, 413, "event_data_too_large", "event_data"),
            ({"event_id": "has spaces"}, 400, "invalid_event_id", "event_id"),
            ({"event_id": "x" * 101}, 400, "invalid_event_id", "event_id"),
        ],
    )
    def test_each_rule_has_its_code_and_field(self, client, app, attributed, change, status, code, field):
        body = conversion(attributed, event_type="purchase", revenue_amount=49.99)
        body.update(change)
        body = {k: v for k, v in body.items() if v is not None}
        r = post(client, body)
        assert r.status_code == status, r.get_json()
        assert error(r)["code"] == code
        assert error(r)["field"] == field
        assert error(r)["message"]
        assert stored_count(app) == 0

    @pytest.mark.parametrize("amount", ["-99999999.99", "-1", 0, "0.00", -0.5])
    def test_a_signup_with_revenue_must_be_positive_too(self, client, app, attributed, amount):
        """Issue 13 item 3: a negative signup was stored (201) and lowered the link's revenue."""
        r = post(client, conversion(attributed, event_type="newsletter_signup", revenue_amount=amount))
        assert r.status_code == 422, r.get_json()
        assert (error(r)["code"], error(r)["field"]) == ("revenue_not_positive", "revenue_amount")
        assert stored_count(app) == 0

    @pytest.mark.parametrize(
        "amount", ["١٢", "１２", "5_000", "1e3", "1E3", " 12", "12 ", "+12", "12.", ".5", "0x10", "1,000", 1e-7]
    )
    def test_revenue_is_plain_ascii_digits(self, client, app, attributed, amount):
        """Issue 13 item 11: "١٢" was stored as 12.00 and "5_000" as 5000.00."""
        r = post(client, conversion(attributed, event_type="purchase", revenue_amount=amount))
        assert r.status_code == 400, r.get_json()
        assert (error(r)["code"], error(r)["field"]) == ("invalid_revenue", "revenue_amount")
        assert stored_count(app) == 0

    def test_enrollment_with_zero_revenue(self, client, attributed):
        r = post(client, conversion(attributed, event_type="course_enrollment", revenue_amount=0))
        assert (r.status_code, error(r)["code"]) == (422, "revenue_not_positive")

    def test_unknown_tracking_id(self, client, attributed):
        r = post(client, conversion(attributed, event_type="newsletter_signup", tracking_id=str(uuid.uuid4())))
        assert (r.status_code, error(r)["code"], error(r)["field"]) == (422, "unknown_tracking_id", "tracking_id")

    def test_tracking_id_of_another_link(self, client, owner, attributed, make_link):
        other_link = make_link(owner[0])
        r = post(client, conversion(attributed, event_type="newsletter_signup", campaign_link_id=other_link))
        assert r.status_code == 422
        assert (error(r)["code"], error(r)["field"]) == ("tracking_id_link_mismatch", "campaign_link_id")

    def test_not_json(self, client, attributed):
        r = client.post("/api/conversions", data="tracking_id=x", content_type="application/x-www-form-urlencoded")
        assert (r.status_code, error(r)["code"]) == (415, "unsupported_media_type")

    def test_json_that_is_not_an_object(self, client):
        r = client.post("/api/conversions", data="[1,2]", content_type="application/json")
        assert (r.status_code, error(r)["code"]) == (400, "invalid_json")
        r = client.post("/api/conversions", data="{broken", content_type="application/json")
        assert (r.status_code, error(r)["code"]) == (400, "invalid_json")

    def test_oversized_body(self, client, app, attributed):
        body = conversion(attributed, event_type="newsletter_signup", event_data={"a": "x" * 20_000})
        r = post(client, body)
        assert (r.status_code, error(r)["code"]) == (413, "payload_too_large")
        assert stored_count(app) == 0


class TestAttributionWindow:
    def test_thirty_days_and_twenty_three_hours_is_accepted(self, client, attributed):
        with time_machine.travel(T0 + timedelta(days=30, hours=23, minutes=59), tick=False):
            r = post(client, conversion(attributed, event_type="newsletter_signup"))
        assert r.status_code == 201
        assert r.get_json()["days_since_click"] == 30

    def test_thirty_one_days_is_refused(self, client, app, attributed):
        with time_machine.travel(T0 + timedelta(days=31), tick=False):
            r = post(client, conversion(attributed, event_type="purchase", revenue_amount=10))
        assert r.status_code == 422
        assert (error(r)["code"], error(r)["field"]) == ("attribution_window_expired", "tracking_id")
        assert "31 days" in error(r)["message"]
        assert stored_count(app) == 0

    def test_a_link_with_its_own_window(self, client, owner, make_link, make_click):
        link_id = make_link(owner[0], attribution_window_days=7)
        tracking_id = make_click(link_id, clicked_at=T0)
        body = {"tracking_id": tracking_id, "campaign_link_id": link_id, "event_type": "newsletter_signup"}
        with time_machine.travel(T0 + timedelta(days=7, hours=23), tick=False):
            assert post(client, body).status_code == 201
        with time_machine.travel(T0 + timedelta(days=8), tick=False):
            assert error(post(client, body))["code"] == "attribution_window_expired"

    def test_replay_after_the_window_still_answers_the_stored_conversion(self, client, attributed):
        body = conversion(attributed, event_type="newsletter_signup", event_id="signup-1")
        with time_machine.travel(T0 + timedelta(days=2), tick=False):
            first = post(client, body)
        with time_machine.travel(T0 + timedelta(days=40), tick=False):
            again = post(client, body)
        assert again.status_code == 200
        assert again.get_json()["id"] == first.get_json()["id"]


def server_post(client, key, body):
    return client.post("/api/conversions", json=body, headers={"Authorization": f"Bearer {key}"})


@pytest.mark.usefixtures("at_day_one")
class TestIdempotencyPerSource:
    def test_a_browser_cannot_claim_the_event_id_the_server_sends(self, client, app, owner, attributed, api_key_for):
        """Issue 13 item 1: the server's $500 purchase got 200 with the attacker's signup, and was lost."""
        assert (
            post(client, conversion(attributed, event_type="newsletter_signup", event_id="order-2000")).status_code
            == 201
        )
        body = conversion(attributed, event_type="purchase", revenue_amount="500.00", event_id="order-2000")
        r = server_post(client, api_key_for(owner[0]), body)
        assert r.status_code == 201, r.get_json()
        assert (r.get_json()["event_type"], r.get_json()["revenue_amount"], r.get_json()["source"]) == (
            "purchase",
            "500.00",
            "server",
        )
        assert stored_count(app) == 2

    def test_a_browser_replay_never_reads_the_servers_conversion(self, client, app, owner, attributed, api_key_for):
        """Issue 13 item 2: an anonymous call with the same ids got the server's email, phone and amount."""
        secret = {"email": "buyer@example.com", "phone": "+15550100"}
        server_body = conversion(
            attributed, event_type="purchase", revenue_amount="42.00", event_id="order-1042", event_data=secret
        )
        assert server_post(client, api_key_for(owner[0]), server_body).status_code == 201
        r = post(client, conversion(attributed, event_type="newsletter_signup", event_id="order-1042"))
        assert r.status_code == 201
        assert "buyer@example.com" not in r.get_data(as_text=True)
        assert (r.get_json()["event_type"], r.get_json()["event_data"]) == ("newsletter_signup", None)

    def test_an_identical_replay_answers_only_id_type_status_and_amount(self, client, owner, attributed, api_key_for):
        body = conversion(
            attributed, event_type="purchase", revenue_amount="42", event_id="order-7", event_data={"email": "x@y.z"}
        )
        key = api_key_for(owner[0])
        first = server_post(client, key, body)
        again = server_post(client, key, {**body, "revenue_amount": 42.0, "currency": "usd"})
        assert (first.status_code, again.status_code) == (201, 200)
        assert again.get_json() == {
            "id": first.get_json()["id"],
            "event_type": "purchase",
            "status": "duplicate",
            "revenue_amount": "42.00",
        }

    @pytest.mark.parametrize(
        "change",
        [
            {"revenue_amount": "20.00"},
            {"event_type": "course_enrollment"},
            {"currency": "EUR"},
            {"event_data": {"plan": "other"}},
        ],
    )
    def test_a_replay_with_a_different_body_is_a_conflict(self, client, app, attributed, change):
        body = conversion(
            attributed, event_type="purchase", revenue_amount="19.00", event_id="evt-9", event_data={"plan": "pro"}
        )
        assert post(client, body).status_code == 201
        r = post(client, {**body, **change})
        assert r.status_code == 409
        assert (error(r)["code"], error(r)["field"]) == ("idempotency_conflict", "event_id")
        assert "pro" not in r.get_data(as_text=True)
        assert stored_count(app) == 1


@pytest.mark.usefixtures("at_day_one")
class TestBrowserRevenueMaximum:
    @pytest.fixture
    def capped(self, owner, make_link, make_click):
        link_id = make_link(owner[0], max_browser_revenue=Decimal("100.00"))
        return link_id, make_click(link_id, clicked_at=T0)

    def test_a_browser_amount_above_the_links_maximum_is_refused(self, client, app, capped):
        r = post(client, conversion(capped, event_type="purchase", revenue_amount="100.01"))
        assert r.status_code == 422
        assert (error(r)["code"], error(r)["field"]) == ("revenue_above_link_maximum", "revenue_amount")
        assert "100.00" in error(r)["message"]
        assert stored_count(app) == 0
        assert post(client, conversion(capped, event_type="purchase", revenue_amount="100")).status_code == 201
        assert post(client, conversion(capped, event_type="newsletter_signup")).status_code == 201

    def test_the_creators_server_is_not_capped(self, client, owner, capped, api_key_for):
        r = server_post(client, api_key_for(owner[0]), conversion(capped, event_type="purchase", revenue_amount=5000))
        assert r.status_code == 201
        assert r.get_json()["revenue_amount"] == "5000.00"


@pytest.mark.usefixtures("at_day_one")
class TestCorsAndOrigins:
    def test_preflight(self, client):
        r = client.options(
            "/api/conversions",
            headers={
                "Origin": "https://anywhere.example",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type",
            },
        )
        assert r.status_code == 204
        assert r.headers["Access-Control-Allow-Origin"] == "https://anywhere.example"
        assert "POST" in r.headers["Access-Control-Allow-Methods"]
        assert "Content-Type" in r.headers["Access-Control-Allow-Headers"]
        assert "Set-Cookie" not in r.headers

    def test_origin_not_allowed_is_refused_and_readable_by_the_page(self, client, app, attributed):
        r = post(client, conversion(attributed, event_type="newsletter_signup"), origin="https://evil.example")
        assert r.status_code == 403
        assert (error(r)["code"], error(r)["field"]) == ("origin_not_allowed", "origin")
        assert r.headers["Access-Control-Allow-Origin"] == "https://evil.example"
        assert "Access-Control-Allow-Credentials" not in r.headers
        assert stored_count(app) == 0

    def test_a_link_may_allow_several_origins(self, client, owner, make_link, make_click):
        link_id = make_link(owner[0], allowed_origins=["https://a.example", "https://b.example"])
        tracking_id = make_click(link_id, clicked_at=T0)
        body = {"tracking_id": tracking_id, "campaign_link_id": link_id, "event_type": "newsletter_signup"}
        assert post(client, body, origin="https://b.example").status_code == 201
        assert post(client, body, origin="https://c.example").status_code == 403


@pytest.mark.usefixtures("at_day_one")
class TestServerSideConversions:
    def test_api_key_records_a_server_conversion(self, client, owner, attributed, api_key_for):
        key = api_key_for(owner[0])
        r = client.post(
            "/api/conversions",
            json=conversion(attributed, event_type="purchase", revenue_amount=30),
            headers={"Authorization": f"Bearer {key}"},
        )
        assert r.status_code == 201
        assert r.get_json()["source"] == "server"

    def test_another_creators_key_cannot_report_on_my_link(self, client, app, creator, attributed, api_key_for):
        stranger_key = api_key_for(creator()[0])
        r = client.post(
            "/api/conversions",
            json=conversion(attributed, event_type="purchase", revenue_amount=30),
            headers={"Authorization": f"Bearer {stranger_key}"},
        )
        assert (r.status_code, error(r)["code"]) == (422, "unknown_tracking_id")
        assert stored_count(app) == 0

    def test_revoked_key_is_refused(self, client, attributed):
        r = client.post(
            "/api/conversions",
            json=conversion(attributed, event_type="newsletter_signup"),
            headers={"Authorization": "Bearer lt_revoked-or-unknown"},
        )
        assert (r.status_code, error(r)["code"]) == (401, "invalid_api_key")


@pytest.mark.usefixtures("at_day_one")
class TestRateLimits:
    def test_per_tracking_id(self, make_app, redis_client, redis_url, attributed):
        app = make_app(
            RATELIMIT_ENABLED=True,
            RATELIMIT_STORAGE_URI=redis_url,
            CONVERSION_RATE_LIMIT_PER_TRACKING_ID="3 per minute",
        )
        client = app.test_client()
        body = conversion(attributed, event_type="newsletter_signup")
        statuses = [post(client, body).status_code for _ in range(4)]
        assert statuses == [201, 201, 201, 429]
        r = post(client, body)
        assert error(r)["code"] == "rate_limited"
        assert r.headers["Access-Control-Allow-Origin"] == ORIGIN
        assert "Retry-After" in r.headers

    def test_per_ip(self, make_app, redis_client, redis_url, owner, make_link, make_click):
        app = make_app(
            RATELIMIT_ENABLED=True, RATELIMIT_STORAGE_URI=redis_url, CONVERSION_RATE_LIMIT_PER_IP="2 per minute"
        )
        client = app.test_client()
        link_id = make_link(owner[0])
        bodies = [
            {
                "tracking_id": make_click(link_id, clicked_at=T0),
                "campaign_link_id": link_id,
                "event_type": "newsletter_signup",
            }
            for _ in range(3)
        ]
        assert [post(client, body).status_code for body in bodies] == [201, 201, 429]


@pytest.mark.usefixtures("at_day_one")
class TestAttributionEndpoint:
    def test_owner_sees_the_click_and_its_conversions(self, client, owner, attributed, api_key_for):
        post(client, conversion(attributed, event_type="purchase", revenue_amount=20, event_id="a"))
        post(client, conversion(attributed, event_type="purchase", revenue_amount="5.5", event_id="b"))
        key = api_key_for(owner[0])
        r = client.get(f"/api/conversions/attribution/{attributed[1]}", headers={"Authorization": f"Bearer {key}"})
        assert r.status_code == 200
        data = r.get_json()
        assert data["tracking_id"] == attributed[1]
        assert data["campaign_link_id"] == attributed[0]
        assert data["clicked_at"].startswith("2026-03-01T12:00:00")
        assert (data["days_since_click"], data["window_days"], data["within_window"]) == (1, 30, True)
        assert data["window_expires_at"].startswith("2026-04-01T12:00:00")
        assert [c["revenue_amount"] for c in data["conversions"]] == ["20.00", "5.50"]
        assert data["total_revenue"] == "25.50"

    def test_outside_the_window_says_so(self, client, owner, attributed, api_key_for):
        key = api_key_for(owner[0])
        with time_machine.travel(T0 + timedelta(days=45), tick=False):
            data = client.get(
                f"/api/conversions/attribution/{attributed[1]}", headers={"Authorization": f"Bearer {key}"}
            ).get_json()
        assert (data["days_since_click"], data["within_window"], data["total_revenue"]) == (45, False, "0.00")

    def test_another_creator_gets_404_and_anonymous_401(self, client, creator, attributed, api_key_for):
        stranger = api_key_for(creator()[0])
        r = client.get(f"/api/conversions/attribution/{attributed[1]}", headers={"Authorization": f"Bearer {stranger}"})
        assert (r.status_code, error(r)["code"]) == (404, "not_found")
        assert client.get(f"/api/conversions/attribution/{attributed[1]}").status_code == 401

    def test_malformed_tracking_id_is_404(self, client, owner, api_key_for):
        key = api_key_for(owner[0])
        r = client.get("/api/conversions/attribution/nope", headers={"Authorization": f"Bearer {key}"})
        assert r.status_code == 404


class TestScript:
    def test_served_with_base_url_cache_headers_and_etag(self, make_app):
        app = make_app(LINKTRACK_BASE_URL="https://go.example.com", TRUSTED_HOSTS="localhost")  # the test client
        client = app.test_client()
        r = client.get("/api/conversions/script")
        assert r.status_code == 200
        assert r.mimetype == "application/javascript"
        assert r.headers["Cache-Control"] == "public, max-age=3600"
        script = r.get_data(as_text=True)
        assert '"https://go.example.com"' in script
        assert "CampaignTracker" in script
        assert len(gzip.compress(r.get_data(), 9)) < 2048
        assert "Set-Cookie" not in r.headers and "Cookie" not in r.headers.get("Vary", "")
        again = client.get("/api/conversions/script", headers={"If-None-Match": r.headers["ETag"]})
        assert again.status_code == 304

    def test_base_url_defaults_to_the_request_host(self, client):
        script = client.get("/api/conversions/script", base_url="https://links.example.org").get_data(as_text=True)
        assert '"https://links.example.org"' in script
