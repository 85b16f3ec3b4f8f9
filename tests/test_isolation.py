"""A signed-in creator sees only their own data; anonymous visitors see none."""

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest

from linktrack.counting.recount import recount_daily_stats
from linktrack.extensions import db
from linktrack.models import CampaignLink, ClickEvent, ConversionEvent, utcnow
from tests.support.forms import form_post
from tests.support.pages import visible_text


def add_link_with_activity(app, user_id, short_code, campaign, clicks, purchase=None):
    """A link with `clicks` clicks over the last days and, optionally, one purchase; stored directly."""
    now = utcnow()
    with app.app_context():
        link = CampaignLink(
            user_id=user_id,
            short_code=short_code,
            video_id="dQw4w9WgXcQ",
            video_url="https://www.youtube.com/watch?v=dQw4w9WgXcQ",
            destination_url=f"https://{campaign}.example.com/",
            campaign=campaign,
        )
        db.session.add(link)
        db.session.flush()
        tracking_ids = []
        for n in range(clicks):
            tracking_ids.append(uuid.uuid4())
            db.session.add(
                ClickEvent(
                    campaign_link_id=link.id,
                    tracking_id=tracking_ids[-1],
                    clicked_at=now - timedelta(days=n % 5, hours=1),
                )
            )
        if purchase is not None:
            db.session.add(
                ConversionEvent(
                    tracking_id=tracking_ids[0],
                    campaign_link_id=link.id,
                    event_type="purchase",
                    revenue_amount=Decimal(purchase),
                    event_id=str(uuid.uuid4()),
                    converted_at=now - timedelta(minutes=30),
                )
            )
        db.session.commit()
        recount_daily_stats([link.id])  # rows stored directly, so their aggregates are rebuilt by hand


def stat(html: str, label: str) -> str:
    text = visible_text(html[html.index('class="stats"') :])
    return text.split(label, 1)[1].split()[0]


def log_in(client, email, password):
    assert form_post(client, "/login", {"email": email, "password": password}).status_code == 302


def test_a_dashboard_shows_only_its_creators_links_and_totals(app, client, creator):
    alice_id, alice_email, alice_password = creator("alice@example.com")
    bob_id, _, _ = creator("bob@example.com")
    add_link_with_activity(app, alice_id, "aliceA1", "alice-course-launch", clicks=3, purchase="49.99")
    add_link_with_activity(app, bob_id, "bobB222", "bob-secret-campaign", clicks=40, purchase="1234.00")

    log_in(client, alice_email, alice_password)
    html = client.get("/dashboard").get_data(as_text=True)
    text = visible_text(html)
    assert "/aliceA1" in text
    assert "alice-course-launch" in text
    assert "bobB222" not in html
    assert "bob-secret-campaign" not in html
    assert stat(html, "Clicks") == "3"
    assert stat(html, "Revenue") == "$49.99"
    assert "1,234" not in text
    assert "bob@example.com" not in html


def test_a_creator_without_links_sees_the_empty_dashboard_not_someone_elses(app, client, creator):
    _, email, password = creator()
    other_id, _, _ = creator()
    add_link_with_activity(app, other_id, "someone1", "someone-elses", clicks=5, purchase="10.00")

    log_in(client, email, password)
    html = client.get("/dashboard").get_data(as_text=True)
    assert "Start by linking a video" in visible_text(html)
    assert "someone1" not in html
    assert "someone-elses" not in html


def test_each_creator_sees_their_own_side(app, creator):
    """Both ways round, in two browsers at once."""
    alice_id, alice_email, password = creator("alice@example.com")
    bob_id, bob_email, _ = creator("bob@example.com")
    add_link_with_activity(app, alice_id, "aliceA1", "alice-campaign", clicks=2)
    add_link_with_activity(app, bob_id, "bobB222", "bob-campaign", clicks=7)
    alice, bob = app.test_client(), app.test_client()
    log_in(alice, alice_email, password)
    log_in(bob, bob_email, password)

    alice_page = alice.get("/dashboard").get_data(as_text=True)
    bob_page = bob.get("/dashboard").get_data(as_text=True)
    assert "alice-campaign" in alice_page and "bob-campaign" not in alice_page
    assert "bob-campaign" in bob_page and "alice-campaign" not in bob_page
    assert stat(alice_page, "Clicks") == "2"
    assert stat(bob_page, "Clicks") == "7"


@pytest.mark.parametrize("path", ["/dashboard", "/settings"])
def test_anonymous_visitors_are_sent_to_log_in(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response.headers["Location"] == f"/login?next={path}"


def test_anonymous_api_calls_answer_401_json(client):
    response = client.get("/api/me")
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "unauthorized"


def test_the_home_page_is_public_and_shows_no_creator_data(app, client, creator):
    user_id, _, _ = creator("private@example.com")
    add_link_with_activity(app, user_id, "private1", "private-campaign", clicks=1)
    html = client.get("/").get_data(as_text=True)
    assert "Know which video earns money." in visible_text(html)
    assert "private" not in html
