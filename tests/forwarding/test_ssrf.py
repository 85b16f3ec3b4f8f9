"""A webhook cannot reach linktrack's own network, and the creator never reads a receiver's answer.

The URL is judged when it is saved and before each try; the request goes to the very address that
was judged (no second lookup), with the name kept for the Host header, TLS SNI and the certificate.
Real local servers only: pytest-httpserver on 127.0.0.1, over plain HTTP and over TLS.
"""

import ipaddress
import re
from datetime import datetime, timezone

import pytest
import time_machine
from pytest_httpserver import HTTPServer
from sqlalchemy import func, select

from linktrack.extensions import db
from linktrack.forwarding import pinned
from linktrack.forwarding.destinations import DestinationInvalid, create_destination
from linktrack.models.forwarding import ForwardingDestination
from tests.support.forwarding import add_destination, conversion, forwarding_page
from tests.support.redirect import click_from_youtube
from tests.support.tls import local_tls

T = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)
LOOPBACK = [ipaddress.ip_address("127.0.0.1")]
QUICK = pinned.Timeouts(connect=2, read=2)


def url_error(html: str) -> str:
    """The message shown next to the Webhook URL field."""
    match = re.search(r'<p class="error" id="url-error">([^<]*)</p>', html)
    assert match, "no message next to the URL field"
    return match.group(1).replace("&#39;", "'")


def destination_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(ForwardingDestination))


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://localhost:{port}/hook", "Refused: localhost resolves to a loopback address (127.0.0.1)."),
        ("http://127.0.0.1:{port}/hook", "Refused: 127.0.0.1 is a loopback address."),
        ("http://169.254.169.254/latest/meta-data/", "Refused: 169.254.169.254 is a link-local address."),
        ("http://[::ffff:127.0.0.1]:{port}/hook", "is an IPv4-mapped IPv6 address."),
        ("http://[64:ff9b::7f00:1]:{port}/hook", "Refused: 64:ff9b::7f00:1 is a NAT64 address."),
        ("http://[2002:7f00:1::]:{port}/hook", "Refused: 2002:7f00:1:: is a 6to4 address."),
        ("http://[::127.0.0.1]:{port}/hook", "Refused: ::127.0.0.1 is an IPv4-compatible IPv6 address."),
        ("http://2130706433:{port}/hook", "Refused: 2130706433 resolves to a loopback address (127.0.0.1)."),
    ],
)
def test_a_webhook_to_a_private_address_is_refused_when_saved(app, client, httpserver, signed_in, url, message):
    app.config["FORWARDING_ALLOW_PRIVATE_ADDRESSES"] = False  # production's default
    with time_machine.travel(T, tick=False):
        refused = add_destination(client, kind="webhook", url=url.format(port=httpserver.port))
    assert refused.status_code == 422
    shown = url_error(refused.get_data(as_text=True))
    assert message in shown and shown.endswith("A webhook must be on a public address.")
    assert destination_count(app) == 0
    assert httpserver.log == []


def test_a_url_that_turned_private_after_it_was_saved_is_refused_when_sent(app, client, httpserver, signed_in):
    """A name can be pointed at a private address after it passed the check on saving: each try judges again."""
    httpserver.expect_request("/hook", method="POST").respond_with_data("internal secrets")
    _, link = signed_in
    with time_machine.travel(T, tick=False):
        add_destination(client, kind="webhook", url=httpserver.url_for("/hook"))  # allowed here, as on-premises
        app.config["FORWARDING_ALLOW_PRIVATE_ADDRESSES"] = False
        conversion(client, link, click_from_youtube(client, link["short_code"]))
        shown = forwarding_page(client)
    assert httpserver.log == []
    assert "no answer · Refused: localhost resolves to a loopback address (127.0.0.1)." in shown
    assert "failed" in shown and "retry at" not in shown


def test_the_request_goes_to_the_checked_address_and_the_receiver_sees_the_name(app, client, httpserver, signed_in):
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    _, link = signed_in
    url = f"http://localhost:{httpserver.port}/hook"
    with time_machine.travel(T, tick=False):
        add_destination(client, kind="webhook", url=url)
        conversion(client, link, click_from_youtube(client, link["short_code"]))
        assert "delivered" in forwarding_page(client)
    [(request, _)] = httpserver.log
    assert request.headers["Host"] == f"localhost:{httpserver.port}"


def test_a_pinned_request_never_looks_the_name_up_again(httpserver):
    """`.invalid` never resolves (RFC 6761): the request arriving proves it went to the pinned address,
    as a DNS answer that changed after the check (rebinding) would be ignored."""
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    url = f"http://rebound.invalid:{httpserver.port}/hook?source=linktrack"
    assert pinned.post(url, b'{"a":1}', {"Content-Type": "application/json"}, LOOPBACK, QUICK) == 200
    [(request, _)] = httpserver.log
    assert request.headers["Host"] == f"rebound.invalid:{httpserver.port}"
    assert request.query_string == b"source=linktrack" and request.get_data() == b'{"a":1}'


def test_a_refused_connection_moves_on_to_the_next_checked_address(httpserver):
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    addresses = [ipaddress.ip_address("127.0.0.2"), *LOOPBACK]  # nothing listens on 127.0.0.2
    assert pinned.post(f"http://two.invalid:{httpserver.port}/hook", b"{}", {}, addresses, QUICK) == 200


