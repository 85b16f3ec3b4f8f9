"""Forwarding conversions to Facebook CAPI, GA4 Measurement Protocol and webhooks (DESIGN.md §7).

Every request goes to a real local HTTP server (pytest-httpserver) and is checked byte for byte;
time moves with time-machine; RQ runs on real Redis with a real worker.
"""

import hashlib
import json
import uuid
from datetime import datetime, timedelta, timezone

import pytest
import time_machine
from rq import Queue
from rq.registry import ScheduledJobRegistry
from sqlalchemy import select

from linktrack import jobs
from linktrack import queue as jobqueue
from linktrack.extensions import db
from linktrack.forwarding import google
from linktrack.forwarding.destinations import create_destination
from linktrack.models import PendingJob
from linktrack.models.forwarding import ForwardingDelivery, ForwardingDestination
from tests.support.forms import form_post
from tests.support.forwarding import conversion
from tests.support.paths import REPO_ROOT
from tests.support.redirect import CHROME_WINDOWS, click_from_youtube

T = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)
REDIS_DOWN = "redis://127.0.0.1:1/0"


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def compact(payload: dict) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


def readme_webhook_verifier():
    """The verifier exactly as README.md shows it to receivers, run as written."""
    readme = (REPO_ROOT / "README.md").read_text()
    snippet = readme.split("### Verifying a webhook")[1].split("```python\n")[1].split("```")[0]
    namespace: dict = {}
    exec(snippet, namespace)  # noqa: S102 (our own README)
    return namespace["verify_linktrack_webhook"]


verify_linktrack_webhook = readme_webhook_verifier()


@pytest.fixture
def endpoints(app, httpserver):
    """Facebook's and Google's base URLs point at the local server."""
    app.config["FACEBOOK_GRAPH_URL"] = httpserver.url_for("/fb/v21.0")
    app.config["GA4_MP_URL"] = httpserver.url_for("/mp/collect")
    return httpserver


def add_destination(client, **fields):
    data = {"event_types": ["newsletter_signup", "course_enrollment", "purchase"], **fields}
    return form_post(client, "/settings/forwarding", data, follow_redirects=True)


def sweep(app):
    """What the periodic job (or, without Redis, the next enqueue) does."""
    with app.app_context():
        return jobs.run_due_jobs()


def page(client) -> str:
    return client.get("/settings/forwarding").get_data(as_text=True)


def test_facebook_receives_the_purchase_with_hashed_contact_details(client, endpoints, signed_in):
    endpoints.expect_request("/fb/v21.0/1234567890/events", method="POST").respond_with_json({"events_received": 1})
    _, link = signed_in
    with time_machine.travel(T, tick=False):
        added = add_destination(
            client, kind="facebook", name="Main pixel", pixel_id="1234567890", access_token="EAAB-secret-token-9876"
        )
        assert "“Main pixel” added" in added.get_data(as_text=True)
        tracking_id = click_from_youtube(client, link["short_code"])
        conversion(
            client,
            link,
            tracking_id,
            event_id="order-1001",
            event_data={"email": "  Jane.Doe@Example.COM ", "phone": "+1 (555) 010-2030", "plan": "pro"},
        )
        shown = page(client)

    (request, _response), *_ = endpoints.log
    assert len(endpoints.log) == 1
    assert request.headers["Content-Type"] == "application/json"
    assert request.get_data() == compact(
        {
            "data": [
                {
                    "event_name": "Purchase",
                    "event_time": int(T.timestamp()),
                    "event_id": "order-1001",
                    "action_source": "website",
                    "event_source_url": "https://academy.example.com/course",
                    "user_data": {
                        "client_user_agent": CHROME_WINDOWS,
                        "em": [sha256("jane.doe@example.com")],
                        "ph": [sha256("15550102030")],
                    },
                    "custom_data": {"value": 49.99, "currency": "USD"},
                }
            ],
            "access_token": "EAAB-secret-token-9876",
        }
    )
    assert "delivered" in shown and "· 200" in shown
    assert "••••9876" in shown and "EAAB-secret-token-9876" not in shown


