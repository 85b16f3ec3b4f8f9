"""Security headers on pages, API answers, the tracker script and the short-link redirect; cookie flags."""

from html.parser import HTMLParser

import pytest

from linktrack import create_app
from linktrack.web.security import API_CSP, PAGE_CSP
from tests.support.forms import csrf_token_from, form_post
from tests.support.redirect import create_link

PASSWORD = "correct horse battery"


class _InlineCode(HTMLParser):
    """What a CSP without 'unsafe-inline' would block: inline scripts and styles, event handler
    attributes, javascript: URLs."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        if tag == "script":
            self._in_script = True
            if not dict(attrs).get("src"):
                self.found.append("<script> without src")
        if tag == "style":
            self.found.append("<style> element")
        for name, value in attrs:
            if name.startswith("on"):
                self.found.append(f"<{tag} {name}=…>")
            if name == "style":
                self.found.append(f'<{tag} style="{value}">')
            if name in ("href", "src", "action", "formaction") and (value or "").strip().lower().startswith(
                "javascript:"
            ):
                self.found.append(f"<{tag} {name}={value}>")

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_script and data.strip():
            self.found.append("inline script text")


def inline_code(html: str) -> list[str]:
    parser = _InlineCode()
    parser.feed(html)
    return parser.found


def log_in(client, email, **kwargs):
    response = form_post(client, "/login", {"email": email, "password": PASSWORD}, **kwargs)
    assert response.status_code == 302
    return response


@pytest.fixture
def signed_in(app, client, creator, make_link, make_click):
    """A creator with a link that has a click and a purchase (so the report charts draw bars), signed in."""
    user_id, email, _ = creator(password=PASSWORD)
    link_id = make_link(user_id)
    tracking_id = make_click(link_id)
    response = client.post(
        "/api/conversions",
        json={
            "tracking_id": tracking_id,
            "campaign_link_id": link_id,
            "event_type": "purchase",
            "revenue_amount": "49.99",
            "event_id": "order-1",
        },
        headers={"Origin": "https://landing.example.com"},
    )
    assert response.status_code == 201, response.get_json()
    log_in(client, email)
    return link_id


def assert_page_headers(response):
    headers = response.headers
    assert headers["Content-Security-Policy"] == PAGE_CSP
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"
    assert "Strict-Transport-Security" not in headers  # served over http


def test_the_page_policy_allows_no_inline_code_and_no_framing():
    directives = dict(part.strip().split(" ", 1) for part in PAGE_CSP.split(";"))
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe" not in PAGE_CSP


@pytest.mark.parametrize("path", ["/", "/login", "/register", "/static/css/app.css"])
def test_public_pages_carry_the_security_headers_and_no_inline_code(client, path):
    response = client.get(path)
    response.close()  # a static file is sent from an open file
    assert response.status_code == 200
    assert_page_headers(response)
    if response.mimetype == "text/html":
        assert inline_code(response.get_data(as_text=True)) == []


def test_the_404_page_of_an_unknown_short_code_keeps_the_redirects_referrer_policy(client):
    response = client.get("/no-such-code")
    assert response.status_code == 404
    assert response.headers["Content-Security-Policy"] == PAGE_CSP
    assert response.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"


@pytest.mark.parametrize(
    "page",
    [
        "/dashboard",
        "/links",
        "/links/new",
        "/links/{link}",
        "/links/{link}/edit",
        "/links/{link}/report",
        "/reports/funnel",
        "/reports/revenue",
        "/settings",
        "/settings/forwarding",
    ],
)
def test_signed_in_pages_carry_the_security_headers_and_no_inline_code(client, signed_in, page):
    response = client.get(page.format(link=signed_in))
    assert response.status_code == 200
    assert_page_headers(response)
    assert inline_code(response.get_data(as_text=True)) == []


def test_the_report_charts_draw_hatched_bars_without_a_style_attribute(client, signed_in):
    html = client.get(f"/links/{signed_in}/report").get_data(as_text=True)
    assert 'class="chart-bar chart-bar-hatched" fill="url(#' in html


def test_api_answers_carry_a_policy_that_allows_nothing(client, creator, api_key_for):
    user_id, _, _ = creator()
    for response in (
        client.get("/api/links", headers={"Authorization": f"Bearer {api_key_for(user_id)}"}),
        client.get("/api/links"),  # the 401 too
    ):
        assert response.headers["Content-Security-Policy"] == API_CSP
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["Referrer-Policy"] == "no-referrer"


def test_the_tracker_script_stays_loadable_from_any_landing_page(client):
    response = client.get("/api/conversions/script", headers={"Origin": "https://landing.example.com"})
    assert response.status_code == 200
    assert response.headers["Cross-Origin-Resource-Policy"] == "cross-origin"
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.mimetype == "application/javascript"


def test_the_conversions_api_keeps_answering_cross_origin_calls(client, creator, make_link, make_click):
    link_id = make_link(creator()[0])
    preflight = client.options(
        "/api/conversions",
        headers={"Origin": "https://landing.example.com", "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status_code == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == "https://landing.example.com"
    body = {"tracking_id": make_click(link_id), "campaign_link_id": link_id, "event_type": "newsletter_signup"}
    response = client.post("/api/conversions", json=body, headers={"Origin": "https://landing.example.com"})
    assert response.status_code == 201
    assert response.headers["Access-Control-Allow-Origin"] == "https://landing.example.com"
    for answer in (preflight, response):
        assert answer.headers["Content-Security-Policy"] == API_CSP
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
        assert answer.headers["Referrer-Policy"] == "no-referrer"


class TestHsts:
    def test_not_over_http(self, client):
        assert "Strict-Transport-Security" not in client.get("/login").headers

    def test_over_https(self, app):
        response = app.test_client().get("/login", base_url="https://linktrack.example.com")
        assert response.headers["Strict-Transport-Security"] == "max-age=31536000"
        assert response.headers["Content-Security-Policy"] == PAGE_CSP

    def test_behind_a_trusted_proxy_that_terminates_https(self, make_app):
        client = make_app(TRUST_PROXY_HOPS=1).test_client()
        response = client.get("/login", headers={"X-Forwarded-Proto": "https"})
        assert response.headers["Strict-Transport-Security"] == "max-age=31536000"

    def test_on_a_landing_pages_conversion_behind_a_trusted_proxy(self, make_app, creator, make_link, make_click):
        """The browser's conversion is answered before Flask (tracking/fast_path.py): HSTS there too."""
        app = make_app(TRUST_PROXY_HOPS=1)
        link_id = make_link(creator()[0])
        body = {"tracking_id": make_click(link_id), "campaign_link_id": link_id, "event_type": "newsletter_signup"}
        headers = {"Origin": "https://landing.example.com", "X-Forwarded-Proto": "https"}
        response = app.test_client().post("/api/conversions", json=body, headers=headers)
        assert response.status_code == 201
        assert response.headers["Strict-Transport-Security"] == "max-age=31536000"
        assert response.headers["Content-Security-Policy"] == API_CSP

    def test_a_client_claiming_https_without_a_trusted_proxy_gets_none(self, client):
        response = client.get("/login", headers={"X-Forwarded-Proto": "https"})
        assert "Strict-Transport-Security" not in response.headers


