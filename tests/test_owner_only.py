"""Every route of the app is either public (listed below, with why) or owner-only, and every
owner-only route is checked here: anonymous → the login page (pages) or 401 JSON (API); another
creator asking for someone else's link, key, destination, delivery or click → 404, exactly like
one that does not exist; the owner gets through (so the 404 is not a broken URL).

The routes are read from the app's url_map when the tests are collected: a new route with no
entry in PUBLIC or OWNER_ONLY fails test_every_route_is_declared.
"""

import tempfile
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest

from linktrack import create_app
from linktrack.extensions import db
from linktrack.forwarding.destinations import create_destination
from linktrack.models.forwarding import ForwardingDelivery
from tests.support.app import app_settings as settings_for
from tests.support.forms import csrf_token_from

PASSWORD = "correct horse battery"

# "METHOD endpoint" → why anyone may call it.
PUBLIC = {
    "GET reports.index": "the home page",
    "GET redirect.follow": "the short link itself",
    "GET tracking.script": "the CampaignTracker script, loaded by landing pages",
    "POST tracking.record": "conversions from landing pages (and servers with a key, checked inside)",
    "OPTIONS tracking.preflight": "the CORS preflight of conversions",
    "GET auth.login": "the login page",
    "POST auth.login": "logging in",
    "GET auth.register": "the sign-up page",
    "POST auth.register": "signing up",
    "POST auth.logout": "logging out (CSRF-checked; harmless without a session)",
    "GET auth.logout_by_get": "answers 405: logging out needs a POST",
    "GET auth.forgot_password": "asking for a password-reset email",
    "POST auth.forgot_password": "asking for a password-reset email (the same answer for any address)",
    "GET auth.reset_password": "the emailed reset link (the token is the credential)",
    "POST auth.reset_password": "setting a new password with the emailed token",
    "GET static": "stylesheets, scripts, icons",
    "GET openapi.openapi_document": "the API contract",
    "GET health.healthz": "the load balancer's liveness probe",
    "GET health.readyz": "the load balancer's readiness probe",
    "GET metrics.scrape": "Prometheus's scrape: 404 unless METRICS_TOKEN is set, then only with that bearer token",
}


@dataclass(frozen=True)
class Call:
    path: str  # with {link}, {tracking_id}, {key}, {destination}, {delivery} of the owner's resources
    json: dict | None = None  # API bodies

    @property
    def names_a_resource(self) -> bool:
        return "{" in self.path


# "METHOD endpoint" → a call the owner is allowed to make.
OWNER_ONLY = {
    "GET reports.dashboard": Call("/dashboard"),
    "GET reports.funnel": Call("/reports/funnel"),
    "GET reports.funnel_csv": Call("/reports/funnel.csv"),
    "GET reports.revenue": Call("/reports/revenue"),
    "GET reports.revenue_csv": Call("/reports/revenue.csv"),
    "GET reports.link_report": Call("/links/{link}/report"),
    "GET links.index": Call("/links"),
    "GET links.new": Call("/links/new"),
    "POST links.new": Call("/links/new"),
    "GET links.detail": Call("/links/{link}"),
    "GET links.edit": Call("/links/{link}/edit"),
    "POST links.edit": Call("/links/{link}/edit"),
    "GET links.qr_code": Call("/links/{link}/qr.svg"),
    "POST links.archive": Call("/links/{link}/archive"),
    "POST links.restore": Call("/links/{link}/restore"),
    "GET auth.settings": Call("/settings"),
    "POST auth.change_password": Call("/settings/password"),
    "POST auth.change_conversion_retention": Call("/settings/retention"),
    "POST auth.change_main_currency": Call("/settings/currency"),
    "POST auth.change_time_zone": Call("/settings/time-zone"),
    "POST auth.create_api_key": Call("/settings/api-keys"),
    "POST auth.log_out_everywhere": Call("/settings/log-out-everywhere"),
    "POST auth.revoke_api_key": Call("/settings/api-keys/{key}/revoke"),
    "GET forwarding.index": Call("/settings/forwarding"),
    "POST forwarding.create": Call("/settings/forwarding"),
    "POST forwarding.toggle": Call("/settings/forwarding/{destination}/toggle"),
    "POST forwarding.change_event_types": Call("/settings/forwarding/{destination}/events"),
    "POST forwarding.send_test": Call("/settings/forwarding/{destination}/test"),
    "POST forwarding.delete": Call("/settings/forwarding/{destination}/delete"),
    "POST forwarding.redeliver": Call("/settings/forwarding/deliveries/{delivery}/redeliver"),
    "GET auth_api.me": Call("/api/me"),
    "GET links_api.list_links": Call("/api/links"),
    "POST links_api.create_link": Call("/api/links", json={}),
    "POST links_api.preview_new_link": Call("/api/links/preview", json={}),
    "GET links_api.get_link": Call("/api/links/{link}"),
    "PATCH links_api.update_link": Call("/api/links/{link}", json={}),
    "DELETE links_api.archive_link": Call("/api/links/{link}"),
    "POST links_api.preview_link_changes": Call("/api/links/{link}/preview", json={}),
    "GET tracking.attribution": Call("/api/conversions/attribution/{tracking_id}"),
    "GET reports_api.funnel": Call("/api/conversions/funnel/{link}"),
    "GET reports_api.types": Call("/api/conversions/types/{link}"),
    "POST tracking.cleanup": Call("/api/conversions/cleanup"),
}