@pytest.mark.parametrize(
    ("event_type", "revenue", "name"),
    [
        ("newsletter_signup", None, "generate_lead"),
        ("course_enrollment", "199.00", "sign_up"),
        ("purchase", "5.50", "purchase"),
    ],
)
def test_ga4_receives_the_event_with_a_stable_client_id(client, endpoints, signed_in, event_type, revenue, name):
    endpoints.expect_request("/mp/collect", method="POST").respond_with_data("", status=204)
    _, link = signed_in
    with time_machine.travel(T, tick=False):
        add_destination(client, kind="google", measurement_id="G-ABC123XYZ", api_secret="mp-secret-4321")
        tracking_id = click_from_youtube(client, link["short_code"])
        stored = conversion(
            client, link, tracking_id, event_type=event_type, revenue=revenue, event_data={"email": "A@B.co"}
        )

    (request, _response), *_ = endpoints.log
    assert request.args.to_dict() == {"measurement_id": "G-ABC123XYZ", "api_secret": "mp-secret-4321"}
    params = {
        "transaction_id": stored["id"],
        "campaign_link_id": str(link["id"]),
        "campaign": "spring-launch",
        "content": "dQw4w9WgXcQ",
        "source": "youtube",
        "medium": "video",
    }
    if revenue:
        params.update(value=float(revenue), currency="USD")
    assert request.get_data() == compact(
        {
            "client_id": google.client_id(tracking_id),
            "timestamp_micros": int(T.timestamp()) * 1_000_000,
            "events": [{"name": name, "params": params}],
            "user_data": {"sha256_email_address": [sha256("a@b.co")]},
        }
    )
    assert google.client_id(tracking_id) == google.client_id(tracking_id) != google.client_id(str(uuid.uuid4()))
    assert tracking_id not in request.get_data(as_text=True)


def test_a_webhook_is_signed_and_the_readme_verifier_accepts_it_and_refuses_replays(client, endpoints, signed_in):
    endpoints.expect_request("/hooks/linktrack", method="POST").respond_with_data("ok")
    _, link = signed_in
    with time_machine.travel(T, tick=False):
        added = add_destination(client, kind="webhook", name="Zapier", url=endpoints.url_for("/hooks/linktrack"))
        html = added.get_data(as_text=True)
        secret = html.split('id="new-signing-secret" class="mono" type="text" value="')[1].split('"')[0]
        assert secret.startswith("whsec_")
        assert secret not in page(client)  # shown once
        tracking_id = click_from_youtube(client, link["short_code"])
        stored = conversion(client, link, tracking_id, event_id="order-7", event_data={"plan": "pro"})

    (request, _response), *_ = endpoints.log
    body = request.get_data()
    assert body == compact(
        {
            "type": "conversion.created",
            "conversion": {
                "id": stored["id"],
                "tracking_id": tracking_id,
                "campaign_link_id": str(link["id"]),
                "event_type": "purchase",
                "revenue_amount": "49.99",
                "currency": "USD",
                "event_id": "order-7",
                "source": "browser",
                "converted_at": T.isoformat(),
                "event_data": {"plan": "pro"},
            },
            "link": {
                "short_code": link["short_code"],
                "campaign": "spring-launch",
                "video_id": "dQw4w9WgXcQ",
                "destination_url": "https://academy.example.com/course",
            },
        }
    )
    assert request.headers["X-Linktrack-Timestamp"] == str(int(T.timestamp()))
    sent_at = T.timestamp()
    assert verify_linktrack_webhook(secret, request.headers, body, now=sent_at + 10)
    assert not verify_linktrack_webhook(secret, request.headers, body + b" ", now=sent_at + 10)  # tampered
    assert not verify_linktrack_webhook("whsec_wrong", request.headers, body, now=sent_at + 10)
    assert not verify_linktrack_webhook(secret, request.headers, body, now=sent_at + 301)  # a replay