class TestShortLinkRedirect:
    """The live link's 302 is answered before Flask (redirect.fast_path.ShortLinkFastPath): its headers are its own."""

    def test_the_302_says_how_much_referrer_to_pass_on_and_is_never_sniffed_or_cached(self, app, client, creator):
        link = create_link(app, creator()[0])
        response = client.get(f"/{link['short_code']}")
        assert response.status_code == 302
        assert response.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Cache-Control"] == "no-store"
        assert "Strict-Transport-Security" not in response.headers
        assert "Set-Cookie" not in response.headers

    def test_over_https_behind_a_trusted_proxy_the_302_carries_hsts(self, make_app, creator):
        app = make_app(TRUST_PROXY_HOPS=1)
        link = create_link(app, creator()[0])
        response = app.test_client().get(f"/{link['short_code']}", headers={"X-Forwarded-Proto": "https"})
        assert response.status_code == 302
        assert response.headers["Strict-Transport-Security"] == "max-age=31536000"
        spoofed = app.test_client().get(f"/{link['short_code']}", headers={"X-Forwarded-Proto": "http"})
        assert "Strict-Transport-Security" not in spoofed.headers


def cookie(response, name):
    """The Set-Cookie header for `name`, split into its lower-cased attributes."""
    for header in response.headers.getlist("Set-Cookie"):
        if header.startswith(name + "="):
            return {part.strip().split("=")[0].lower(): part for part in header.split(";")[1:]}
    raise AssertionError(f"no {name} cookie in {response.headers.getlist('Set-Cookie')}")


class TestCookies:
    HTTPS = "https://linktrack.example.com"

    def production_app(self, make_app, monkeypatch, **settings):
        monkeypatch.delenv("FLASK_DEBUG", raising=False)
        monkeypatch.delenv("SESSION_COOKIE_SECURE", raising=False)
        return make_app(TESTING=False, **settings)

    def log_in_remembered(self, app, email):
        client = app.test_client()
        referer = {"Referer": self.HTTPS + "/login"}  # Flask-WTF checks it on HTTPS
        token_page = client.get("/login", base_url=self.HTTPS)
        data = {"email": email, "password": PASSWORD, "remember": "y", "csrf_token": csrf_token_from(token_page.text)}
        response = client.post("/login", data=data, base_url=self.HTTPS, headers=referer)
        assert response.status_code == 302
        return response

    def test_production_cookies_are_secure_httponly_and_lax(self, make_app, monkeypatch, creator):
        app = self.production_app(make_app, monkeypatch)
        _, email, _ = creator(password=PASSWORD)
        response = self.log_in_remembered(app, email)
        for name in ("session", "remember_token"):
            flags = cookie(response, name)
            assert "secure" in flags, name
            assert "httponly" in flags, name
            assert flags["samesite"].strip().lower() == "samesite=lax", name

    def test_make_run_on_plain_http_keeps_cookies_usable(self, make_app, monkeypatch, creator):
        monkeypatch.setenv("FLASK_DEBUG", "1")
        app = make_app(TESTING=False)
        assert app.config["SESSION_COOKIE_SECURE"] is False
        assert app.config["REMEMBER_COOKIE_SECURE"] is False
        _, email, _ = creator(password=PASSWORD)
        client = app.test_client()
        response = log_in(client, email)
        flags = cookie(response, "session")
        assert "secure" not in flags
        assert "httponly" in flags
        assert client.get("/dashboard").status_code == 200

    def test_production_defaults_to_secure_cookies_and_the_environment_can_turn_them_off(self, monkeypatch, tmp_path):
        monkeypatch.delenv("FLASK_DEBUG", raising=False)
        monkeypatch.delenv("SESSION_COOKIE_SECURE", raising=False)
        monkeypatch.setenv("SECRET_KEY", "from-the-environment")
        assert create_app({"INSTANCE_PATH": str(tmp_path)}).config["SESSION_COOKIE_SECURE"] is True

        monkeypatch.setenv("SESSION_COOKIE_SECURE", "0")
        app = create_app({"INSTANCE_PATH": str(tmp_path)})
        assert app.config["SESSION_COOKIE_SECURE"] is False
        assert app.config["REMEMBER_COOKIE_SECURE"] is False
