"""The conversion fast path (tracking/fast_path.py) answers a landing page's call before Flask runs.

What it shares with the Flask view (CORS, the API's security headers, the JSON body) and the one
thing it must never do: hand a request whose conversion is already stored on to Flask, which would
record it a second time.
"""

from datetime import timedelta

import pytest
import time_machine

from linktrack.tracking import service
from tests.support.conversions import ORIGIN, T0, conversion, error, post, stored_count


@pytest.fixture
def attributed(creator, make_link, make_click):
    link_id = make_link(creator()[0])
    return link_id, make_click(link_id, clicked_at=T0)


@pytest.fixture(autouse=True)
def at_day_one():
    with time_machine.travel(T0 + timedelta(days=1), tick=False):
        yield


def test_an_error_after_the_commit_answers_500_and_the_conversion_is_stored_once(client, app, attributed, monkeypatch):
    """Forced: the answer fails after the conversion is committed. Before the fix the fast path handed
    the request to Flask, whose view recorded the conversion again (no event_id: a second row)."""

    def broken_answer(recorded):
        raise RuntimeError("the answer could not be written")

    monkeypatch.setattr(service, "conversion_json", broken_answer)
    response = post(client, conversion(attributed, event_type="newsletter_signup"))
    assert response.status_code == 500
    assert error(response)["code"] == "internal_error"
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert stored_count(app) == 1


def test_a_failure_before_anything_is_stored_is_answered_by_flask(client, app, attributed, monkeypatch):
    """Nothing committed: the request goes on to the Flask view, which answers it in its own way."""
    calls = []
    real = service.record_conversion

    def fails_first_time(*args, **kwargs):
        calls.append(kwargs.get("store"))
        if len(calls) == 1:
            raise RuntimeError("the database went away before the insert")
        return real(*args, **kwargs)

    monkeypatch.setattr(service, "record_conversion", fails_first_time)
    response = post(client, conversion(attributed, event_type="newsletter_signup"))
    assert response.status_code == 201
    assert len(calls) == 2  # the fast path's try, then the view's
    assert stored_count(app) == 1


def test_fast_path_and_view_answer_with_the_same_headers_and_body_shape(client, app, attributed, api_key_for):
    """The landing page's call (fast path) and the same call with a wrong key (Flask's view, 401) carry
    the same CORS and API security headers; both bodies are compact JSON ending in a newline."""
    fast = post(client, conversion(attributed, event_type="newsletter_signup"))
    viewed = post(client, conversion(attributed, event_type="newsletter_signup"), Authorization="Bearer lt_wrong")
    assert (fast.status_code, viewed.status_code) == (201, 401)
    for name in ("Access-Control-Allow-Origin", "Vary", "Content-Security-Policy", "X-Frame-Options"):
        assert fast.headers.get(name) == viewed.headers.get(name), name
    for response in (fast, viewed):
        text = response.get_data(as_text=True)
        assert text.endswith("}\n") and '": ' not in text  # compact, as jsonify writes it