@pytest.fixture
def tls_receiver(tmp_path):
    """A real HTTPS server on 127.0.0.1 whose certificate names hooks.linktrack.invalid only; records SNI."""
    tls = local_tls(tmp_path, "hooks.linktrack.invalid")
    names_asked = []
    tls.server_context.sni_callback = lambda _socket, name, _context: names_asked.append(name)
    server = HTTPServer(host="127.0.0.1", ssl_context=tls.server_context)
    server.expect_request("/hook", method="POST").respond_with_data("ok")
    server.start()
    yield tls, server, names_asked
    server.clear()
    if server.is_running():
        server.stop()


def test_https_is_verified_as_the_name_while_connecting_to_the_pinned_address(tls_receiver):
    tls, server, names_asked = tls_receiver
    url = f"https://{tls.hostname}:{server.port}/hook"
    assert pinned.post(url, b"{}", {}, LOOPBACK, QUICK, ca_certs=tls.ca_file) == 200
    assert names_asked == [tls.hostname]  # SNI carried the name, not 127.0.0.1
    [(request, _)] = server.log
    assert request.headers["Host"] == f"{tls.hostname}:{server.port}"


def test_https_with_a_certificate_for_another_name_or_an_unknown_ca_is_refused(tls_receiver):
    tls, server, _ = tls_receiver
    with pytest.raises(pinned.NoAnswer, match=r"^SSLError: the TLS connection to other\.linktrack\.invalid failed"):
        pinned.post(f"https://other.linktrack.invalid:{server.port}/hook", b"{}", {}, LOOPBACK, QUICK, tls.ca_file)
    with pytest.raises(pinned.NoAnswer, match="certificate verify failed"):
        pinned.post(f"https://{tls.hostname}:{server.port}/hook", b"{}", {}, LOOPBACK, QUICK)  # certifi's CAs
    assert server.log == []


@pytest.mark.parametrize(
    ("status", "shown"),
    [
        (500, "500 · HTTP 500: the receiver answered with a server error"),
        (503, "503 · HTTP 503: the receiver answered with a server error"),
        (400, "400 · HTTP 400: the receiver refused the event"),
        (401, "401 · HTTP 401: the receiver refused the request as unauthorised"),
        (404, "404 · HTTP 404: the receiver has nothing at this URL"),
        (418, "418 · HTTP 418: the receiver refused the event"),
        (429, "429 · HTTP 429: the receiver asked linktrack to slow down"),
        (302, "302 · HTTP 302: the receiver answered with a redirect, which linktrack does not follow"),
    ],
)
def test_the_creator_sees_the_status_in_linktracks_words_never_the_receivers_body(
    client, httpserver, signed_in, status, shown
):
    body = "Traceback: password=hunter2 at db.internal:5432"
    httpserver.expect_request("/hook", method="POST").respond_with_data(
        body, status=status, headers={"Location": "http://169.254.169.254/"}
    )
    _, link = signed_in
    with time_machine.travel(T, tick=False):
        add_destination(client, kind="webhook", url=httpserver.url_for("/hook"))
        conversion(client, link, click_from_youtube(client, link["short_code"]))
        page = forwarding_page(client)
    assert shown in page
    assert "hunter2" not in page and "Traceback" not in page and "db.internal" not in page
    assert len(httpserver.log) == 1  # a redirect is not followed


def test_a_platform_error_answer_is_not_shown_either(app, client, httpserver, signed_in):
    httpserver.expect_request("/fb/v21.0/1234567890/events").respond_with_json(
        {"error": {"message": "Invalid OAuth access token - Cannot parse access token EAAB-leaked"}}, status=400
    )
    app.config["FACEBOOK_GRAPH_URL"] = httpserver.url_for("/fb/v21.0")
    _, link = signed_in
    with time_machine.travel(T, tick=False):
        add_destination(client, kind="facebook", pixel_id="1234567890", access_token="EAAB-secret-token-9876")
        conversion(client, link, click_from_youtube(client, link["short_code"]))
        page = forwarding_page(client)
    assert "400 · HTTP 400: the receiver refused the event" in page and "OAuth" not in page


def test_a_service_call_is_judged_as_the_page_is(app, signed_in):
    """create_destination is the one place a webhook is stored, so every caller gets the same rule."""
    app.config["FORWARDING_ALLOW_PRIVATE_ADDRESSES"] = False
    user_id, _ = signed_in
    with app.app_context(), pytest.raises(DestinationInvalid) as refused:
        create_destination(user_id, "webhook", "x", {"url": "http://[::1]:6379/"}, ["purchase"])
    assert refused.value.field == "url" and "::1 is a loopback address" in refused.value.message


def test_a_name_that_does_not_resolve_yet_is_saved_and_each_try_says_so(app, client, signed_in):
    app.config["FORWARDING_ALLOW_PRIVATE_ADDRESSES"] = False
    _, link = signed_in
    with time_machine.travel(T, tick=False):
        added = add_destination(client, kind="webhook", url="https://hooks.not-live-yet.invalid/linktrack")
        assert added.status_code == 200 and "added" in added.get_data(as_text=True)
        conversion(client, link, click_from_youtube(client, link["short_code"]))
        page = forwarding_page(client)
    assert "no answer · Cannot find the address of hooks.not-live-yet.invalid." in page and "retrying" in page
