"""The OpenAPI document's building blocks and its component schemas (see __init__.py for why)."""

from typing import Any

from ..links.service import LIST_SORTS, MAX_PER_PAGE
from ..links.validation import CUSTOM_CODE_MAX_LENGTH, MAX_WINDOW_DAYS, MIN_WINDOW_DAYS
from ..models import EVENT_TYPES
from ..tracking.service import EVENT_DATA_MAX_BYTES, SOURCES

JSON = "application/json"
MONEY = {"type": "string", "pattern": r"^-?[0-9]+\.[0-9]{2}$", "examples": ["49.99"]}
TIMESTAMP = {"type": "string", "format": "date-time"}
# Amounts per ISO 4217 currency, each in its minor units ("49.99", JPY "1200"); never summed.
BY_CURRENCY = {
    "type": "object",
    "propertyNames": {"pattern": "^[A-Z]{3}$"},
    "additionalProperties": {"type": "string", "pattern": r"^-?[0-9]+(\.[0-9]{2,3})?$"},
    "examples": [{"USD": "49.99", "JPY": "1200"}],
}
# The money field older than currencies: null once the amounts are in several currencies.
UUID = {"type": "string", "format": "uuid"}
NO_STORE = {"Cache-Control": {"schema": {"const": "no-store"}}}
VIDEO_ID = {"type": "string", "pattern": "^[A-Za-z0-9_-]{11}$"}
COUNT = {"type": "integer", "minimum": 0}
OWNER_ONLY = [{"bearerAuth": []}, {"sessionCookie": []}]
READINESS_CHECKS = (
    "database",
    "redis",
    "click_buffer",
    "counting",
)  # GET /readyz, in the order web/health.py runs them


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str, **extra: Any) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": schema}}, **extra}


def _error(description: str) -> dict[str, Any]:
    return _json(_ref("Error"), description)


def _errors(*statuses: int) -> dict[str, Any]:
    """The error responses of an operation that reads the database (so may answer 503 too), and
    400 untrusted_host, which any route answers for a Host the server is not configured for."""
    return {
        str(status): {"$ref": f"#/components/responses/{ERROR_RESPONSES[status][0]}"}
        for status in dict.fromkeys((400, *statuses, 503))
    }


def _object(properties: dict[str, Any], *, required: list[str] | None = None, closed: bool = True) -> dict:
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    schema["required"] = list(properties) if required is None else required
    if closed:
        schema["additionalProperties"] = False
    return schema


def _path_id(name: str, description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "description": description, "schema": schema or UUID}


# status → (component name, what it means); each body is the Error schema.
ERROR_RESPONSES = {
    400: (
        "BadRequest",
        "Malformed request: a field of the wrong type, an unknown field, a bad query parameter, or "
        "(session callers only) a missing X-CSRFToken header. `error.field` names the culprit. "
        "`untrusted_host`: the Host header is not LINKTRACK_BASE_URL's host nor one of TRUSTED_HOSTS.",
    ),
    401: (
        "Unauthorized",
        "No valid credentials: send `Authorization: Bearer <api key>` or a signed-in session cookie. "
        "`error.code` is `unauthorized`, `invalid_authorization` or `invalid_api_key`.",
    ),
    403: (
        "Forbidden",
        "A browser conversion without an Origin header (`origin_required`), or from an origin that is not "
        "one of the link's allowed origins (`origin_not_allowed`).",
    ),
    404: ("NotFound", "No such resource in the caller's account (another creator's resource is a 404 too)."),
    409: (
        "Conflict",
        "The value clashes with stored data: a short code already in use, a racing duplicate, or an event_id "
        "this source already used for a different conversion (`idempotency_conflict`).",
    ),
    413: ("PayloadTooLarge", "The body, or `event_data`, is over its size limit."),
    415: ("UnsupportedMediaType", "The body must be sent as JSON (`Content-Type: application/json`)."),
    422: ("Unprocessable", "Well-formed, but breaks a rule: `error.code` says which and `error.field` where."),
    429: ("RateLimited", "Too many requests: wait for the number of seconds in Retry-After."),
    503: ("ServiceUnavailable", "The database is unreachable for a moment: retry after Retry-After seconds."),
}

