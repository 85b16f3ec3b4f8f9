"""Every form refuses a POST without the page's CSRF token, and nothing changes when it does."""

import pytest
from sqlalchemy import func, select

from linktrack.extensions import db
from linktrack.models import ApiKey, User
from tests.support.forms import csrf_token_from, form_post
from tests.support.pages import visible_text

PASSWORD = "correct horse battery"
BAD_TOKENS = {"missing": None, "wrong": "IjEyMzQ1Njc4OTAi.not-a-real-token", "empty": ""}


def post_with(client, path: str, data: dict, token: str | None):
    if token is not None:
        data = {**data, "csrf_token": token}
    return client.post(path, data=data)


def assert_refused(response) -> None:
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    text = visible_text(html)
    assert "Bad Request" in text
    assert "CSRF token" in text
    assert 'class="brand"' in html, "the refusal page uses the site layout"
    assert "Traceback" not in html


def count(app, model) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


@pytest.fixture(params=sorted(BAD_TOKENS))
def bad_token(request):
    return BAD_TOKENS[request.param]


def test_register_without_a_valid_token_creates_no_account(app, client, bad_token):
    client.get("/register")  # the browser has a session with a real token
    response = post_with(
        client, "/register", {"email": "forged@example.com", "password": PASSWORD, "confirm": PASSWORD}, bad_token
    )
    assert_refused(response)
    assert count(app, User) == 0
    assert client.get("/dashboard").status_code == 302


def test_register_with_a_token_from_another_session_is_refused(app, client):
    """A token lifted from an attacker's own session is worthless in the victim's."""
    other = app.test_client()
    stolen = csrf_token_from(other.get("/register").get_data(as_text=True))
    client.get("/register")
    response = post_with(
        client, "/register", {"email": "forged@example.com", "password": PASSWORD, "confirm": PASSWORD}, stolen
    )
    assert_refused(response)
    assert count(app, User) == 0


def test_login_without_a_valid_token_does_not_sign_in(client, creator, bad_token):
    _, email, password = creator()
    client.get("/login")
    assert_refused(post_with(client, "/login", {"email": email, "password": password}, bad_token))
    assert client.get("/dashboard").status_code == 302


def test_change_password_without_a_valid_token_keeps_the_password(client, creator, bad_token):
    _, email, password = creator()
    form_post(client, "/login", {"email": email, "password": password})
    data = {"current_password": password, "new_password": "hijacked password", "confirm": "hijacked password"}
    assert_refused(post_with(client, "/settings/password", data, bad_token))

    form_post(client, "/dashboard", {}, action="/logout")
    assert form_post(client, "/login", {"email": email, "password": "hijacked password"}).status_code == 422
    assert form_post(client, "/login", {"email": email, "password": password}).status_code == 302


def test_logout_without_a_valid_token_keeps_the_session(client, register, bad_token):
    register()
    assert_refused(post_with(client, "/logout", {}, bad_token))
    assert client.get("/dashboard").status_code == 200


def test_creating_an_api_key_without_a_valid_token_makes_none(app, client, register, bad_token):
    register()
    assert_refused(post_with(client, "/settings/api-keys", {"name": "forged"}, bad_token))
    assert count(app, ApiKey) == 0


def test_revoking_an_api_key_without_a_valid_token_keeps_it_working(app, client, creator, api_key_for, bad_token):
    user_id, email, password = creator()
    key = api_key_for(user_id)
    form_post(client, "/login", {"email": email, "password": password})
    with app.app_context():
        key_id = db.session.scalar(select(ApiKey.id).where(ApiKey.user_id == user_id))
    assert_refused(post_with(client, f"/settings/api-keys/{key_id}/revoke", {}, bad_token))
    assert app.test_client().get("/api/me", headers={"Authorization": f"Bearer {key}"}).status_code == 200
