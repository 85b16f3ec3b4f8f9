"""The OpenAPI document's paths: one entry per /api route and the two health checks (tests/test_openapi.py checks
them against the url map)."""

from typing import Any

from ..links.service import DIRECTIONS, LIST_SORTS, LIST_STATUSES, MAX_PER_PAGE
from ..reports.ranges import PRESETS
from ..web.pagination import MAX_PAGE
from .schemas import JSON, NO_STORE, OWNER_ONLY, _errors, _json, _path_id, _ref

LINK_ID = _path_id("link_id", "The link's id.")
REPORT_RANGE = [
    {
        "name": "from",
        "in": "query",
        "description": "First day, YYYY-MM-DD, in the creator's time zone. `from`/`to` win over `range`.",
        "schema": {"type": "string", "format": "date"},
    },
    {
        "name": "to",
        "in": "query",
        "description": "Last day, YYYY-MM-DD, in the creator's time zone, included.",
        "schema": {"type": "string", "format": "date"},
    },
    {"name": "range", "in": "query", "description": "A preset; default 30d.", "schema": {"enum": list(PRESETS)}},
]
REPORT_LINK_ID = _path_id("campaign_link_id", "The link's id; a malformed id is a 404.", {"type": "string"})


def _json_body(schema_name: str) -> dict[str, Any]:
    return {"required": True, "content": {JSON: {"schema": _ref(schema_name)}}}


