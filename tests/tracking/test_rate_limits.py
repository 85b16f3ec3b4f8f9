"""Login (and registration) attempts are rate-limited per client, with the counters in real Redis."""

import pytest

from tests.support.forms import form_post
from tests.support.pages import visible_text

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


def test_the_link_api_gives_each_creator_one_budget_and_answers_429_json(limited_app, creator, api_key_for):
    app = limited_app(LINK_API_RATE_LIMIT="3 per minute")
    client = app.test_client()
    owner_id, _, _ = creator()
    first_key, second_key = api_key_for(owner_id, "laptop"), api_key_for(owner_id, "server")
    other_key = api_key_for(creator()[0])

    def list_links(key):
        return client.get("/api/links", headers={"Authorization": f"Bearer {key}"})

    assert [list_links(key).status_code for key in (first_key, second_key, first_key)] == [200, 200, 200]
    refused = list_links(second_key)  # another key of the same creator draws on the same budget

    assert refused.status_code == 429
    assert refused.get_json()["error"]["code"] == "rate_limited"
    assert "the limit is 3 per minute" in refused.get_json()["error"]["message"]
    assert int(refused.headers["Retry-After"]) > 0
    # Creating a link counts too, and another creator is not held up.
    assert client.post("/api/links", json={}, headers={"Authorization": f"Bearer {first_key}"}).status_code == 429
    assert list_links(other_key).status_code == 200


def test_limits_live_in_redis_when_redis_url_is_set_so_every_process_shares_them(
    make_app, creator, redis_client, redis_url
):
    """Two app instances (two gunicorn workers, or two machines) with REDIS_URL count against one
    budget. With in-memory counters the second instance would start from zero."""
    _, email, _ = creator()

    def build():
        return make_app(REDIS_URL=redis_url, RATELIMIT_ENABLED=True, LOGIN_RATE_LIMIT="3 per minute")

    first = build()
    assert first.config["RATELIMIT_STORAGE_URI"] == redis_url
    first_client = first.test_client()
    for _ in range(2):
        assert attempt_login(first_client, email, "wrong password").status_code == 422
    assert any(b"auth.login" in key for key in redis_client.keys("*"))

    second_client = build().test_client()
    assert attempt_login(second_client, email, "wrong password").status_code == 422
    assert attempt_login(second_client, email, "wrong password").status_code == 429
    assert attempt_login(first_client, email, "wrong password").status_code == 429


def test_no_redis_key_holds_a_raw_address(limited_app, creator, make_link, make_click, redis_client):
    """Every limit counted by address (logins, the link API's anonymous callers, the conversion fast
    path and the Flask view, short-link clicks and unknown codes) keys Redis by the address's daily
    keyed hash. Before, the conversion fast path and every Flask-Limiter limit keyed by the raw IP."""
    from tests.support.conversions import ORIGIN, conversion
    from tests.support.redirect import click, create_link

    ip = "203.0.113.77"
    app = limited_app()
    _, email, _ = creator()
    client = app.test_client()
    attempt_login(client, email, "wrong password", environ_base={"REMOTE_ADDR": ip})
    client.get("/api/links", environ_base={"REMOTE_ADDR": ip})  # 401, counted by address
    link = create_link(app, creator()[0])
    click(client, link["short_code"], ip=ip)
    client.get("/made-up-code", environ_base={"REMOTE_ADDR": ip})
    link_id = make_link(creator()[0])
    attributed = (link_id, make_click(link_id))
    body = conversion(attributed, event_type="newsletter_signup")
    landing = {"headers": {"Origin": ORIGIN}, "environ_base": {"REMOTE_ADDR": ip}}
    assert client.post("/api/conversions", json=body, **landing).status_code == 201  # the fast path
    assert client.post("/api/conversions", data="{}", **landing).status_code == 415  # the Flask view

    keys = [key.decode() for key in redis_client.keys("*")]
    for part in ("auth.login", "links_api", "short-link-ip", "short-link-miss", "conversions-ip", "tracking.record"):
        assert any(part in key for key in keys), (part, keys)
    assert not [key for key in keys if ip in key or ip.replace(".", "") in key]
