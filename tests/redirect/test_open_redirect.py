"""No open redirect: the short link only ever sends a viewer to the link's stored destination, and
login's `next` only ever to a page of linktrack itself, whatever the request says.

Hypothesis draws hostile requests: `//evil.com` and backslash paths, encoded slashes, CRLF in the
query, Host / X-Forwarded-Host / Forwarded headers naming another site, with and without a
trusted proxy in front.
"""

import uuid
from urllib.parse import parse_qsl, urljoin, urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from linktrack.extensions import db
from linktrack.links.urls import final_destination_url
from linktrack.models import CampaignLink
from tests.support.forms import csrf_token_from

PASSWORD = "correct horse battery"
DESTINATION = "https://landing.example.com/offer?ref=yt#buy"
EVIL = ["evil.com", "//evil.com", "/\\evil.com", "\\\\evil.com", "%2F%2Fevil.com", "%5C%5Cevil.com", "http://evil.com"]

hostile_settings = settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

path_piece = st.sampled_from(["/", "//", "\\", "%2F", "%2f", "%5C", ".", "..", "%0d%0a", "\t", "@", "?", "#", *EVIL])
query_piece = st.sampled_from(
    ["next=//evil.com", "url=http://evil.com", "%0d%0aLocation:%20http://evil.com", "\r\nLocation: http://evil.com"]
    + ["&", "=", "%00", "utm_source=evil", "ct_tracking_id=" + str(uuid.UUID(int=1)), "#", "%23", "\\", "//"]
)
hostile_headers = st.dictionaries(
    st.sampled_from(
        ["HTTP_HOST", "HTTP_X_FORWARDED_HOST", "HTTP_X_FORWARDED_PROTO", "HTTP_X_FORWARDED_PREFIX"]
        + ["HTTP_FORWARDED", "HTTP_X_ORIGINAL_URL", "HTTP_X_REWRITE_URL", "HTTP_REFERER"]
    ),
    st.sampled_from(["evil.com", "evil.com:443", "https", "//evil.com", "/\\evil.com", "host=evil.com", "/promo"]),
    max_size=4,
)


@pytest.fixture
def stored_link(app, creator):
    """A live link to DESTINATION; returns its short code, id and the destination with its UTM tags."""
    user_id = creator()[0]
    with app.app_context():
        link = CampaignLink(
            user_id=user_id,
            short_code="promo",
            video_id="dQw4w9WgXcQ",
            video_url="https://www.youtube.com/watch?v=dQw4w9WgXcQ",
            destination_url=DESTINATION,
            campaign="launch",
            utm_source="youtube",
            utm_medium="video",
            allowed_origins=["https://landing.example.com"],
        )
        db.session.add(link)
        db.session.commit()
        return {"code": link.short_code, "id": str(link.id), "final": final_destination_url(link)}


def assert_is_the_stored_destination(location: str, link: dict) -> None:
    """The stored destination (with its UTM tags), plus exactly the two tracking parameters."""
    got, expected = urlsplit(location), urlsplit(link["final"])
    assert (got.scheme, got.netloc, got.path, got.fragment) == (
        expected.scheme,
        expected.netloc,
        expected.path,
        expected.fragment,
    )
    query = parse_qsl(got.query, keep_blank_values=True)
    tracking = {name: value for name, value in query if name.startswith("ct_")}
    assert [pair for pair in query if not pair[0].startswith("ct_")] == parse_qsl(expected.query)
    assert tracking["ct_campaign_link_id"] == link["id"]
    assert uuid.UUID(tracking["ct_tracking_id"]).version == 7
    assert set(tracking) == {"ct_tracking_id", "ct_campaign_link_id"}


def addressed_host(environ: dict, trusted_proxy: bool) -> str:
    """The host the request was addressed to, as the app is configured to believe it."""
    if trusted_proxy and "HTTP_X_FORWARDED_HOST" in environ:
        return environ["HTTP_X_FORWARDED_HOST"]
    return environ.get("HTTP_HOST", "localhost")


def assert_no_header_injection(response) -> None:
    for name, value in response.headers.items():
        assert "\r" not in value and "\n" not in value, name


@pytest.mark.parametrize("trusted_proxy", [False, True], ids=["direct", "behind-a-trusted-proxy"])
def test_the_short_link_redirects_to_its_stored_destination_whatever_the_query_and_headers(
    make_app, stored_link, trusted_proxy
):
    client = make_app(TRUST_PROXY_HOPS=1 if trusted_proxy else 0).test_client()

    @hostile_settings
    @given(query=st.lists(query_piece, max_size=5).map("".join), headers=hostile_headers)
    def check(query, headers):
        environ = {"PATH_INFO": "/" + stored_link["code"], "QUERY_STRING": query, **headers}
        response = client.get("/", environ_overrides=environ)
        assert response.status_code == 302
        assert_is_the_stored_destination(response.headers["Location"], stored_link)
        assert_no_header_injection(response)

    check()


