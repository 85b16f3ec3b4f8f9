"""One creator's forwarding cannot hold the workers: a cap on destinations, and short per-try timeouts.

The slow receivers are real local servers: one whose answer waits on an event the test releases,
one whose accept queue is full so a connection never completes. Timeouts are set short here.
"""

import contextlib
import re
import socket
import threading
from datetime import datetime, timezone

import pytest
import time_machine
from sqlalchemy import func, select
from werkzeug import Response

from linktrack.config import Config
from linktrack.extensions import db
from linktrack.forwarding.destinations import create_destination
from linktrack.models.forwarding import ForwardingDestination
from tests.support.forms import form_post
from tests.support.forwarding import add_destination, conversion, forwarding_page
from tests.support.redirect import click_from_youtube

T = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)


def test_the_defaults_are_connect_3_s_read_5_s_and_10_destinations():
    assert (Config.FORWARDING_CONNECT_TIMEOUT_SECONDS, Config.FORWARDING_READ_TIMEOUT_SECONDS) == (3, 5)
    assert Config.FORWARDING_MAX_DESTINATIONS == 10
    environ = {
        "FORWARDING_CONNECT_TIMEOUT_SECONDS": "1.5",
        "FORWARDING_READ_TIMEOUT_SECONDS": "4",
        "FORWARDING_MAX_DESTINATIONS": "3",
    }
    values = Config.from_environ(environ)
    assert values["FORWARDING_CONNECT_TIMEOUT_SECONDS"] == 1.5 and values["FORWARDING_READ_TIMEOUT_SECONDS"] == 4.0
    assert values["FORWARDING_MAX_DESTINATIONS"] == 3


def test_the_eleventh_destination_is_refused_with_a_clear_message(app, client, httpserver, signed_in):
    with time_machine.travel(T, tick=False):
        for number in range(10):
            added = add_destination(client, kind="webhook", name=f"hook {number}", url=httpserver.url_for("/hook"))
            assert added.status_code == 200, number
        refused = add_destination(client, kind="webhook", name="one too many", url=httpserver.url_for("/hook"))
        html = refused.get_data(as_text=True)
        assert refused.status_code == 422
        message = re.search(r'<p class="error" id="kind-error">([^<]*)</p>', html).group(1)
        assert message == "You have 10 destinations, the most an account can have (10). Remove one to add another."
        with app.app_context():
            count = db.session.scalar(select(func.count()).select_from(ForwardingDestination))
            first_id = db.session.scalar(select(func.min(ForwardingDestination.id)))
        assert count == 10 and "one too many" not in forwarding_page(client)

        form_post(client, "/settings/forwarding", {"confirm": "yes"}, action=f"/settings/forwarding/{first_id}/delete")
        again = add_destination(client, kind="webhook", name="one too many", url=httpserver.url_for("/hook"))
        assert again.status_code == 200 and "“one too many” added" in again.get_data(as_text=True)


def test_the_cap_is_per_creator(app, client, httpserver, signed_in, creator):
    app.config["FORWARDING_MAX_DESTINATIONS"] = 1
    with time_machine.travel(T, tick=False):
        assert add_destination(client, kind="webhook", url=httpserver.url_for("/hook")).status_code == 200
        assert add_destination(client, kind="webhook", url=httpserver.url_for("/hook")).status_code == 422
    other_id = creator()[0]
    with app.app_context():
        theirs, _ = create_destination(other_id, "webhook", "theirs", {"url": httpserver.url_for("/")}, ["purchase"])
    assert theirs.id is not None  # another creator's destinations do not count against this one's


@pytest.fixture
def answer_held():
    """Released at the end of the test, so the receiver's held answer never outlives it."""
    released = threading.Event()
    yield released
    released.set()


def test_a_receiver_slower_than_the_read_timeout_is_given_up_on_and_retried(
    app, client, httpserver, signed_in, answer_held
):
    def slow(_request):
        answer_held.wait(10)
        return Response("ok")

    httpserver.expect_request("/hook", method="POST").respond_with_handler(slow)
    app.config["FORWARDING_READ_TIMEOUT_SECONDS"] = 0.3
    _, link = signed_in
    with time_machine.travel(T, tick=False):
        add_destination(client, kind="webhook", url=httpserver.url_for("/hook"))
        conversion(client, link, click_from_youtube(client, link["short_code"]))
        page = forwarding_page(client)
    answer_held.set()
    assert "no answer · ReadTimeout: localhost did not answer within 0.3 s" in page and "retrying" in page


def test_a_platform_slower_than_the_read_timeout_is_given_up_on_too(app, client, httpserver, signed_in, answer_held):
    def slow(_request):
        answer_held.wait(10)
        return Response("{}")

    httpserver.expect_request("/mp/collect").respond_with_handler(slow)
    app.config["GA4_MP_URL"] = httpserver.url_for("/mp/collect")
    app.config["FORWARDING_READ_TIMEOUT_SECONDS"] = 0.3
    _, link = signed_in
    with time_machine.travel(T, tick=False):
        add_destination(client, kind="google", measurement_id="G-TEST1234", api_secret="ga4-secret-value")
        conversion(client, link, click_from_youtube(client, link["short_code"]))
        page = forwarding_page(client)
    answer_held.set()
    assert "no answer · ReadTimeout" in page and "read timeout=0.3" in page and "retrying" in page


@pytest.fixture
def unaccepting_port():
    """A port on 127.0.0.1 whose accept queue is full: the kernel drops new SYNs, so a connect hangs."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(3):
        filler = socket.socket()
        filler.setblocking(False)
        with contextlib.suppress(BlockingIOError):  # the handshake completes on its own
            filler.connect(("127.0.0.1", port))
        fillers.append(filler)
    yield port
    for sock in (*fillers, listener):
        sock.close()


def test_a_receiver_that_does_not_take_the_connection_is_given_up_on_at_the_connect_timeout(
    app, client, signed_in, unaccepting_port
):
    app.config["FORWARDING_CONNECT_TIMEOUT_SECONDS"] = 0.3
    _, link = signed_in
    with time_machine.travel(T, tick=False):
        add_destination(client, kind="webhook", url=f"http://127.0.0.1:{unaccepting_port}/hook")
        conversion(client, link, click_from_youtube(client, link["short_code"]))
        page = forwarding_page(client)
    assert "no answer · ConnectTimeout: no connection to 127.0.0.1 within 0.3 s" in page and "retrying" in page