def test_5xx_is_retried_with_exponential_backoff_until_delivered(app, client, endpoints, signed_in):
    for status in (503, 502):
        endpoints.expect_ordered_request("/hook", method="POST").respond_with_data("busy", status=status)
    endpoints.expect_ordered_request("/hook", method="POST").respond_with_data("ok")
    _, link = signed_in
    with time_machine.travel(T, tick=False):
        add_destination(client, kind="webhook", url=endpoints.url_for("/hook"))
        conversion(client, link, click_from_youtube(client, link["short_code"]))
        assert "next try" in page(client)
    with time_machine.travel(T + timedelta(seconds=59), tick=False):
        sweep(app)
        assert len(endpoints.log) == 1  # not due yet
    with time_machine.travel(T + timedelta(seconds=60), tick=False):
        sweep(app)
        assert len(endpoints.log) == 2
    with time_machine.travel(T + timedelta(seconds=60 + 119), tick=False):
        sweep(app)
        assert len(endpoints.log) == 2  # the second wait is twice as long
    with time_machine.travel(T + timedelta(seconds=60 + 120), tick=False):
        sweep(app)
        shown = page(client)
    assert len(endpoints.log) == 3
    first_try, second_try, third_try = shown.split('<ol class="attempts">')[1].split("</ol>")[0].split("<li>")[1:]
    assert "503 · HTTP 503: the receiver answered with a server error" in first_try
    assert "retry at 2026-06-01 12:01" in first_try and "busy" not in shown  # never the receiver's body
    assert "502 · HTTP 502: the receiver answered with a server error" in second_try
    assert "retry at 2026-06-01 12:03" in second_try
    assert "· 200" in third_try and "retry" not in third_try
    with app.app_context():
        assert db.session.scalars(select(ForwardingDelivery.status)).all() == ["delivered"]
        assert db.session.scalars(select(PendingJob.job_name)).all() == ["cleanup_all_creators"]  # no retry left


def test_a_4xx_answer_is_final_and_can_be_redelivered(app, client, endpoints, signed_in):
    endpoints.expect_ordered_request("/hook", method="POST").respond_with_data("bad", status=400)
    endpoints.expect_ordered_request("/hook", method="POST").respond_with_data("ok")
    _, link = signed_in
    with time_machine.travel(T, tick=False):
        add_destination(client, kind="webhook", url=endpoints.url_for("/hook"))
        conversion(client, link, click_from_youtube(client, link["short_code"]))
    with time_machine.travel(T + timedelta(days=1), tick=False):
        sweep(app)
        shown = page(client)
    assert len(endpoints.log) == 1
    assert "failed" in shown and "HTTP 400: the receiver refused the event" in shown and "retry at" not in shown
    with app.app_context():
        delivery_id = db.session.scalar(select(ForwardingDelivery.id))
    with time_machine.travel(T + timedelta(days=1), tick=False):
        again = form_post(
            client,
            "/settings/forwarding",
            {},
            action=f"/settings/forwarding/deliveries/{delivery_id}/redeliver",
            follow_redirects=True,
        )
    assert "Sent again." in again.get_data(as_text=True)
    assert len(endpoints.log) == 2
    assert "delivered" in again.get_data(as_text=True)


def test_network_errors_are_retried(app, client, signed_in):
    _, link = signed_in
    with time_machine.travel(T, tick=False):
        add_destination(client, kind="webhook", url="http://127.0.0.1:1/nothing-listens")
        conversion(client, link, click_from_youtube(client, link["short_code"]))
        shown = page(client)
    assert "retrying" in shown and "no answer · ConnectionError" in shown