@pytest.mark.parametrize("trusted_proxy", [False, True], ids=["direct", "behind-a-trusted-proxy"])
def test_no_path_makes_any_redirect_to_another_site(make_app, stored_link, trusted_proxy):
    """Mangled short-link paths are either redirected to the stored destination, redirected within
    linktrack itself (a doubled slash tidied up, to the host the request was addressed to), or not
    redirected at all."""
    client = make_app(TRUST_PROXY_HOPS=1 if trusted_proxy else 0).test_client()
    code = st.sampled_from([stored_link["code"], "static", "links", "login", ""])

    @hostile_settings
    @given(
        path=st.tuples(st.lists(path_piece, max_size=3), code, st.lists(path_piece, max_size=3)).map(
            lambda parts: "/" + "".join(parts[0]) + parts[1] + "".join(parts[2])
        ),
        query=st.lists(query_piece, max_size=3).map("".join),
        headers=hostile_headers,
    )
    def check(path, query, headers):
        environ = {"PATH_INFO": path, "QUERY_STRING": query, **headers}
        response = client.get("/", environ_overrides=environ)
        assert_no_header_injection(response)
        if not 300 <= response.status_code < 400:
            return
        location = response.headers["Location"]
        target = urlsplit(location.replace("\\", "/"))  # as a browser reads it
        if target.netloc == "landing.example.com":
            assert_is_the_stored_destination(location, stored_link)
        elif target.scheme or target.netloc:
            assert target.netloc == addressed_host(environ, trusted_proxy), location
        else:  # a path on this site (the login page)
            assert location.startswith("/") and not location.startswith("//"), location

    check()


def as_a_browser_resolves(location: str, base: str = "http://localhost/login") -> str:
    """Where a browser goes with this Location: tabs and newlines are dropped, surrounding
    spaces and control characters stripped, and a backslash read as a slash (WHATWG URL)."""
    cleaned = location.replace("\t", "").replace("\n", "").replace("\r", "")
    cleaned = cleaned.strip("".join(chr(c) for c in range(0x21))).replace("\\", "/")
    return urljoin(base, cleaned)


next_value = st.one_of(
    st.lists(st.sampled_from([*EVIL, "/", "\\", "\t", "\n", " ", "%09", "%2F", "javascript:alert(1)", "dashboard"]))
    .map("".join)
    .filter(bool),
    st.text(max_size=30),
)


@pytest.fixture
def signed_in(client, creator):
    _, email, _ = creator(password=PASSWORD)
    token = csrf_token_from(client.get("/login").get_data(as_text=True))
    assert client.post("/login", data={"email": email, "password": PASSWORD, "csrf_token": token}).status_code == 302
    return client


def test_login_next_never_leaves_the_site(signed_in):
    """A signed-in creator opening /login?next=… is sent on at once, by the same rule the login form uses."""

    @hostile_settings
    @given(target=next_value)
    def check(target):
        response = signed_in.get("/login", query_string={"next": target})
        assert response.status_code == 302
        assert_no_header_injection(response)
        assert urlsplit(as_a_browser_resolves(response.headers["Location"])).netloc == "localhost"

    check()


@pytest.mark.parametrize(
    "target, expected",
    [
        ("/links?status=live", "/links?status=live"),
        ("//evil.com", "/dashboard"),
        ("/\\evil.com", "/dashboard"),
        ("/\t/evil.com", "/dashboard"),
        ("https://evil.com/", "/dashboard"),
        ("javascript:alert(1)", "/dashboard"),
    ],
)
def test_logging_in_follows_next_only_within_the_site(client, creator, target, expected):
    _, email, _ = creator(password=PASSWORD)
    token = csrf_token_from(client.get("/login").get_data(as_text=True))
    response = client.post(
        "/login",
        query_string={"next": target},
        data={"email": email, "password": PASSWORD, "csrf_token": token},
    )
    assert response.status_code == 302
    assert response.headers["Location"] == expected


@pytest.mark.parametrize("path", ["//links", "/links//new"])
def test_a_raw_line_break_in_the_query_of_a_tidied_path_is_encoded_not_a_500(client, path):
    """Found by the property above: werkzeug copies the query into the Location of the redirect
    that tidies a doubled slash, and a raw CR/LF there raised. No HTTP server passes one on, but a
    WSGI caller can."""
    environ = {"PATH_INFO": path, "QUERY_STRING": "a=1\r\nLocation: http://evil.com"}
    response = client.get("/", environ_overrides=environ)
    assert 300 <= response.status_code < 400
    assert_no_header_injection(response)
    assert "evil.com" not in urlsplit(response.headers["Location"]).netloc


def test_a_scheme_a_trusted_proxy_reports_that_is_not_http_is_not_copied_into_a_redirect(make_app):
    """Found by the property above: X-Forwarded-Proto "evil.com:443" from a trusted proxy became
    the scheme of werkzeug's doubled-slash redirect ("evil.com:443://localhost/...")."""
    client = make_app(TRUST_PROXY_HOPS=1).test_client()
    environ = {"PATH_INFO": "/static//app.css", "HTTP_X_FORWARDED_PROTO": "evil.com:443"}
    response = client.get("/", environ_overrides=environ)
    assert 300 <= response.status_code < 400
    target = urlsplit(response.headers["Location"])
    assert (target.scheme, target.netloc) in (("", ""), ("http", "localhost"))
