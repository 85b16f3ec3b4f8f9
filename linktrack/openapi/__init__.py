"""The API contract: one OpenAPI 3.1 document for every route under /api, served at /api/openapi.json.

This package is the single source of truth: schemas.py (building blocks and component schemas),
paths.py (one entry per route under /api, and the two health checks) and the document assembled
here. tests/test_openapi.py checks it against app.url_map (every /api route documented, every
documented operation routed) and fuzzes the app against it with schemathesis (no 5xx; every
status, content type and body as documented), so a change to an endpoint that is not written down
here fails the suite.

Schemas are exact where the code is exact (types, enums, patterns, additionalProperties: false
where the API refuses unknown fields) and say nothing where the code says nothing: a schema that
promised more than the code checks would make the fuzzer's "valid" requests fail for no reason.
"""

from typing import Any

from flask import jsonify

from ..web.api import api_blueprint
from ..web.sessions import sessionless
from .paths import PATHS
from .schemas import ERROR_RESPONSES, NO_STORE, OWNER_ONLY, SCHEMAS, _error, _json, _ref  # noqa: F401 (OWNER_ONLY: read by the tests)

bp = api_blueprint("openapi", __name__)

SPEC: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "linktrack API",
        "version": "1.0.0",
        "description": "Campaign links for YouTube videos, conversion tracking and funnel reports. Errors are "
        '`{"error": {"code", "message", "field"}}`; money is a string with two decimals; times are ISO 8601 in UTC.',
    },
    "paths": PATHS,
    "components": {
        "schemas": SCHEMAS,
        "responses": {
            **{name: _error(description) for name, description in ERROR_RESPONSES.values()},
            "NotReady": _json(_ref("Readiness"), "Not ready: `failing` names the failed checks.", headers=NO_STORE),
        },
        "securitySchemes": {
            "bearerAuth": {
                "type": "http",
                "scheme": "bearer",
                "description": "An API key made in Settings → API keys (it starts with `lt_`, shown once). "
                "Calls with a key need no CSRF token.",
            },
            "sessionCookie": {
                "type": "apiKey",
                "in": "cookie",
                "name": "session",
                "description": "The web app's signed-in session; POST, PATCH and DELETE must also send the "
                "page's CSRF token in an X-CSRFToken header.",
            },
        },
    },
}


@bp.get("/openapi.json")
@sessionless
def openapi_document():
    return jsonify(SPEC)
