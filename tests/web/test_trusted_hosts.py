"""Trusted hosts (issue 13, item 10): with LINKTRACK_BASE_URL set, no answer is built from a Host
header the creator did not configure."""

import uuid

import pytest

from linktrack.extensions import db
from linktrack.models import CampaignLink

BASE = "https://go.example.com"


@pytest.fixture
def configured(make_app):
    return make_app(LINKTRACK_BASE_URL=BASE, TRUSTED_HOSTS="links.example.org, .example.net")


def test_a_doubled_slash_is_never_redirected_to_a_strangers_host(configured):
    answer = configured.test_client().get("/static//x", headers={"Host": "evil.com"})
    assert answer.status_code == 400
    assert "evil.com" not in answer.headers.get("Location", "")
    assert "Unknown host" in answer.get_data(as_text=True)


def test_the_configured_hosts_are_answered(configured):
    client = configured.test_client()
    for host in ("go.example.com", "GO.example.com:443", "links.example.org", "www.example.net"):
        answer = client.get("/static//css/app.css", headers={"Host": host})
        assert answer.status_code == 308, host
        assert answer.headers["Location"].startswith(f"http://{host.lower()}/static/css/"), host


def test_the_api_answers_an_untrusted_host_in_json(configured):
    answer = configured.test_client().post("/api/conversions", json={}, headers={"Host": "evil.com"})
    assert answer.status_code == 400
    assert answer.get_json()["error"]["code"] == "untrusted_host"


def test_the_fast_paths_answer_an_untrusted_host_too(configured, creator, make_link):
    """The short link and the landing page's conversion are answered before Flask runs."""
    link_id = make_link(creator()[0], allowed_origins=["https://landing.example.com"])
    with configured.app_context():
        short_code = db.session.get(CampaignLink, uuid.UUID(link_id)).short_code
    client = configured.test_client()
    assert client.get(f"/{short_code}", headers={"Host": "evil.com"}).status_code == 400
    assert client.get(f"/{short_code}", headers={"Host": "go.example.com"}).status_code == 302
    conversion = client.post(
        "/api/conversions",
        json={"tracking_id": str(uuid.uuid4()), "campaign_link_id": link_id, "event_type": "newsletter_signup"},
        headers={"Host": "evil.com", "Origin": "https://landing.example.com"},
    )
    assert conversion.status_code == 400
    assert conversion.get_json()["error"]["code"] == "untrusted_host"


def test_a_host_forwarded_by_a_trusted_proxy_is_what_is_checked(make_app):
    app = make_app(LINKTRACK_BASE_URL=BASE, TRUST_PROXY_HOPS=1)
    client = app.test_client()
    assert client.get("/login", headers={"Host": "10.0.0.5", "X-Forwarded-Host": "go.example.com"}).status_code == 200
    assert client.get("/login", headers={"Host": "go.example.com", "X-Forwarded-Host": "evil.com"}).status_code == 400


def test_without_a_base_url_every_host_is_answered_as_before(app):
    answer = app.test_client().get("/static//x", headers={"Host": "dev.local:5000"})
    assert answer.status_code == 308
    assert answer.headers["Location"] == "http://dev.local:5000/static/x"
