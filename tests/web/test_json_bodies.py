"""JSON bodies are read as plain JSON (linktrack/web/api.py loads_strict): what Python's json module
takes beyond RFC 8259, or what a database cannot store, is a 400 invalid_json on every endpoint
with a body, never a 500 and never a row PostgreSQL refuses or SQLite keeps unreadable."""

import pytest

from linktrack.web.api import loads_strict

LANDING = "https://landing.example.com"
VIDEO = "dQw4w9WgXcQ"

# Raw bodies: each is well-formed for json.loads, and each has broken a request before.
NOT_PLAIN_JSON = {
    "nan": '{"revenue_amount": NaN, "event_data": {"x": NaN}, "campaign": "x"}',
    "infinity": '{"revenue_amount": Infinity, "event_data": {"x": -Infinity}, "campaign": "x"}',
    "beyond a double": '{"revenue_amount": 1e400, "event_data": {"x": 1e400}, "campaign": "x"}',
    "lone surrogate value": '{"event_data": {"x": "\\ud800"}, "campaign": "\\ud800"}',
    "lone surrogate key": '{"event_data": {"\\udfff": 1}, "campaign": "x", "\\udfff": 1}',
    "nul": '{"event_data": {"x": "a\\u0000b"}, "campaign": "a\\u0000b"}',
}
DEEP = "[" * 15_000  # json.loads raises RecursionError, not ValueError


def with_ids(raw: str, tracking_id: str, link_id: str) -> str:
    """A conversion body: the ids and fields a valid one has, then the raw parts under test."""
    valid = (
        f'"tracking_id": "{tracking_id}", "campaign_link_id": "{link_id}", "event_type": "newsletter_signup", '
        f'"video_url": "{VIDEO}", "destination_url": "{LANDING}/offer"'
    )
    return "{" + valid + ", " + raw[1:]


@pytest.fixture
def conversion_setup(creator, api_key_for, make_link, make_click):
    owner_id, _, _ = creator()
    link_id = make_link(owner_id, allowed_origins=[LANDING])
    return {"key": api_key_for(owner_id), "link_id": link_id, "tracking_id": make_click(link_id)}


# Every route that reads a JSON body, with a caller allowed to post to it.
CALLERS = [
    ("/api/links", "key"),
    ("/api/links/preview", "key"),
    ("/api/conversions", "key"),
    ("/api/conversions", "landing page"),
]


def _post(client, path: str, data: str, headers: dict):
    return client.post(
        path, data=data.encode("utf-8", "surrogatepass"), content_type="application/json", headers=headers
    )


@pytest.mark.parametrize(("path", "caller"), CALLERS)
def test_json_beyond_the_standard_is_a_400(app, conversion_setup, path, caller):
    client = app.test_client()
    headers = {"Authorization": f"Bearer {conversion_setup['key']}"} if caller == "key" else {"Origin": LANDING}
    for case, raw in NOT_PLAIN_JSON.items():
        body = with_ids(raw, conversion_setup["tracking_id"], conversion_setup["link_id"])

        response = _post(client, path, body, headers)

        assert response.status_code == 400, (case, response.get_data(as_text=True))
        assert response.get_json()["error"]["code"] == "invalid_json", case


@pytest.mark.parametrize(("path", "caller"), CALLERS)
def test_deeply_nested_json_is_a_400(app, conversion_setup, path, caller):
    """Every caller that may post to the route hears 400 invalid_json (no 401 allowed: each one here
    is authorised, so a 401 would mean the body was never read)."""
    client = app.test_client()
    headers = {"Authorization": f"Bearer {conversion_setup['key']}"} if caller == "key" else {"Origin": LANDING}
    response = _post(client, path, DEEP, headers)
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.get_json()["error"]["code"] == "invalid_json"


def test_plain_json_reads_as_before():
    body = '{"a": [1, 2.5, -3e5, true, null, "caf\\u00e9 \\ud83d\\ude00"], "b": {"c": ""}}'
    assert loads_strict(body) == {"a": [1, 2.5, -3e5, True, None, "café 😀"], "b": {"c": ""}}
    assert loads_strict(body.encode()) == loads_strict(body)
    assert loads_strict("[" * 500 + "]" * 500)  # nesting a real client sends is fine


def test_a_session_cookie_still_round_trips(app, register, client):
    """The session cookie is JSON too: signing in still works with the strict reader."""
    email = register()
    response = client.get("/api/me")
    assert (response.status_code, response.get_json()["email"]) == (200, email)