def test_a_destination_failing_ten_times_in_a_row_is_paused_and_the_creator_told(app, client, endpoints, signed_in):
    endpoints.expect_request("/hook", method="POST").respond_with_data("gone", status=410)
    _, link = signed_in
    with time_machine.travel(T, tick=False):
        add_destination(client, kind="webhook", name="Old CRM", url=endpoints.url_for("/hook"))
        tracking_id = click_from_youtube(client, link["short_code"])
        for number in range(11):
            conversion(client, link, tracking_id, event_id=f"order-{number}")
        shown = page(client)
    assert len(endpoints.log) == 10  # the 11th was not sent
    assert "“Old CRM” is paused: its last 10 deliveries failed." in shown
    assert "Paused after 10 failures" in shown

    with app.app_context():
        destination_id = db.session.scalar(select(ForwardingDestination.id))
    with time_machine.travel(T, tick=False):
        assert "1 paused" in client.get("/settings").get_data(as_text=True)
        form_post(client, "/settings/forwarding", {}, action=f"/settings/forwarding/{destination_id}/toggle")
        assert "Paused after" not in page(client)
        assert "paused" not in client.get("/settings").get_data(as_text=True)
        conversion(client, link, tracking_id, event_id="order-after-fix")
    assert len(endpoints.log) == 11  # on again: new conversions are sent


def test_each_destination_receives_only_the_event_types_chosen_for_it(app, client, endpoints, signed_in):
    endpoints.expect_request("/hook", method="POST").respond_with_data("ok")
    _, link = signed_in
    with time_machine.travel(T, tick=False):
        add_destination(client, kind="webhook", url=endpoints.url_for("/hook"))
        with app.app_context():
            destination_id = db.session.scalar(select(ForwardingDestination.id))
        changed = form_post(
            client,
            "/settings/forwarding",
            {"event_types": ["purchase"]},
            action=f"/settings/forwarding/{destination_id}/events",
            follow_redirects=True,
        )
        assert "now receives the events you chose" in changed.get_data(as_text=True)
        tracking_id = click_from_youtube(client, link["short_code"])
        conversion(client, link, tracking_id, event_type="newsletter_signup", revenue=None)
        conversion(client, link, tracking_id, event_type="purchase")
    assert [json.loads(request.get_data())["conversion"]["event_type"] for request, _ in endpoints.log] == ["purchase"]


def test_a_delivery_whose_worker_died_mid_send_is_sent_again_by_the_sweep(app, client, endpoints, signed_in):
    endpoints.expect_request("/hook", method="POST").respond_with_data("ok")
    _, link = signed_in
    with time_machine.travel(T, tick=False):
        add_destination(client, kind="webhook", url=endpoints.url_for("/hook"))
        conversion(client, link, click_from_youtube(client, link["short_code"]))
        with app.app_context():
            # What a worker killed between claiming and settling leaves behind.
            delivery = db.session.scalar(select(ForwardingDelivery))
            delivery.status, delivery.attempts = "sending", 0
            db.session.commit()
    with time_machine.travel(T + timedelta(minutes=9), tick=False):
        assert sweep(app)["deliveries_requeued"] == 0  # it may still be sending
    with time_machine.travel(T + timedelta(minutes=10), tick=False):
        assert sweep(app)["deliveries_requeued"] == 1
    assert len(endpoints.log) == 2
    with app.app_context():
        assert db.session.scalars(select(ForwardingDelivery.status)).all() == ["delivered"]


def test_send_test_event_button(client, endpoints, signed_in):
    endpoints.expect_request("/hook", method="POST").respond_with_data("ok")
    with time_machine.travel(T, tick=False):
        add_destination(client, kind="webhook", url=endpoints.url_for("/hook"), event_types=["course_enrollment"])
        with client.application.app_context():
            destination_id = db.session.scalar(select(ForwardingDestination.id))
        sent = form_post(
            client,
            "/settings/forwarding",
            {},
            action=f"/settings/forwarding/{destination_id}/test",
            follow_redirects=True,
        )
    assert "Test event delivered." in sent.get_data(as_text=True)
    body = json.loads(endpoints.log[0][0].get_data())
    assert body["type"] == "conversion.test" and body["conversion"]["event_type"] == "course_enrollment"