def _routes() -> dict[str, str]:
    """Every "METHOD endpoint" the app answers, with its rule, from a throwaway app's url_map."""
    with tempfile.TemporaryDirectory() as instance:
        app = create_app(settings_for("sqlite://", INSTANCE_PATH=instance))
    routes = {}
    for rule in app.url_map.iter_rules():
        for method in (rule.methods - {"HEAD", "OPTIONS"}) or {"OPTIONS"}:
            routes[f"{method} {rule.endpoint}"] = rule.rule
    return routes


ROUTES = _routes()


def test_every_route_is_declared_public_or_owner_only():
    undeclared = sorted(set(ROUTES) - set(PUBLIC) - set(OWNER_ONLY))
    assert undeclared == [], "add these routes to PUBLIC (saying why) or OWNER_ONLY in this file"
    stale = sorted(set(OWNER_ONLY) - set(ROUTES))
    assert stale == [], "these OWNER_ONLY entries name no route any more"
    assert not set(PUBLIC) & set(OWNER_ONLY)


@pytest.fixture
def world(app, creator, api_key_for, make_link, make_click, httpserver):
    """The owner's link, click, API key, forwarding destination and a finished delivery; and the
    signed-in clients and keys of the owner and of another creator."""
    httpserver.expect_request("/hook").respond_with_data("ok")
    owner_id, owner_email, _ = creator(password=PASSWORD)
    other_id, other_email, _ = creator(password=PASSWORD)
    link = make_link(owner_id)
    resources = {"link": link, "tracking_id": make_click(link)}
    owner_key = api_key_for(owner_id, "owner")
    with app.app_context():
        from linktrack.models import ApiKey

        resources["key"] = db.session.query(ApiKey).filter_by(user_id=owner_id).one().id
        destination, _ = create_destination(
            owner_id, "webhook", "hook", {"url": httpserver.url_for("/hook")}, ["purchase"]
        )
        delivery = ForwardingDelivery(destination_id=destination.id, event_type="purchase", status="failed")
        db.session.add(delivery)
        db.session.commit()
        resources["destination"], resources["delivery"] = destination.id, delivery.id
    return {
        "resources": resources,
        "owner": (_signed_in(app, owner_email), owner_key),
        "other": (_signed_in(app, other_email), api_key_for(other_id, "other")),
    }


def _signed_in(app, email):
    client = app.test_client()
    token = csrf_token_from(client.get("/login").get_data(as_text=True))
    response = client.post("/login", data={"email": email, "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 302
    return client


def _call(client, method: str, path: str, call: Call, key: str | None = None):
    """A page request as a browser makes it (with the session's CSRF token), or an API call as a
    server makes it (no cookies; a Bearer key when one is given)."""
    if path.startswith("/api/"):
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return client.application.test_client().open(path, method=method, json=call.json, headers=headers)
    if method == "GET":
        return client.get(path)
    page = client.get("/dashboard" if key else "/login").get_data(as_text=True)
    return client.open(path, method=method, data={"csrf_token": csrf_token_from(page)})


@pytest.mark.parametrize("route", sorted(OWNER_ONLY), ids=lambda route: f"{route.split()[0]} {ROUTES.get(route)}")
def test_owner_only_routes_refuse_anonymous_callers_and_other_creators(app, world, route):
    method = route.split()[0]
    call = OWNER_ONLY[route]
    path = call.path.format(**world["resources"])
    is_api = path.startswith("/api/")

    anonymous = _call(app.test_client(), method, path, call)
    if is_api:
        assert anonymous.status_code == 401
        assert anonymous.get_json()["error"]["code"] == "unauthorized"
    else:
        assert anonymous.status_code == 302
        assert urlsplit(anonymous.headers["Location"]).path == "/login"

    if call.names_a_resource:
        other_client, other_key = world["other"]
        refused = _call(other_client, method, path, call, key=other_key)
        assert refused.status_code == 404, refused.get_data(as_text=True)[:300]
        if is_api:
            assert refused.get_json()["error"]["code"] == "not_found"

    owner_client, owner_key = world["owner"]
    allowed = _call(owner_client, method, path, call, key=owner_key)
    assert allowed.status_code not in (401, 404), allowed.get_data(as_text=True)[:500]
    if not is_api:
        assert urlsplit(allowed.headers.get("Location", "")).path != "/login"