PATHS: dict[str, Any] = {
    "/healthz": {
        "get": {
            "operationId": "getHealth",
            "summary": "Liveness: the process answers HTTP. No database or Redis call; 200 while they are away.",
            "description": "For a load balancer's or an orchestrator's liveness probe. Behind TRUSTED_HOSTS, a "
            "probe that sends a Host of its own needs that host listed there (else a 400 page).",
            "tags": ["operations"],
            "security": [],
            "responses": {"200": _json(_ref("Health"), "Alive.", headers=NO_STORE)},
        }
    },
    "/readyz": {
        "get": {
            "operationId": "getReadiness",
            "summary": "Readiness: the database answers SELECT 1, Redis answers PING (when REDIS_URL is set), "
            "and this process's click writer and counting consumer are keeping up.",
            "description": "Each check has a short timeout (2 s; connecting to PostgreSQL is bounded by "
            "DATABASE_CONNECT_TIMEOUT_SECONDS). The click writer (click_buffer) fails its "
            "check when a click has waited more than 30 s to be written, or its thread ended with clicks "
            "waiting; the counting consumer (counting) when this process's counting run has waited or "
            "failed for more than 30 s. It answers for the worker process that received it.",
            "tags": ["operations"],
            "security": [],
            "responses": {
                "200": _json(_ref("Readiness"), "Ready: every check passed.", headers=NO_STORE),
                "503": {"$ref": "#/components/responses/NotReady"},
            },
        }
    },
    "/api/openapi.json": {
        "get": {
            "operationId": "getOpenApi",
            "summary": "This document.",
            "tags": ["meta"],
            "security": [],
            "responses": {"200": _json({"type": "object"}, "The OpenAPI document.")},
        }
    },
    "/api/me": {
        "get": {
            "operationId": "getMe",
            "summary": "Who the caller is: a quick check that an API key works.",
            "tags": ["account"],
            "security": OWNER_ONLY,
            "responses": {"200": _json(_ref("Me"), "The signed-in creator."), **_errors(401)},
        }
    },
    "/api/links": {
        "get": {
            "operationId": "listLinks",
            "summary": "One page of the caller's links with clicks, conversions and revenue in a range, sorted.",
            "tags": ["links"],
            "security": OWNER_ONLY,
            "parameters": [
                {
                    "name": "q",
                    "in": "query",
                    "description": "Search in short code, campaign, video id and destination.",
                    "schema": {"type": "string"},
                },
                {"name": "status", "in": "query", "schema": {"enum": list(LIST_STATUSES)}},
                {
                    "name": "sort",
                    "in": "query",
                    "description": "clicks, conversions and revenue sort by their figures in the range, across pages.",
                    "schema": {"enum": list(LIST_SORTS)},
                },
                {
                    "name": "dir",
                    "in": "query",
                    "description": "Default: asc for oldest, campaign and short_code, else desc.",
                    "schema": {"enum": list(DIRECTIONS)},
                },
                *REPORT_RANGE,
                {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE}},
                {
                    "name": "per_page",
                    "in": "query",
                    "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PER_PAGE},
                },
            ],
            "responses": {"200": _json(_ref("LinkList"), "The page."), **_errors(400, 401, 429)},
        },
        "post": {
            "operationId": "createLink",
            "summary": "Create a link for a YouTube video.",
            "tags": ["links"],
            "security": OWNER_ONLY,
            "requestBody": _json_body("NewLink"),
            "responses": {
                "201": _json(
                    _ref("Link"),
                    "Created.",
                    headers={"Location": {"description": "The link's URL in this API.", "schema": {"type": "string"}}},
                ),
                **_errors(400, 401, 409, 413, 415, 422, 429),
            },
        },
    },
    "/api/links/preview": {
        "post": {
            "operationId": "previewNewLink",
            "summary": "What POST /api/links would make of this body, without saving (problems listed, not raised).",
            "tags": ["links"],
            "security": OWNER_ONLY,
            "requestBody": _json_body("LinkDraft"),
            "responses": {"200": _json(_ref("LinkPreview"), "The preview."), **_errors(400, 401, 413, 415, 429)},
        }
    },
    "/api/links/{link_id}": {
        "parameters": [LINK_ID],
        "get": {
            "operationId": "getLink",
            "summary": "One of the caller's links.",
            "tags": ["links"],
            "security": OWNER_ONLY,
            "responses": {"200": _json(_ref("Link"), "The link."), **_errors(401, 404, 429)},
        },
        "patch": {
            "operationId": "updateLink",
            "summary": "Change some fields; `archived` archives or restores.",
            "tags": ["links"],
            "security": OWNER_ONLY,
            "requestBody": _json_body("LinkChanges"),
            "responses": {
                "200": _json(_ref("Link"), "The changed link."),
                **_errors(400, 401, 404, 409, 413, 415, 422, 429),
            },
        },
        "delete": {
            "operationId": "archiveLink",
            "summary": "Archive (never delete): the short URL answers 410 from now on; reports keep its data.",
            "tags": ["links"],
            "security": OWNER_ONLY,
            "responses": {"200": _json(_ref("Link"), "The archived link."), **_errors(400, 401, 404, 429)},
        },
    },
    "/api/links/{link_id}/preview": {
        "parameters": [LINK_ID],
        "post": {
            "operationId": "previewLinkChanges",
            "summary": "What PATCH /api/links/{link_id} would make of this body, without saving.",
            "tags": ["links"],
            "security": OWNER_ONLY,
            "requestBody": _json_body("LinkDraft"),
            "responses": {"200": _json(_ref("LinkPreview"), "The preview."), **_errors(400, 401, 404, 413, 415, 429)},
        },
    },
    "/api/conversions": {
        "post": {
            "operationId": "recordConversion",
            "summary": "Record a conversion: from the CampaignTracker in a browser, or from a server with an API key.",
            "description": "Browser calls (no Authorization header) must send an Origin header naming one of "
            "the link's allowed origins, and at most the link's max_browser_revenue. Server calls "
            "send `Authorization: Bearer <api key>` of the link's owner; a wrong key is a "
            "401, never a silent browser call. The click's window is `floor(days since the click) <= "
            "attribution_window_days`. A click is stored a moment after its redirect: `422 unknown_tracking_id` "
            "carries `Retry-After: 1`, and a conversion sent again after it with the same event_id is safe "
            "(the CampaignTracker retries it after 0.25, 0.5, 1 and 2 s).",
            "tags": ["conversions"],
            "security": [{}, {"bearerAuth": []}],
            "requestBody": _json_body("ConversionInput"),
            "responses": {
                "201": _json(_ref("Conversion"), "Recorded."),
                "200": _json(
                    _ref("ConversionReplay"),
                    "A replay of an event_id this source already used, with the same body: the stored "
                    "conversion's id, type, status and amount, never its event_data.",
                ),
                **_errors(400, 401, 403, 409, 413, 415, 422, 429),
            },
        },
        "options": {
            "operationId": "preflightConversion",
            "summary": "CORS preflight for landing pages on other origins.",
            "tags": ["conversions"],
            "security": [],
            "responses": {
                "204": {
                    "description": "POST is allowed from any origin, without cookies.",
                    "headers": {
                        "Access-Control-Allow-Methods": {"schema": {"type": "string"}},
                        "Access-Control-Allow-Headers": {"schema": {"type": "string"}},
                        "Access-Control-Max-Age": {"schema": {"type": "string"}},
                    },
                }
            },
        },
    },
    "/api/conversions/script": {
        "get": {
            "operationId": "getTrackerScript",
            "summary": "The CampaignTracker script for landing pages (cacheable for an hour, ETag).",
            "tags": ["conversions"],
            "security": [],
            "parameters": [
                {"name": "If-None-Match", "in": "header", "schema": {"type": "string"}},
                {"name": "Accept-Encoding", "in": "header", "schema": {"type": "string"}},
            ],
            "responses": {
                "200": {
                    "description": "The script; gzip-compressed when Accept-Encoding allows gzip (with an ETag "
                    "of its own), plain otherwise.",
                    "headers": {
                        "ETag": {"schema": {"type": "string"}},
                        "Cache-Control": {"schema": {"type": "string"}},
                        "Vary": {"schema": {"type": "string"}},
                        "Content-Encoding": {"required": False, "schema": {"const": "gzip"}},
                    },
                    "content": {"application/javascript": {"schema": {"type": "string"}}},
                },
                "304": {"description": "The copy named in If-None-Match is still current."},
            },
        }
    },
    "/api/conversions/attribution/{tracking_id}": {
        "get": {
            "operationId": "getAttribution",
            "summary": "One click's attribution: its window and the conversions it earned.",
            "tags": ["conversions"],
            "security": OWNER_ONLY,
            "parameters": [
                _path_id("tracking_id", "The click's tracking id; a malformed id is a 404.", {"type": "string"})
            ],
            "responses": {"200": _json(_ref("Attribution"), "The click's attribution."), **_errors(401, 404)},
        }
    },
    "/api/conversions/funnel/{campaign_link_id}": {
        "get": {
            "operationId": "getFunnel",
            "summary": "A link's funnel over a date range: clicks, then converting visitors per event type.",
            "tags": ["reports"],
            "security": OWNER_ONLY,
            "parameters": [REPORT_LINK_ID, *REPORT_RANGE],
            "responses": {"200": _json(_ref("Funnel"), "The funnel."), **_errors(400, 401, 404)},
        }
    },
    "/api/conversions/types/{campaign_link_id}": {
        "get": {
            "operationId": "getConversionTypes",
            "summary": "A link's conversions and revenue per event type over a date range.",
            "tags": ["reports"],
            "security": OWNER_ONLY,
            "parameters": [REPORT_LINK_ID, *REPORT_RANGE],
            "responses": {"200": _json(_ref("Types"), "Counts and revenue per type."), **_errors(400, 401, 404)},
        }
    },
    "/api/conversions/cleanup": {
        "post": {
            "operationId": "runCleanup",
            "summary": "Run the attribution cleanup on the caller's data now (the nightly job does everyone's).",
            "tags": ["conversions"],
            "security": OWNER_ONLY,
            "responses": {"200": _json(_ref("CleanupReport"), "What was removed or anonymised."), **_errors(400, 401)},
        }
    },
}
