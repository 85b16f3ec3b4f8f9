"""The API contract (linktrack/openapi.py): served, complete, and true of the running app.

Completeness is checked both ways against app.url_map. Truth is checked by schemathesis, which
generates requests from the served document (valid ones and deliberately broken ones) and calls
the WSGI app directly: no answer may be a 5xx, and every answer must have a documented status,
content type and body. Generated ids hit real rows part of the time (schemathesis "dictionaries"),
so the fuzzer reaches the code behind the 404s: a real link, a click inside its window, one past
it, a stored conversion to replay, and another creator's link.
"""

import re
import uuid
from datetime import timedelta

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from linktrack.models import utcnow
from linktrack.openapi import OWNER_ONLY as SPEC_OWNER_ONLY
from linktrack.openapi import SPEC

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
# Fixed ids, so a derandomized run sends the same requests every time.
LINK_ID = "0b6f1f9e-2d7c-4c55-9a8e-1f0c3a2b4d01"
OTHER_CREATORS_LINK_ID = "0b6f1f9e-2d7c-4c55-9a8e-1f0c3a2b4d02"
TRACKING_ID = "5d0c8a9e-7f3b-4e21-8c6d-2a1b3c4d5e01"
EXPIRED_TRACKING_ID = "5d0c8a9e-7f3b-4e21-8c6d-2a1b3c4d5e02"
OTHER_CREATORS_TRACKING_ID = "5d0c8a9e-7f3b-4e21-8c6d-2a1b3c4d5e03"
STORED_EVENT_ID = "order-1001"
TAKEN_SHORT_CODE = "launch-offer"
VIDEO_REFERENCES = ["https://www.youtube.com/watch?v=dQw4w9WgXcQ&t=42", "https://youtu.be/9bZkp7q19f0", "dQw4w9WgXcQ"]
DESTINATIONS = ["https://landing.example.com/offer?ref=yt#buy", "http://shop.example.org/"]
LANDING_ORIGIN = "https://landing.example.com"