LINK_TEXT_FIELDS = ["campaign", "utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term"]


def _link_input(*, required: list[str], extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The writable fields of a link, as POST and PATCH /api/links and the previews read them."""
    properties: dict[str, Any] = {
        "video_url": {
            "type": "string",
            "description": "Any YouTube video URL (watch, youtu.be, shorts, embed, live) or a bare 11-character id.",
        },
        "destination_url": {"type": "string", "description": "The landing page, an http(s) URL."},
        "short_code": {
            **_nullable({"type": "string"}),
            "description": "A custom code (3 to 64 letters, digits, - and _); omitted or null: a random one.",
        },
        **{name: _nullable({"type": "string"}) for name in LINK_TEXT_FIELDS},
        "attribution_window_days": _nullable({"type": "integer"}),
        "allowed_origins": _nullable({"type": "array", "items": {"type": "string"}}),
        "max_browser_revenue": {
            "anyOf": [{"type": "number"}, {"type": "string"}, {"type": "null"}],
            "description": "The most a browser conversion may report (> 0, at most two decimals); larger "
            "browser amounts are refused with `revenue_above_link_maximum`. Server conversions (API key) are "
            "not capped. null: no cap.",
        },
        "expires_at": {
            **_nullable({"type": "string", "format": "date-time"}),
            "description": "ISO 8601 date-time in the future; a time without a zone is UTC; null: never.",
        },
        **(extra or {}),
    }
    return _object(properties, required=required)


# A link as the API shows it (GET /api/links/<id> and the list, whose figures are of its range).
LINK_PROPERTIES = {
    "id": UUID,
    "short_code": {"type": "string", "minLength": 1, "maxLength": CUSTOM_CODE_MAX_LENGTH},
    "short_url": {"type": "string", "format": "uri"},
    "video_id": VIDEO_ID,
    "video_url": {"type": "string", "format": "uri"},
    "destination_url": {"type": "string"},
    "final_destination_url": {"type": "string"},
    **{name: _nullable({"type": "string"}) for name in LINK_TEXT_FIELDS},
    "attribution_window_days": {"type": "integer", "minimum": MIN_WINDOW_DAYS, "maximum": MAX_WINDOW_DAYS},
    "allowed_origins": {"type": "array", "items": {"type": "string"}},
    "max_browser_revenue": _nullable(MONEY),
    "expires_at": _nullable(TIMESTAMP),
    "status": {"enum": ["active", "expired", "archived"]},
    "archived": {"type": "boolean"},
    "archived_at": _nullable(TIMESTAMP),
    "created_at": TIMESTAMP,
    "updated_at": TIMESTAMP,
    "qr_svg_url": {"type": "string", "format": "uri"},
    "qr_png_url": {"type": "string", "format": "uri"},
    "clicks": {**COUNT, "description": "Clicks by people (bots excluded), all time."},
}


SCHEMAS: dict[str, Any] = {
    "Error": _object(
        {
            "error": _object(
                {
                    "code": {"type": "string", "description": "Stable machine-readable code."},
                    "message": {"type": "string", "description": "A sentence for people."},
                    "field": {"type": "string", "description": "The body field or parameter at fault."},
                },
                required=["code", "message"],
            )
        }
    ),
    "Link": _object(LINK_PROPERTIES),
    "LinkList": _object(
        {
            "items": {"type": "array", "items": _ref("LinkInRange")},
            "range": _object(
                {
                    "from": {"type": "string", "format": "date"},
                    "to": {"type": "string", "format": "date"},
                    "label": {"type": "string"},
                }
            ),
            "sort": _object({"sort": {"enum": list(LIST_SORTS)}, "dir": {"enum": ["asc", "desc"]}}),
            "pagination": _object(
                {
                    "page": {"type": "integer", "minimum": 1},
                    "per_page": {"type": "integer", "minimum": 1, "maximum": MAX_PER_PAGE},
                    "total": COUNT,
                    "pages": {"type": "integer", "minimum": 1},
                    "has_next": {"type": "boolean"},
                    "has_prev": {"type": "boolean"},
                }
            ),
        }
    ),
    "LinkInRange": _object(
        {
            **LINK_PROPERTIES,
            "clicks": {**COUNT, "description": "Clicks by people (bots excluded) in the list's range."},
            "conversions": {**COUNT, "description": "Conversions of every type in the range."},
            "revenue": {**MONEY, "description": "Revenue in the range in `currency` (never a sum across currencies)."},
            "currency": {"type": "string", "description": "The creator's main currency, the one `revenue` is in."},
        }
    ),
    "NewLink": _link_input(required=["video_url", "destination_url"]),
    "LinkDraft": _link_input(required=[]),
    "LinkChanges": _link_input(
        required=[],
        extra={"archived": {"type": "boolean", "description": "true archives the link, false restores it."}},
    ),
    "LinkPreview": _object(
        {
            "video_id": _nullable(VIDEO_ID),
            **{name: _nullable({"type": "string"}) for name in LINK_TEXT_FIELDS if name != "campaign"},
            "allowed_origins": {"type": "array", "items": {"type": "string"}},
            "final_destination_url": _nullable({"type": "string"}),
            "problems": {
                "type": "array",
                "description": "Every field that would be refused on save; empty when the link can be saved.",
                "items": _object(
                    {"field": {"type": "string"}, "code": {"type": "string"}, "message": {"type": "string"}}
                ),
            },
        }
    ),
    "Me": _object(
        {
            "id": {"type": "integer"},
            "email": {"type": "string"},
            "created_at": TIMESTAMP,
            "time_zone": {"type": "string", "description": "IANA name; report days are whole days in it."},
        }
    ),
    "Health": _object({"status": {"const": "ok"}}),
    "Readiness": _object(
        {
            "status": {"enum": ["ready", "not_ready"]},
            "failing": {
                "type": "array",
                "items": {"enum": list(READINESS_CHECKS)},
                "description": "The checks that failed; empty when ready.",
            },
            "checks": _object({name: _ref("ReadinessCheck") for name in READINESS_CHECKS}),
        }
    ),
    "ReadinessCheck": _object(
        {
            "status": {
                "enum": ["ok", "failing", "unused"],
                "description": "`unused`: Redis when REDIS_URL is unset (jobs run inline, limits in memory).",
            },
            "reason": {
                "type": "string",
                "description": "Why it failed: the error's class (database, redis), or how long rows have "
                "waited (click_buffer, counting). The server's log has the full message.",
            },
        },
        required=["status"],
    ),
    "ConversionInput": _object(
        {
            "tracking_id": {**UUID, "description": "The ct_tracking_id the redirect added to the landing page URL."},
            "campaign_link_id": {**UUID, "description": "The ct_campaign_link_id from the same URL."},
            "event_type": {"enum": list(EVENT_TYPES)},
            "revenue_amount": {
                "anyOf": [{"type": "number"}, {"type": "string"}, {"type": "null"}],
                "description": "At most two decimals, > 0 when given: a JSON number, or a string of ASCII "
                "digits with an optional decimal point (no spaces, underscores, exponents or other numerals). "
                "Required for purchases; accepted with a warning for signups. A browser's amount is capped by "
                "the link's max_browser_revenue.",
            },
            "currency": {
                **_nullable({"type": "string"}),
                "description": "ISO 4217 code, any case; default USD.",
            },
            "event_data": {
                **_nullable({"type": "object"}),
                "description": f"Anything the landing page wants to keep, under {EVENT_DATA_MAX_BYTES} bytes as JSON.",
            },
            "event_id": {
                **_nullable({"type": "string"}),
                "description": "Idempotency key, 1-100 of A-Z a-z 0-9 . _ : - , scoped to the click and the "
                "source (the browser, or the creator's server with an API key). A replay with the same body "
                "answers 200 with the id, type, status and amount only; with a different body, 409 "
                "`idempotency_conflict`.",
            },
        },
        required=["tracking_id", "campaign_link_id", "event_type"],
        closed=False,  # unknown fields are ignored, so an older or newer tracker keeps working
    ),
    "Conversion": _object(
        {
            "id": UUID,
            "status": {"enum": ["recorded"]},
            "tracking_id": UUID,
            "campaign_link_id": UUID,
            "event_type": {"enum": list(EVENT_TYPES)},
            "revenue_amount": _nullable(MONEY),
            "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
            "event_data": _nullable({"type": "object"}),
            "event_id": _nullable({"type": "string"}),
            "source": {"enum": list(SOURCES)},
            "converted_at": TIMESTAMP,
            "days_since_click": {"type": "integer"},
            "window_expires_at": {**TIMESTAMP, "description": "The first instant a conversion is refused."},
            "warnings": {"type": "array", "items": {"type": "string"}},
        }
    ),
    "ConversionReplay": _object(
        {
            "id": UUID,
            "event_type": {"enum": list(EVENT_TYPES)},
            "status": {"enum": ["duplicate"]},
            "revenue_amount": _nullable(MONEY),
        }
    ),
    "Attribution": _object(
        {
            "tracking_id": UUID,
            "campaign_link_id": UUID,
            "clicked_at": TIMESTAMP,
            "days_since_click": {"type": "integer"},
            "window_days": {"type": "integer", "minimum": MIN_WINDOW_DAYS},
            "within_window": {
                "type": "boolean",
                "description": "floor(days since the click) <= window_days: a conversion now would be accepted.",
            },
            "window_expires_at": TIMESTAMP,
            "conversions": {
                "type": "array",
                "items": _object(
                    {
                        "id": UUID,
                        "event_type": {"enum": list(EVENT_TYPES)},
                        "revenue_amount": _nullable(MONEY),
                        "currency": {"type": "string"},
                        "event_id": _nullable({"type": "string"}),
                        "source": {"enum": list(SOURCES)},
                        "converted_at": TIMESTAMP,
                        "days_since_click": {"type": "integer"},
                    }
                ),
            },
            "total_revenue": {"anyOf": [MONEY, {"type": "null"}]},
            "revenue_by_currency": BY_CURRENCY,
        }
    ),
    "Funnel": _object(
        {
            "campaign_link_id": UUID,
            "window_days": {"type": "integer"},
            "from": {"type": "string", "format": "date"},
            "to": {"type": "string", "format": "date"},
            "stages": {
                "type": "array",
                "description": "Clicks, then distinct converting visitors per event type; `rate` is a stage "
                "over the one before (null when there is nothing to divide by).",
                "items": _object(
                    {
                        "stage": {"enum": ["clicks", *EVENT_TYPES]},
                        "count": COUNT,
                        "rate": _nullable({"type": "number", "minimum": 0}),
                    },
                    required=["stage", "count"],
                ),
            },
            "total_revenue": {"anyOf": [MONEY, {"type": "null"}]},
            "revenue_by_currency": BY_CURRENCY,
            "main_currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
        }
    ),
    "Types": _object(
        {
            "campaign_link_id": UUID,
            "from": {"type": "string", "format": "date"},
            "to": {"type": "string", "format": "date"},
            "types": {
                "type": "array",
                "items": _object(
                    {
                        "event_type": {"enum": list(EVENT_TYPES)},
                        "count": COUNT,
                        "revenue": {"anyOf": [MONEY, {"type": "null"}]},
                        "revenue_by_currency": BY_CURRENCY,
                    }
                ),
            },
            "total_revenue": {"anyOf": [MONEY, {"type": "null"}]},
            "revenue_by_currency": BY_CURRENCY,
            "main_currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
            "sources": {
                "type": "array",
                "description": "Who reported the conversions: `browser` (the landing page; anyone with a tracking "
                "id can forge such a call) and `server` (the creator's API key), always in that order.",
                "items": _object(
                    {
                        "source": {"enum": list(SOURCES)},
                        "count": COUNT,
                        "revenue": {"anyOf": [MONEY, {"type": "null"}]},
                        "revenue_by_currency": BY_CURRENCY,
                    }
                ),
            },
        }
    ),
    "CleanupReport": _object(
        {
            "conversions_outside_window_removed": COUNT,
            "conversions_past_retention_removed": COUNT,
            "idempotency_keys_cleared": COUNT,
            "clicks_anonymised": COUNT,
            "links_recounted": COUNT,
            "finished": {
                "type": "boolean",
                "description": "false when the run stopped at CLEANUP_MAX_SECONDS; the next run goes on from there.",
            },
        }
    ),
}
