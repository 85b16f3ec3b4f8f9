"""Login (and registration) attempts are rate-limited per client, with the counters in real Redis."""

import pytest
from conftest import form_post
from pages import visible_text

PASSWORD = "correct horse battery"


@pytest.fixture
def limited_app(make_app, redis_client, redis_url):
    """An app whose limits are on and stored in the test Redis (emptied before and after)."""

    def build(**overrides):
        settings = {
            "RATELIMIT_ENABLED": True,
            "RATELIMIT_STORAGE_URI": redis_url,
            "LOGIN_RATE_LIMIT": "3 per minute",
            **overrides,
        }
        return make_app(**settings)

    return build


def attempt_login(client, email, password, **kwargs):
    return form_post(client, "/login", {"email": email, "password": password}, **kwargs)


def test_the_fourth_login_attempt_in_a_minute_is_refused_with_a_readable_page(limited_app, creator, redis_client):
    _, email, password = creator()
    client = limited_app().test_client()

    for _ in range(3):
        assert attempt_login(client, email, "wrong password").status_code == 422
    refused = attempt_login(client, email, password)

    assert refused.status_code == 429
    assert refused.mimetype == "text/html"
    assert int(refused.headers["Retry-After"]) > 0
    html = refused.get_data(as_text=True)
    text = visible_text(html)
    assert "Too many attempts" in text
    assert "wait a minute, then try again" in text
    assert 'class="brand"' in html
    # Even the right password does not get through while the limit holds.
    assert client.get("/dashboard").status_code == 302
    # The counter lives in Redis, so every web worker shares it.
    assert any(b"auth.login" in key for key in redis_client.keys("*"))


def test_showing_the_login_page_is_not_limited(limited_app, creator):
    _, email, _ = creator()
    client = limited_app().test_client()
    for _ in range(3):
        attempt_login(client, email, "wrong password")
    assert attempt_login(client, email, "wrong password").status_code == 429
    for _ in range(5):
        page = client.get("/login")
        assert page.status_code == 200
        assert "Log in" in visible_text(page.get_data(as_text=True))


def test_each_client_behind_the_proxy_has_its_own_budget(limited_app, creator):
    """With TRUST_PROXY_HOPS the limiter counts per viewer address, not per proxy."""
    _, email, password = creator()
    app = limited_app(TRUST_PROXY_HOPS=1)
    first, second = app.test_client(), app.test_client()
    first_ip = {"headers": {"X-Forwarded-For": "203.0.113.1"}}
    second_ip = {"headers": {"X-Forwarded-For": "203.0.113.2"}}

    for _ in range(3):
        assert attempt_login(first, email, "wrong password", **first_ip).status_code == 422
    assert attempt_login(first, email, password, **first_ip).status_code == 429
    assert attempt_login(second, email, password, **second_ip).status_code == 302


def test_limits_are_off_in_the_default_test_settings(client, creator):
    """The rest of the suite logs in freely: TestConfig turns the limiter off."""
    _, email, password = creator()
    for _ in range(12):
        assert attempt_login(client, email, "wrong password").status_code == 422
    assert attempt_login(client, email, password).status_code == 302


def test_registration_is_limited_too(limited_app):
    client = limited_app(REGISTER_RATE_LIMIT="2 per minute").test_client()
    for number in range(2):
        data = {"email": f"bulk{number}@example.com", "password": PASSWORD, "confirm": PASSWORD}
        assert form_post(client, "/register", data).status_code == 302
        form_post(client, "/dashboard", {}, action="/logout")
    data = {"email": "bulk3@example.com", "password": PASSWORD, "confirm": PASSWORD}
    assert form_post(client, "/register", data).status_code == 429
