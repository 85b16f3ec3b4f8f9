"""API keys: made and revoked on the settings page, shown once, stored as a hash, used as Bearer."""

import hashlib
from datetime import datetime, timedelta, timezone

import pytest
import time_machine
from sqlalchemy import select

from linktrack.extensions import db
from linktrack.models import ApiKey
from tests.support.forms import form_post
from tests.support.pages import field_error, field_value, flashes, visible_text

PASSWORD = "correct horse battery"


def log_in(client, email, password=PASSWORD):
    assert form_post(client, "/login", {"email": email, "password": password}).status_code == 302


def create_key_on_settings(client, name="Zapier"):
    """Create a key like a creator would (the form posts, the browser follows the 303 back to the
    settings page); returns (that page's html, the key it shows)."""
    response = form_post(client, "/settings", {"name": name}, action="/settings/api-keys")
    assert response.status_code == 303
    assert response.headers["Location"] == "/settings#new-api-key"
    html = client.get("/settings").get_data(as_text=True)
    return html, field_value(html, "new-api-key")


def me(client, header: str | None):
    return client.get("/api/me", headers={"Authorization": header} if header is not None else {})


def key_rows(app, user_id):
    with app.app_context():
        return list(db.session.scalars(select(ApiKey).where(ApiKey.user_id == user_id)))


def revoke_on_settings(client, key_id):
    """The confirming submit (the confirmation page's button, or the dialog's confirm=yes)."""
    return form_post(client, "/settings", {"confirm": "yes"}, action=f"/settings/api-keys/{key_id}/revoke")


# ---- creation and display ---------------------------------------------------------------------


def test_a_new_key_is_shown_once_on_creation_and_never_again(client, register):
    register()
    html, key = create_key_on_settings(client, "Zapier")
    assert key.startswith("lt_")
    assert len(key) >= 40
    assert html.count(key) == 1
    assert "Copy it now: it will not be shown again." in " ".join(flashes(html))

    for _ in range(2):
        later = client.get("/settings").get_data(as_text=True)
        assert key not in later
        assert key[11:] not in later
        assert f"{key[:11]}…" in later
        assert "Zapier" in visible_text(later)


def test_a_key_is_stored_only_as_its_sha256_hash(app, client, register):
    email = register()
    _, key = create_key_on_settings(client)
    with app.app_context():
        row = db.session.execute(select(ApiKey.__table__)).one()
    stored = [str(value) for value in row]
    assert not any(key in value for value in stored)
    assert not any(key[11:] in value for value in stored)
    assert row.key_hash == hashlib.sha256(key.encode()).hexdigest()
    assert row.prefix == key[:11]
    assert me(app.test_client(), f"Bearer {key}").get_json()["email"] == email


def test_every_new_key_is_different(client, register):
    register()
    keys = {create_key_on_settings(client, f"key {n}")[1] for n in range(3)}
    assert len(keys) == 3


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("", "Name the key, e.g. 'Zapier' or 'Stripe webhook'."),
        ("   ", "Name the key, e.g. 'Zapier' or 'Stripe webhook'."),
        ("x" * 101, "Keep the name under 100 characters."),
    ],
    ids=["empty", "blank", "too-long"],
)
def test_a_key_needs_a_sensible_name(app, client, creator, name, error):
    user_id, email, _ = creator()
    log_in(client, email)
    response = form_post(client, "/settings", {"name": name}, action="/settings/api-keys")
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert field_error(html, "name") == error
    assert 'id="new-api-key"' not in html
    assert key_rows(app, user_id) == []


# ---- Bearer authentication --------------------------------------------------------------------


def test_a_bearer_key_authenticates_as_its_creator(client, creator, api_key_for):
    user_id, email, _ = creator()
    key = api_key_for(user_id)
    response = me(client, f"Bearer {key}")
    assert response.status_code == 200
    body = response.get_json()
    assert body["email"] == email
    assert body["id"] == user_id
    # An API call does not open a browser session.
    assert "session" not in response.headers.get("Set-Cookie", "")
    assert me(client, None).status_code == 401


def test_the_scheme_is_case_insensitive(client, creator, api_key_for):
    user_id, email, _ = creator()
    key = api_key_for(user_id)
    assert me(client, f"bearer {key}").get_json()["email"] == email
    assert me(client, f"BEARER  {key} ").get_json()["email"] == email


def test_a_signed_in_browser_can_read_api_me_with_its_session(client, register):
    email = register()
    assert me(client, None).get_json()["email"] == email


def test_missing_credentials_answer_401_json(client):
    response = me(client, None)
    assert response.status_code == 401
    assert response.mimetype == "application/json"
    error = response.get_json()["error"]
    assert error["code"] == "unauthorized"
    assert "Bearer" in error["message"]


