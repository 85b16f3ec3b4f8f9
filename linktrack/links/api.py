"""REST API for campaign links: /api/links (create, list, read, update, archive) and previews.

Types are checked here (a wrong JSON type is a 400); every rule about the values is the
service's, shared with the web form (a broken rule is a 422, a taken short code a 409).
"""

from datetime import datetime, timezone
from typing import Any

from flask import current_app, request, url_for
from flask_login import current_user, login_required

from ..errors import ApiError
from ..extensions import hashed_remote_address, limiter
from ..models import CampaignLink
from ..reports import ranges
from ..web.api import api_blueprint, json_body
from ..web.formatting import money
from ..web.ownership import owned_or_404
from . import service
from .urls import UTM_FIELDS, final_destination_url, short_url
from .validation import LINK_FIELDS, LinkInvalid

api = api_blueprint("links_api", __name__)


def _link_api_limit() -> str:
    return current_app.config["LINK_API_RATE_LIMIT"]


def _caller_key() -> str:
    """Each creator has one budget, whichever of their keys or their session calls; anonymous
    callers (answered 401) are counted by address."""
    if current_user.is_authenticated:
        return f"creator:{current_user.id}"
    return hashed_remote_address()


def _limit_message() -> str:
    return f"Too many link API calls (the limit is {_link_api_limit()}): try again after Retry-After seconds."


# Every /api/links* endpoint draws on the one budget (a plain blueprint limit would give each endpoint its own).
limiter.shared_limit(_link_api_limit, scope="links_api", key_func=_caller_key, error_message=_limit_message)(api)

TEXT_FIELDS = frozenset({"video_url", "destination_url", "campaign", "short_code", *UTM_FIELDS})
UPDATE_FIELDS = frozenset({*LINK_FIELDS, "archived"})


@api.errorhandler(LinkInvalid)
def _link_invalid(exc: LinkInvalid):
    problem = exc.first
    status = 409 if problem.code == "short_code_taken" else 422
    return ApiError(status, problem.code, problem.message, problem.field).to_response()


def link_json(link: CampaignLink, clicks: int | None = None) -> dict[str, Any]:
    """The API's view of a link; every timestamp is ISO 8601 in UTC."""
    body = {
        "id": str(link.id),
        "short_code": link.short_code,
        "short_url": short_url(link.short_code),
        "video_id": link.video_id,
        "video_url": link.video_url,
        "destination_url": link.destination_url,
        "final_destination_url": final_destination_url(link),
        "campaign": link.campaign,
        **{name: getattr(link, name) for name in UTM_FIELDS},
        "attribution_window_days": link.attribution_window_days,
        "allowed_origins": list(link.allowed_origins),
        "max_browser_revenue": money(link.max_browser_revenue) if link.max_browser_revenue is not None else None,
        "expires_at": _iso(link.expires_at),
        "status": service.link_status(link),
        "archived": link.archived_at is not None,
        "archived_at": _iso(link.archived_at),
        "created_at": _iso(link.created_at),
        "updated_at": _iso(link.updated_at),
        "qr_svg_url": url_for("links.qr_code", link_id=link.id, kind="svg", _external=True),
        "qr_png_url": url_for("links.qr_code", link_id=link.id, kind="png", _external=True),
    }
    if clicks is not None:
        body["clicks"] = clicks
    return body


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _typed_values(body: dict[str, Any], allowed: frozenset[str]) -> dict[str, Any]:
    """The body's fields with JSON types checked and expires_at parsed; 400 for anything malformed."""
    values: dict[str, Any] = {}
    for name, value in body.items():
        if name not in allowed:
            raise ApiError(400, "unknown_field", f"Unknown field “{name}”.", name)
        if name in TEXT_FIELDS:
            if value is not None and not isinstance(value, str):
                raise ApiError(400, "invalid_type", f"{name} must be a string.", name)
        elif name == "attribution_window_days":
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise ApiError(400, "invalid_type", f"{name} must be a whole number of days.", name)
        elif name == "allowed_origins":
            if value is not None and (not isinstance(value, list) or not all(isinstance(v, str) for v in value)):
                raise ApiError(400, "invalid_type", f"{name} must be a list of strings.", name)
        elif name == "max_browser_revenue":
            if isinstance(value, bool) or not isinstance(value, (str, int, float, type(None))):
                raise ApiError(400, "invalid_type", f'{name} must be an amount like "500.00", or null.', name)
        elif name == "expires_at":
            value = _parse_datetime(value, name)
        elif name == "archived" and not isinstance(value, bool):
            raise ApiError(400, "invalid_type", "archived must be true or false.", name)
        values[name] = value
    return values