@time_machine.travel(T, tick=False)
def test_the_form_says_what_is_missing_and_other_creators_get_404(app, client, signed_in, creator):
    refused = add_destination(client, kind="facebook", pixel_id="12ab", access_token="x")
    assert refused.status_code == 422
    assert "A pixel id is digits only" in refused.get_data(as_text=True)
    assert add_destination(client, kind="google", measurement_id="G-ABCDE").status_code == 422

    other_id = creator()[0]
    with app.app_context():
        theirs, _ = create_destination(other_id, "webhook", "theirs", {"url": "https://example.com/h"}, ["purchase"])
        stored = db.session.get(ForwardingDestination, theirs.id).credentials_encrypted
    assert "whsec_" not in stored  # encrypted at rest
    for action in ("toggle", "test", "delete"):
        response = form_post(client, "/settings/forwarding", {}, action=f"/settings/forwarding/{theirs.id}/{action}")
        assert response.status_code == 404
    assert client.get("/settings/forwarding").status_code == 200
    anonymous = app.test_client().get("/settings/forwarding")
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]


# ---- with Redis: RQ and a real worker ---------------------------------------------------------


def work(app, redis_client):
    """The Procfile's worker class, in this process, until the queue is empty."""
    queue = Queue(jobqueue.QUEUE_NAME, connection=redis_client)
    jobqueue.AppWorker([queue], connection=redis_client, app=app).work(burst=True)


def test_with_redis_a_worker_delivers_each_conversion(redis_client, httpserver, redis_setup):
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    _, app, link = redis_setup
    client = app.test_client()
    conversion(client, link, click_from_youtube(client, link["short_code"]))
    assert httpserver.log == []  # nothing is sent from the request
    work(app, redis_client)
    assert len(httpserver.log) == 1
    with app.app_context():
        assert db.session.scalars(select(ForwardingDelivery.status)).all() == ["delivered"]


def test_with_redis_a_retry_is_scheduled_at_the_backoff_time(redis_client, httpserver, redis_setup):
    httpserver.expect_request("/hook", method="POST").respond_with_data("slow down", status=429)
    _, app, link = redis_setup
    client = app.test_client()
    conversion(client, link, click_from_youtube(client, link["short_code"]))
    work(app, redis_client)
    with app.app_context():
        delivery = db.session.scalar(select(ForwardingDelivery))
    assert delivery.status == "retrying"
    registry = ScheduledJobRegistry(jobqueue.QUEUE_NAME, connection=redis_client)
    (job_id,) = registry.get_job_ids()
    scheduled = registry.get_scheduled_time(job_id)
    assert abs((scheduled - delivery.next_attempt_at).total_seconds()) < 1
    assert 59 <= (delivery.next_attempt_at - delivery.updated_at).total_seconds() <= 61


def test_redis_down_when_converting_loses_no_forwarding(redis_client, httpserver, redis_setup):
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    build, up, link = redis_setup
    down = build(REDIS_DOWN)
    client = down.test_client()
    tracking_id = click_from_youtube(client, link["short_code"])
    for number in range(3):
        conversion(client, link, tracking_id, event_id=f"order-{number}")  # 201 although Redis is down
    with down.app_context():
        assert db.session.scalars(select(PendingJob.job_name)).all() == ["forward_conversion"] * 3
    assert httpserver.log == []

    assert sweep(up)["pending_jobs_run"] == 3  # Redis is back: the periodic job re-enqueues them
    work(up, redis_client)
    assert len(httpserver.log) == 3
    sent = sorted(json.loads(request.get_data())["conversion"]["event_id"] for request, _ in httpserver.log)
    assert sent == ["order-0", "order-1", "order-2"]
