"""The creator's time zone: chosen in Settings from a list (a bad name is refused next to the
field), taken from the browser at registration (UTC when it sends none or an unknown one)."""

import pytest
from sqlalchemy import select

from linktrack.extensions import db
from linktrack.models import User
from tests.support.forms import form_post
from tests.support.pages import field_error, flashes

PASSWORD = "correct horse battery"


def zones_of(app, email: str) -> tuple[str, str]:
    with app.app_context():
        return tuple(
            db.session.execute(select(User.time_zone, User.counted_time_zone).where(User.email == email)).one()
        )


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("Asia/Kolkata", "Asia/Kolkata"),
        ("Asia/Calcutta", "Asia/Kolkata"),  # Chromium still says Calcutta
        ("America/New_York", "America/New_York"),
        ("", "UTC"),
        ("Mars/Olympus", "UTC"),
    ],
)
def test_registration_keeps_the_zone_the_browser_sent_or_utc(app, client, sent, kept):
    data = {"email": "new@example.com", "password": PASSWORD, "confirm": PASSWORD, "time_zone": sent}
    assert form_post(client, "/register", data).status_code == 302
    assert zones_of(app, "new@example.com") == (kept, kept)  # counted in it from the start: nothing to rebuild


def test_the_registration_page_carries_the_hidden_field_and_its_script(client):
    html = client.get("/register").get_data(as_text=True)
    assert 'name="time_zone" type="hidden"' in html and "data-browser-time-zone" in html
    assert '<script src="/static/js/time_zone.js" defer></script>' in html


@pytest.fixture
def signed_in(app, creator):
    _, email, password = creator()
    client = app.test_client()
    assert form_post(client, "/login", {"email": email, "password": password}).status_code == 302
    return client, email


def test_settings_offer_the_zones_and_save_one(app, signed_in):
    client, email = signed_in
    html = client.get("/settings").get_data(as_text=True)
    assert '<option selected value="UTC">UTC</option>' in html
    assert '<option value="Europe/Berlin">Europe/Berlin</option>' in html
    response = form_post(client, "/settings", {"time_zone": "Europe/Berlin"}, action="/settings/time-zone")
    assert response.status_code == 302
    assert zones_of(app, email) == ("Europe/Berlin", "Europe/Berlin")  # rebuilt (inline without Redis)
    assert any("Europe/Berlin" in message for message in flashes(client.get("/settings").get_data(as_text=True)))


@pytest.mark.parametrize("bad", ["Mars/Olympus", "", "posixrules", "Etc/GMT+5", "Europe/Berlin\x00"])
def test_a_bad_zone_is_refused_next_to_the_field(app, signed_in, bad):
    client, email = signed_in
    response = form_post(client, "/settings", {"time_zone": bad}, action="/settings/time-zone")
    assert response.status_code == 422
    error = field_error(response.get_data(as_text=True), "time_zone")
    assert error == "Choose a time zone from the list, such as Europe/Berlin or America/New_York."
    assert zones_of(app, email) == ("UTC", "UTC")