def _parse_datetime(value: Any, name: str) -> datetime | None:
    """ISO 8601; a time without a zone is taken as UTC."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ApiError(400, "invalid_type", f"{name} must be an ISO 8601 date-time string or null.", name)
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ApiError(
            400, "invalid_datetime", f"{name} must be an ISO 8601 date-time, like 2030-01-31T23:59:00Z.", name
        ) from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=timezone.utc)


def _own_link(link_id: str) -> CampaignLink:
    """The caller's link, or a 404: another creator's link, a missing one and a malformed id look alike.

    The routes take the id as plain text, not werkzeug's uuid converter, so a malformed id reaches
    here and gets the API's error shape instead of a URL that matches no route."""
    return owned_or_404(service.get_link(current_user.id, link_id), "link", field="link_id")


@api.get("/links")
@login_required
def list_links():
    """One page of links with their clicks, conversions and revenue in the range (`from`/`to` or
    `range`, as the reports read them), sorted across pages."""
    try:
        date_range = ranges.parse_date_range(
            request.args, zone=current_user.time_zone, first_day=lambda: ranges.first_day_with_data(current_user.id)
        )
    except ranges.RangeInvalid as exc:
        raise ApiError(400, exc.code, exc.message, exc.field) from None
    try:
        query = service.parse_list_query(request.args, date_range)
    except LinkInvalid as exc:
        problem = exc.first
        raise ApiError(400, problem.code, problem.message, problem.field) from None
    page = service.list_links(current_user.id, query, current_user.main_currency)
    return {
        "items": [
            {
                **link_json(row.link, row.clicks),
                "conversions": row.conversions,
                "revenue": money(row.revenue, current_user.main_currency),
                "currency": current_user.main_currency,
            }
            for row in page.rows
        ],
        "range": {"from": date_range.start.isoformat(), "to": date_range.end.isoformat(), "label": date_range.label},
        "sort": {"sort": query.sort, "dir": "desc" if query.descending else "asc"},
        "pagination": {
            "page": query.page,
            "per_page": query.per_page,
            "total": page.total,
            "pages": page.pages,
            "has_next": page.has_next,
            "has_prev": page.has_prev,
        },
    }


@api.post("/links")
@login_required
def create_link():
    values = _typed_values(json_body(), frozenset(LINK_FIELDS))
    link = service.create_link(current_user.id, values)
    return link_json(link, clicks=0), 201, {"Location": url_for(".get_link", link_id=link.id, _external=True)}


@api.get("/links/<link_id>")
@login_required
def get_link(link_id: str):
    link = _own_link(link_id)
    return link_json(link, service.all_time_clicks(link.id))


@api.patch("/links/<link_id>")
@login_required
def update_link(link_id: str):
    link = _own_link(link_id)
    values = _typed_values(json_body(), UPDATE_FIELDS)
    service.update_link(link, values)
    return link_json(link, service.all_time_clicks(link.id))


@api.delete("/links/<link_id>")
@login_required
def archive_link(link_id: str):
    """Archives, never deletes: clicks and conversions stay in the reports. PATCH archived=false restores."""
    link = service.archive_link(_own_link(link_id))
    return link_json(link, service.all_time_clicks(link.id))


@api.post("/links/preview")
@login_required
def preview_new_link():
    """What POST /api/links would make of this body, without saving: the form's live preview uses it."""
    values = _typed_values(json_body(), frozenset(LINK_FIELDS))
    return _preview_json(service.preview_link(values))


@api.post("/links/<link_id>/preview")
@login_required
def preview_link_changes(link_id: str):
    """What PATCH /api/links/<id> would make of this body, without saving."""
    link = _own_link(link_id)
    values = _typed_values(json_body(), frozenset(LINK_FIELDS))
    return _preview_json(service.preview_link(values, link))


def _preview_json(preview: service.LinkPreview) -> dict[str, Any]:
    return {
        "video_id": preview.video_id,
        **preview.utm,
        "allowed_origins": preview.allowed_origins,
        "final_destination_url": preview.final_destination_url,
        "problems": [
            {"field": problem.field, "code": problem.code, "message": problem.message} for problem in preview.problems
        ],
    }
