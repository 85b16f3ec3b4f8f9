"""Tracker sightings and the install panel: written from browser conversions at most once a minute
per link and origin, never failing a conversion, shown on the link pages and in Settings, and
never to another creator."""

import re
import uuid
from datetime import timedelta
from html import unescape

import pytest
import time_machine
from sqlalchemy import select

from linktrack.extensions import db
from linktrack.models import TrackerSighting
from linktrack.tracking import sightings
from tests.support.conversions import ORIGIN, T0, conversion, post, stored_count
from tests.support.forms import form_post
from tests.support.pages import visible_text

OTHER_ORIGIN = "https://shop.example.com"


@pytest.fixture
def owner(creator):
    return creator()


@pytest.fixture
def link(owner, make_link):
    return make_link(owner[0], allowed_origins=[ORIGIN, OTHER_ORIGIN])


def rows(app) -> list[tuple[str, object]]:
    with app.app_context():
        return [
            (s.origin, s.last_seen_at)
            for s in db.session.scalars(select(TrackerSighting).order_by(TrackerSighting.origin))
        ]


def convert(client, link_id, make_click, origin=ORIGIN, **fields):
    tracking_id = make_click(link_id, clicked_at=T0)
    response = post(client, conversion((link_id, tracking_id), event_type="newsletter_signup", **fields), origin)
    assert response.status_code == 201, response.get_json()
    return response


def signed_in(app, owner):
    client = app.test_client()
    _, email, password = owner
    assert form_post(client, "/login", {"email": email, "password": password}).status_code == 302
    return client


def install_status(html: str) -> str:
    match = re.search(r'<p class="install-status" id="tracker-status" role="status">(.*?)</p>', html, re.S)
    assert match, "no install panel"
    return " ".join(unescape(re.sub(r"<[^>]+>", "", match.group(1))).split())


class TestThrottle:
    def test_one_write_per_link_and_origin_per_minute(self, app, client, link, make_click):
        with time_machine.travel(T0 + timedelta(seconds=5), tick=False):
            convert(client, link, make_click)
        with time_machine.travel(T0 + timedelta(seconds=50), tick=False):
            convert(client, link, make_click)  # the same minute: nothing written
            convert(client, link, make_click, origin=OTHER_ORIGIN)  # another origin: its own row
        assert rows(app) == [(ORIGIN, T0 + timedelta(seconds=5)), (OTHER_ORIGIN, T0 + timedelta(seconds=50))]
        with time_machine.travel(T0 + timedelta(seconds=61), tick=False):
            convert(client, link, make_click)
        assert rows(app)[0] == (ORIGIN, T0 + timedelta(seconds=61))
        assert stored_count(app) == 4  # every conversion stored, throttled or not

    def test_a_late_writer_never_moves_the_time_back(self, app, owner, make_link):
        link_id = uuid.UUID(make_link(owner[0]))
        with app.app_context():
            assert sightings.note_sighting(link_id, ORIGIN, now=T0 + timedelta(minutes=5))
            assert sightings.note_sighting(link_id, ORIGIN, now=T0)
        assert rows(app) == [(ORIGIN, T0 + timedelta(minutes=5))]

    def test_a_failed_write_never_fails_the_conversion(self, app, client, link, make_click, monkeypatch):
        with app.app_context():  # a link that does not exist: the foreign key refuses the row
            assert sightings.note_sighting(uuid.uuid4(), ORIGIN) is False

        def refuse(*args):
            raise RuntimeError("database went away")

        monkeypatch.setattr(sightings, "_upsert", refuse)
        with time_machine.travel(T0 + timedelta(days=1), tick=False):
            convert(client, link, make_click)
        assert stored_count(app) == 1 and rows(app) == []

    def test_server_conversions_are_no_sighting(self, app, client, owner, link, make_click, api_key_for):
        tracking_id = make_click(link, clicked_at=T0)
        key = api_key_for(owner[0])
        with time_machine.travel(T0 + timedelta(days=1), tick=False):
            response = post(
                client,
                conversion((link, tracking_id), event_type="newsletter_signup"),
                origin=None,
                Authorization=f"Bearer {key}",
            )
        assert response.status_code == 201 and rows(app) == []


class TestInstallPanel:
    def test_every_link_page_and_settings_show_the_tag_and_the_examples(self, app, owner, link, make_click):
        make_click(link, clicked_at=T0)  # a link with a click: the panel stays
        client = signed_in(app, owner)
        for path in (f"/links/{link}", f"/links/{link}/report?range=all", "/settings"):
            html = client.get(path).get_data(as_text=True)
            assert 'value="&lt;script src=&#34;http://localhost/api/conversions/script&#34;&gt;&lt;/script&gt;"' in html
            assert 'data-copy-target="tracker-tag"' in html and 'data-copy-target="tracker-examples"' in html
            text = visible_text(html)
            assert 'CampaignTracker.trackPurchase(49.99, { currency: "USD", eventId: "order-1001" });' in text
            assert "CampaignTracker.trackNewsletterSignup();" in text
            assert 'CampaignTracker.trackCourseEnrollment({ revenue: 199, currency: "USD" });' in text
            assert install_status(html).startswith("No event yet")
        assert "Total clicks" not in html  # settings, not a report

    def test_the_tag_names_the_configured_base_url(self, make_app):
        app = make_app(LINKTRACK_BASE_URL="https://go.example.net")
        with app.test_request_context("/settings"):
            html = app.jinja_env.get_template("tracking/_install.html").module.install_panel([])
        assert "&lt;script src=&#34;https://go.example.net/api/conversions/script&#34;&gt;" in html

    def test_the_panel_shows_each_origin_last_seen(self, app, client, owner, link, make_click):
        with time_machine.travel(T0 + timedelta(hours=1), tick=False):
            convert(client, link, make_click, origin=OTHER_ORIGIN)
        with time_machine.travel(T0 + timedelta(hours=2), tick=False):
            convert(client, link, make_click)
        creator = signed_in(app, owner)
        html = creator.get(f"/links/{link}").get_data(as_text=True)
        assert install_status(html) == f"Last event received from {ORIGIN} at 2026-03-01 14:00 UTC."
        assert f"{OTHER_ORIGIN} at 2026-03-01 13:00 UTC" in visible_text(html)
        settings = creator.get("/settings").get_data(as_text=True)
        with app.app_context():
            code = sightings.link_sightings(owner[0], uuid.UUID(link))[0].short_code
        assert install_status(settings) == f"Last event received from {ORIGIN} at 2026-03-01 14:00 UTC (link /{code})."

    def test_two_creators_never_see_each_others_sightings(
        self, app, client, owner, creator, link, make_link, make_click
    ):
        with time_machine.travel(T0 + timedelta(hours=1), tick=False):
            convert(client, link, make_click)
        other = creator()
        other_link = make_link(other[0])
        theirs = signed_in(app, other)
        assert install_status(theirs.get("/settings").get_data(as_text=True)).startswith("No event yet")
        assert install_status(theirs.get(f"/links/{other_link}").get_data(as_text=True)).startswith("No event yet")
        assert theirs.get(f"/links/{link}").status_code == 404
        assert theirs.get(f"/links/{link}/report").status_code == 404
        with app.app_context():
            assert sightings.link_sightings(other[0], uuid.UUID(link)) == []
            assert sightings.latest_sighting(other[0]) == []
            assert [s.origin for s in sightings.latest_sighting(owner[0])] == [ORIGIN]
