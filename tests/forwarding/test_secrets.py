"""Secrets never reach the logs, and are never shown in full after the moment they are created.

One creator's whole life with secrets (a password, an API key, Facebook, GA4 and webhook
credentials, deliveries that succeed and fail) runs with every logger at DEBUG; then neither the
log records (messages and tracebacks) nor any later page carries a secret, only its masked form.
"""

import logging
import re
import secrets
import socket

from sqlalchemy import select

from linktrack.extensions import db
from linktrack.forwarding.destinations import decrypt_credentials
from linktrack.models.forwarding import ForwardingDestination
from tests.support.forms import form_post

PASSWORD = "Correct-Horse-" + secrets.token_hex(8)
WRONG_PASSWORD = "Wrong-Horse-" + secrets.token_hex(8)
FACEBOOK_TOKEN = "EAAB" + secrets.token_hex(24)
GA4_SECRET = "ga4/" + secrets.token_urlsafe(18)  # a slash, so its URL-encoded form differs
PIXEL_ID = "1234567890"
MEASUREMENT_ID = "G-TEST1234"
API_KEY_SHAPE = re.compile(r"lt_[A-Za-z0-9_-]{40,}")


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def send_test(client, destination_id):
    return form_post(client, "/settings/forwarding", {}, action=f"/settings/forwarding/{destination_id}/test")


def live_with_secrets(app, client, httpserver):
    """Everything a creator does with secrets; returns the secrets and the API key."""
    httpserver.expect_request(f"/fb/v21.0/{PIXEL_ID}/events").respond_with_json({"events_received": 1})
    httpserver.expect_request("/mp/collect").respond_with_data("", status=204)
    httpserver.expect_request("/hook").respond_with_data("nope", status=500)
    app.config["FACEBOOK_GRAPH_URL"] = httpserver.url_for("/fb/v21.0")
    app.config["GA4_MP_URL"] = httpserver.url_for("/mp/collect")

    email = "secretive@example.com"
    data = {"email": email, "password": PASSWORD, "confirm": PASSWORD}
    assert form_post(client, "/register", data).status_code == 302
    assert form_post(client, "/dashboard", {}, action="/logout").status_code == 302
    assert form_post(client, "/login", {"email": email, "password": WRONG_PASSWORD}).status_code == 422
    assert form_post(client, "/login", {"email": email, "password": PASSWORD}).status_code == 302

    assert form_post(client, "/settings", {"name": "CI"}, action="/settings/api-keys").status_code == 303
    [api_key] = API_KEY_SHAPE.findall(client.get("/settings").get_data(as_text=True))
    anonymous = app.test_client()
    assert anonymous.get("/api/me", headers={"Authorization": f"Bearer {api_key}"}).status_code == 200
    wrong_key = "lt_" + secrets.token_urlsafe(32)
    assert anonymous.get("/api/links", headers={"Authorization": f"Bearer {wrong_key}"}).status_code == 401
    basic = "Basic " + secrets.token_hex(16)
    assert anonymous.get("/api/links", headers={"Authorization": basic}).status_code == 401
    conversion = anonymous.post("/api/conversions", json={}, headers={"Authorization": f"Bearer {wrong_key}"})
    assert conversion.status_code == 401

    kinds = {"event_types": ["purchase"]}
    facebook = {"kind": "facebook", "pixel_id": PIXEL_ID, "access_token": FACEBOOK_TOKEN, **kinds}
    google = {"kind": "google", "measurement_id": MEASUREMENT_ID, "api_secret": GA4_SECRET, **kinds}
    hook = {"kind": "webhook", "url": httpserver.url_for("/hook"), **kinds}
    for fields in (facebook, google, hook):
        assert form_post(client, "/settings/forwarding", fields).status_code in (200, 302)
    with app.app_context():
        destinations = {d.kind: d for d in db.session.scalars(select(ForwardingDestination))}
        signing_secret = decrypt_credentials(destinations["webhook"].credentials_encrypted)["signing_secret"]
    for destination in destinations.values():
        send_test(client, destination.id)
    # GA4 unreachable: the connection error quotes the URL, with the API secret in its query.
    app.config["GA4_MP_URL"] = f"http://127.0.0.1:{closed_port()}/mp/collect"
    send_test(client, destinations["google"].id)

    return {
        "api_key": api_key,
        "secrets": {
            "password": PASSWORD,
            "wrong password": WRONG_PASSWORD,
            "API key": api_key,
            "unknown API key": wrong_key,
            "Basic credentials": basic.split()[1],
            "Facebook access token": FACEBOOK_TOKEN,
            "GA4 API secret": GA4_SECRET,
            "webhook signing secret": signing_secret,
        },
    }


def encoded_forms(secret: str) -> set[str]:
    from urllib.parse import quote, quote_plus

    return {secret, quote(secret, safe=""), quote_plus(secret)}


def test_no_secret_is_ever_logged(app, client, httpserver, caplog):
    caplog.set_level(logging.DEBUG)
    created = live_with_secrets(app, client, httpserver)

    assert len(httpserver.log) == 3  # Facebook, GA4 and the webhook were really called
    assert any(record.name == "urllib3.connectionpool" for record in caplog.records)  # and logged at DEBUG
    formatter = logging.Formatter()
    # Leaving out the stand-in Facebook/Google/webhook server's own access log (werkzeug): that is
    # the receiving side's log, which sees the secrets it is sent.
    ours = [record for record in caplog.records if record.name != "werkzeug"]
    logged = "\n".join(formatter.format(record) for record in ours)
    for name, secret in created["secrets"].items():
        for form in encoded_forms(secret):
            assert form not in logged, f"the {name} is in the log"


def test_pages_show_secrets_only_masked_after_creation(app, client, httpserver):
    created = live_with_secrets(app, client, httpserver)
    found = created["secrets"]

    settings = client.get("/settings").get_data(as_text=True)
    assert created["api_key"][:11] in settings  # the prefix tells keys apart
    forwarding = client.get("/settings/forwarding").get_data(as_text=True)
    for name in ("Facebook access token", "GA4 API secret", "webhook signing secret"):
        assert "••••" + found[name][-4:] in forwarding, name
    assert "ConnectionError" in forwarding  # the failed GA4 attempt is shown, its URL masked
    for page in (settings, forwarding, client.get("/dashboard").get_data(as_text=True)):
        for name, secret in found.items():
            for form in encoded_forms(secret):
                assert form not in page, f"the {name} is on a page"
