"""Every /api/ route with an id in its path answers a malformed id with the API's error shape.

The routes are read from the app's url_map, so a new route (or one given werkzeug's uuid or int
converter, whose refusal is a bare "URL not found") is checked without being listed here.
"""

import pytest

from linktrack import create_app
from tests.support.app import app_settings

MALFORMED = ["not-a-uuid", "1234", "0" * 40, "%E2%98%83"]


def _api_rules_with_ids() -> list[tuple[str, str, tuple[str, ...]]]:
    app = create_app(app_settings("sqlite://"))
    found = []
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/") and rule.arguments:
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                found.append((method, rule.rule, tuple(sorted(rule.arguments))))
    return found


API_RULES = _api_rules_with_ids()


def test_the_walk_finds_the_routes_with_ids():
    assert {(method, rule) for method, rule, _ in API_RULES} >= {
        ("GET", "/api/links/<link_id>"),
        ("PATCH", "/api/links/<link_id>"),
        ("DELETE", "/api/links/<link_id>"),
        ("POST", "/api/links/<link_id>/preview"),
        ("GET", "/api/conversions/funnel/<campaign_link_id>"),
        ("GET", "/api/conversions/types/<campaign_link_id>"),
        ("GET", "/api/conversions/attribution/<tracking_id>"),
    }


@pytest.mark.parametrize("value", MALFORMED)
@pytest.mark.parametrize(("method", "rule", "arguments"), API_RULES, ids=[f"{m} {r}" for m, r, _ in API_RULES])
def test_a_malformed_id_is_a_json_404_naming_the_parameter(
    client, creator, api_key_for, method, rule, arguments, value
):
    key = api_key_for(creator()[0])
    path = rule
    for name in arguments:
        path = path.replace(f"<{name}>", value)
    assert "<" not in path, f"{rule}: a converter the test does not fill in"
    response = client.open(path, method=method, json={}, headers={"Authorization": f"Bearer {key}"})

    assert response.status_code == 404, response.get_data(as_text=True)
    error = response.get_json()["error"]
    assert error["code"] == "not_found"
    assert error["field"] in arguments
    assert error["message"].startswith("There is no ") and "URL" not in error["message"]