# Deterministic (no example database, derandomized) and bounded: the contract run costs about
# 20 s on SQLite. The conversions endpoint answers the whole internet, so it gets the most.
EXAMPLES = 20
CONVERSION_EXAMPLES = 50
FUZZ_SETTINGS = settings(
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


# ---- the document ------------------------------------------------------------------------------


def test_the_document_is_served_as_json_and_is_valid_openapi(app, client):
    response = client.get("/api/openapi.json")

    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.get_json() == SPEC
    assert "Set-Cookie" not in response.headers
    schemathesis.openapi.from_dict(response.get_json()).validate()  # the OpenAPI 3.1 meta-schema


def _routed_operations(app) -> set[tuple[str, str]]:
    """(path in OpenAPI form, lower-case method) for every /api rule and the health checks; HEAD and
    Flask's automatic OPTIONS answers are not operations of their own."""
    operations = set()
    for rule in app.url_map.iter_rules():
        if not (rule.rule == "/api" or rule.rule.startswith("/api/") or rule.endpoint.startswith("health.")):
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        methods = set(rule.methods) - {"HEAD"}
        if rule.provide_automatic_options:
            methods.discard("OPTIONS")
        operations |= {(path, method.lower()) for method in methods}
    return operations


def _documented_operations() -> set[tuple[str, str]]:
    methods = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
    return {(path, method) for path, item in SPEC["paths"].items() for method in item if method in methods}


def test_every_api_route_is_documented_and_every_documented_operation_exists(app):
    routed = _routed_operations(app)
    documented = _documented_operations()

    assert routed - documented == set(), "routes under /api missing from linktrack/openapi.py"
    assert documented - routed == set(), "operations in linktrack/openapi.py that no route serves"
    assert ("/api/conversions", "options") in routed  # the CORS preflight is a route of its own


def test_every_documented_response_of_a_json_operation_uses_the_error_shape_for_errors():
    """Each 4xx/5xx of an operation points at the shared Error responses: one error shape."""
    for path, item in SPEC["paths"].items():
        for method, operation in item.items():
            if method == "parameters":
                continue
            for status, response in operation["responses"].items():
                if status.startswith(("4", "5")):
                    assert response["$ref"].startswith("#/components/responses/"), (method, path, status)


# ---- the app against the document ----------------------------------------------------------------


@pytest.fixture
def fuzzed_data(app, creator, api_key_for, make_link, make_click):
    """A creator with a key, a link with a live click, an expired click and a stored conversion, and
    another creator's link and click; returns the owner's API key."""
    owner_id, _, _ = creator()
    other_id, _, _ = creator()
    make_link(owner_id, id=uuid.UUID(LINK_ID), short_code=TAKEN_SHORT_CODE, allowed_origins=[LANDING_ORIGIN])
    make_link(other_id, id=uuid.UUID(OTHER_CREATORS_LINK_ID))
    make_click(LINK_ID, tracking_id=uuid.UUID(TRACKING_ID))
    make_click(LINK_ID, tracking_id=uuid.UUID(EXPIRED_TRACKING_ID), clicked_at=utcnow() - timedelta(days=45))
    make_click(OTHER_CREATORS_LINK_ID, tracking_id=uuid.UUID(OTHER_CREATORS_TRACKING_ID))
    key = api_key_for(owner_id)
    stored = app.test_client().post(
        "/api/conversions",
        json={
            "tracking_id": TRACKING_ID,
            "campaign_link_id": LINK_ID,
            "event_type": "purchase",
            "revenue_amount": "49.99",
            "event_id": STORED_EVENT_ID,
        },
        headers={"Authorization": f"Bearer {key}"},
    )
    assert stored.status_code == 201, stored.get_json()
    return key


def _fuzz_config() -> schemathesis.Config:
    """Real ids half of the time for every id a request can carry, in the path or in the body."""
    links = [LINK_ID, OTHER_CREATORS_LINK_ID]
    clicks = [TRACKING_ID, EXPIRED_TRACKING_ID, OTHER_CREATORS_TRACKING_ID]
    return schemathesis.Config.from_dict(
        {
            "dictionaries": {
                "links": {"values": links},
                "clicks": {"values": clicks},
                "event_ids": {"values": [STORED_EVENT_ID]},
                "videos": {"values": VIDEO_REFERENCES},
                "destinations": {"values": DESTINATIONS},
                "short_codes": {"values": [TAKEN_SHORT_CODE, TAKEN_SHORT_CODE.upper(), "fresh-code_1"]},
            },
            "parameters": {
                "path.link_id": {"dictionary": "links", "probability": 0.5},
                "path.campaign_link_id": {"dictionary": "links", "probability": 0.5},
                "path.tracking_id": {"dictionary": "clicks", "probability": 0.5},
                "body.campaign_link_id": {"dictionary": "links", "probability": 0.5},
                "body.tracking_id": {"dictionary": "clicks", "probability": 0.7},
                "body.event_id": {"dictionary": "event_ids", "probability": 0.3},
                "body.video_url": {"dictionary": "videos", "probability": 0.6},
                "body.destination_url": {"dictionary": "destinations", "probability": 0.6},
                "body.short_code": {"dictionary": "short_codes", "probability": 0.3},
            },
        }
    )


OPERATIONS = sorted(_documented_operations())
OWNER_ONLY = sorted(
    (path, method) for path, method in OPERATIONS if SPEC["paths"][path][method]["security"] == SPEC_OWNER_ONLY
)


def _fuzz(app, path: str, method: str, max_examples: int = EXAMPLES, **call_kwargs) -> None:
    """Valid and invalid requests for one operation of the served document, each answer validated.

    (schemathesis' own pytest loader cannot read pytest 9's node ids yet, so the cases come from
    its Hypothesis strategies, driven here.)"""
    operation = schemathesis.openapi.from_wsgi("/api/openapi.json", app, config=_fuzz_config())[path][method.upper()]
    cases = st.one_of(operation.as_strategy(GenerationMode.POSITIVE), operation.as_strategy(GenerationMode.NEGATIVE))

    @settings(FUZZ_SETTINGS, max_examples=max_examples)
    @given(case=cases)
    def answers_as_documented(case):
        case.call_and_validate(checks=CHECKS, **call_kwargs)

    answers_as_documented()


@pytest.mark.parametrize(("path", "method"), OPERATIONS, ids=[f"{m.upper()} {p}" for p, m in OPERATIONS])
def test_every_operation_answers_as_documented_to_the_owners_key(app, fuzzed_data, path, method):
    """Called with the owner's Bearer key: never a 5xx, every answer as documented."""
    examples = CONVERSION_EXAMPLES if path == "/api/conversions" else EXAMPLES
    _fuzz(app, path, method, examples, headers={"Authorization": f"Bearer {fuzzed_data}"})


def test_conversions_answer_as_documented_to_a_landing_page(app, fuzzed_data):
    """The tracker's call: no key, from the landing page's origin."""
    _fuzz(app, "/api/conversions", "post", CONVERSION_EXAMPLES, headers={"Origin": LANDING_ORIGIN})


@pytest.mark.parametrize(("path", "method"), OWNER_ONLY, ids=[f"{m.upper()} {p}" for p, m in OWNER_ONLY])
def test_owner_only_operations_answer_as_documented_without_credentials(app, fuzzed_data, path, method):
    _fuzz(app, path, method, 5)
