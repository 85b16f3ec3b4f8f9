"""Destructive buttons ask again before acting, without JavaScript: the first press answers a page
asking (nothing changes), its button confirms. A new API key is shown after a redirect, so a refresh
neither posts the form again nor shows the key twice."""

import uuid

from sqlalchemy import select

from linktrack.extensions import db
from linktrack.models import ApiKey, CampaignLink
from tests.support.forms import csrf_token_from, form_post
from tests.support.pages import visible_text


def _user_id(app):
    from linktrack.models import User

    with app.app_context():
        return db.session.scalar(select(User.id).where(User.email == "confirm@example.com"))


def test_archive_asks_first_and_the_confirm_page_archives(app, client, register, make_link):
    register("confirm@example.com")
    link_id = make_link(_user_id(app), short_code="keepme")
    detail = f"/links/{link_id}"
    assert 'data-confirm="Archive /keepme?' in client.get(detail).get_data(as_text=True)

    asked = form_post(client, detail, {}, action=f"{detail}/archive")
    html = asked.get_data(as_text=True)
    assert asked.status_code == 200
    assert '<h1 id="confirm-title">Archive /keepme?</h1>' in html
    assert 'name="confirm" value="yes"' in html and f'href="{detail}"' in html  # Cancel goes back
    with app.app_context():
        assert db.session.get(CampaignLink, uuid.UUID(link_id)).archived_at is None

    done = client.post(f"{detail}/archive", data={"csrf_token": csrf_token_from(html), "confirm": "yes"})
    assert done.status_code == 302
    with app.app_context():
        assert db.session.get(CampaignLink, uuid.UUID(link_id)).archived_at is not None


def test_revoke_and_log_out_everywhere_ask_first(app, client, register):
    register("confirm@example.com")
    assert form_post(client, "/settings", {"name": "Stripe"}, action="/settings/api-keys").status_code == 303
    with app.app_context():
        key = db.session.scalar(select(ApiKey))
    asked = form_post(client, "/settings", {}, action=f"/settings/api-keys/{key.id}/revoke")
    assert "Revoke the API key “Stripe”?" in visible_text(asked.get_data(as_text=True))
    with app.app_context():
        assert db.session.get(ApiKey, key.id).revoked_at is None
    asked = form_post(client, "/settings", {}, action="/settings/log-out-everywhere")
    assert asked.status_code == 200 and "Log out everywhere else?" in asked.get_data(as_text=True)


def test_asking_about_another_creators_key_is_a_404(app, client, creator, api_key_for, register):
    other = creator()[0]
    api_key_for(other)
    register("confirm@example.com")
    with app.app_context():
        key_id = db.session.scalar(select(ApiKey.id).where(ApiKey.user_id == other))
    assert form_post(client, "/settings", {}, action=f"/settings/api-keys/{key_id}/revoke").status_code == 404


def test_a_refresh_after_creating_a_key_creates_nothing_and_shows_it_no_more(app, client, register):
    register("confirm@example.com")
    created = form_post(client, "/settings", {"name": "Zapier"}, action="/settings/api-keys")
    assert created.status_code == 303  # the browser's refresh now repeats the GET, not the POST
    shown = client.get("/settings").get_data(as_text=True)
    assert 'id="new-api-key"' in shown
    refreshed = client.get("/settings").get_data(as_text=True)
    assert 'id="new-api-key"' not in refreshed
    with app.app_context():
        assert len(db.session.scalars(select(ApiKey)).all()) == 1


def test_the_key_never_travels_readable_in_the_session_cookie(app, client, register):
    register("confirm@example.com")
    created = form_post(client, "/settings", {"name": "Zapier"}, action="/settings/api-keys")
    key = client.get("/settings").get_data(as_text=True).split('id="new-api-key"')[1].split('value="')[1].split('"')[0]
    assert key.startswith("lt_")
    import base64
    import zlib

    cookie = created.headers["Set-Cookie"].split("session=")[1].split(";")[0]
    payload = cookie.lstrip(".").split(".")[0]
    raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    text = (zlib.decompress(raw) if cookie.startswith(".") else raw).decode()
    assert key not in text and key[3:] not in text