@pytest.mark.parametrize(
    ("header", "code"),
    [
        ("Basic abc", "invalid_authorization"),
        ("Basic dXNlcjpwYXNz", "invalid_authorization"),
        ("Token x", "invalid_authorization"),
        ("Bearer", "invalid_authorization"),
        ("Bearer ", "invalid_authorization"),
        ("lt_abcdef", "invalid_authorization"),
        ("Bearer not-a-key", "invalid_api_key"),
        ("Bearer lt_" + "A" * 43, "invalid_api_key"),
        ("Bearer lt_" + "A" * 500, "invalid_api_key"),
        ("Bearer lt_x y z", "invalid_api_key"),
    ],
)
def test_malformed_or_unknown_credentials_answer_401_json_with_a_code(client, header, code):
    response = me(client, header)
    assert response.status_code == 401
    assert response.mimetype == "application/json"
    error = response.get_json()["error"]
    assert error["code"] == code
    assert error["message"]


def test_a_bad_key_on_a_web_page_still_sends_the_visitor_to_log_in(client):
    """Web pages keep answering like web pages: a redirect to log in, never a JSON error or a 500."""
    response = client.get("/dashboard", headers={"Authorization": "Bearer not-a-key"})
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


def test_last_used_is_recorded_at_most_once_a_minute(app, client, creator, api_key_for):
    user_id, email, _ = creator()
    key = api_key_for(user_id)
    assert key_rows(app, user_id)[0].last_used_at is None
    first_use = datetime(2026, 3, 2, 10, 0, tzinfo=timezone.utc)

    with time_machine.travel(first_use, tick=False) as clock:
        log_in(client, email)
        assert "2026-03-02 10:00 UTC" not in client.get("/settings").get_data(as_text=True)
        assert me(app.test_client(), f"Bearer {key}").status_code == 200
        assert key_rows(app, user_id)[0].last_used_at == first_use
        assert "2026-03-02 10:00 UTC" in client.get("/settings").get_data(as_text=True)

        clock.shift(timedelta(seconds=30))
        me(app.test_client(), f"Bearer {key}")
        assert key_rows(app, user_id)[0].last_used_at == first_use

        clock.shift(timedelta(minutes=2))
        me(app.test_client(), f"Bearer {key}")
        assert key_rows(app, user_id)[0].last_used_at == first_use + timedelta(minutes=2, seconds=30)


# ---- revoking ---------------------------------------------------------------------------------


def test_a_revoked_key_is_refused(app, client, creator, api_key_for):
    user_id, email, _ = creator()
    key = api_key_for(user_id, "Stripe webhook")
    other_key = api_key_for(user_id, "Zapier")
    log_in(client, email)
    [revoked] = [row for row in key_rows(app, user_id) if row.name == "Stripe webhook"]

    response = revoke_on_settings(client, revoked.id)
    assert response.status_code == 302
    assert response.headers["Location"] == "/settings"
    settings = client.get("/settings").get_data(as_text=True)
    assert "The API key has been revoked." in " ".join(flashes(settings))
    assert "Revoked" in visible_text(settings)
    assert 'aria-label="Revoke key Stripe webhook"' not in settings
    assert 'aria-label="Revoke key Zapier"' in settings

    refused = me(app.test_client(), f"Bearer {key}")
    assert refused.status_code == 401
    assert refused.get_json()["error"]["code"] == "invalid_api_key"
    assert me(app.test_client(), f"Bearer {other_key}").status_code == 200

    # Revoking twice is harmless.
    assert revoke_on_settings(client, revoked.id).status_code == 302
    assert me(app.test_client(), f"Bearer {key}").status_code == 401


def test_a_creator_cannot_revoke_another_creators_key(app, client, creator, api_key_for):
    owner_id, owner_email, _ = creator()
    owner_key = api_key_for(owner_id, "Owner's key")
    _, intruder_email, _ = creator()
    [owner_row] = key_rows(app, owner_id)

    log_in(client, intruder_email)
    assert "Owner's key" not in client.get("/settings").get_data(as_text=True)
    response = revoke_on_settings(client, owner_row.id)
    assert response.status_code == 404  # exactly like a key that does not exist

    assert key_rows(app, owner_id)[0].revoked_at is None
    assert me(app.test_client(), f"Bearer {owner_key}").get_json()["email"] == owner_email


def test_revoking_an_unknown_key_is_a_404(client, register):
    register()
    assert revoke_on_settings(client, 999_999).status_code == 404


def test_the_settings_page_and_key_actions_need_a_signed_in_creator(client, creator, api_key_for):
    user_id, _, _ = creator()
    key = api_key_for(user_id)
    assert client.get("/settings").headers["Location"].startswith("/login")
    # A Bearer key is for the API, and CSRF still guards the settings forms.
    response = client.post("/settings/api-keys", data={"name": "x"}, headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 400
