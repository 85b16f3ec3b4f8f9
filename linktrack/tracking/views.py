"""The CampaignTracker script and the conversions API (DESIGN.md §5)."""

import uuid

from flask import current_app, g, request
from flask_login import current_user, login_required

from ..errors import ApiError
from ..extensions import limiter
from ..web.api import allow_cross_origin, api_blueprint, json_body
from ..web.ownership import owned_or_404
from ..web.sessions import sessionless
from . import service
from .script import tracker_script

bp = api_blueprint("tracking", __name__, url_prefix="/api/conversions")

SCRIPT_MAX_AGE = 3600


def _base_url() -> str:
    return current_app.config.get("LINKTRACK_BASE_URL") or request.host_url.rstrip("/")


@bp.app_template_global("tracker_script_url")
def script_url() -> str:
    """The address of the script, as the install panels show it in their script tag."""
    return _base_url() + bp.url_prefix + "/script"


def _ip_limit() -> str:
    return current_app.config["CONVERSION_RATE_LIMIT_PER_IP"]


@bp.after_request
def _cors(response):
    if request.endpoint != "tracking.script":
        allow_cross_origin(response)
    return response


@bp.get("/script")
@sessionless
def script():
    gzip_accepted = request.accept_encodings["gzip"] > 0  # also true of "*"; "gzip;q=0" refuses it
    body, etag = tracker_script(_base_url(), current_app.config["ATTRIBUTION_WINDOW_DAYS"]).encoded(gzip_accepted)
    response = current_app.response_class(body, mimetype="application/javascript")
    if gzip_accepted:
        response.content_encoding = "gzip"
    response.vary.add("Accept-Encoding")
    response.set_etag(etag)
    response.cache_control.public = True
    response.cache_control.max_age = SCRIPT_MAX_AGE
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers["Cross-Origin-Resource-Policy"] = "cross-origin"
    return response.make_conditional(request)


@bp.route("", methods=["OPTIONS"])
@sessionless
def preflight():
    response = current_app.response_class(status=204)
    response.headers["Access-Control-Allow-Methods"] = "POST, OPTIONS"
    response.headers["Access-Control-Allow-Headers"] = "Content-Type, Authorization"
    response.headers["Access-Control-Max-Age"] = "86400"
    return response


@bp.post("")
@sessionless
@limiter.limit(_ip_limit)
def record():
    """Browser conversions (CampaignTracker) and server conversions (Bearer API key)."""
    if (request.content_length or 0) > service.CONVERSION_MAX_BYTES:
        raise ApiError(413, "payload_too_large", f"The body must be under {service.CONVERSION_MAX_BYTES} bytes.")
    request.max_content_length = service.CONVERSION_MAX_BYTES
    body = json_body()
    server_call = current_user.is_authenticated and g.get("api_key") is not None
    if request.headers.get("Authorization") and not server_call:
        # A server that sends a wrong key must hear so, not be recorded as an anonymous browser.
        code, message = g.get("api_auth_error") or ("invalid_api_key", "This API key is unknown or has been revoked.")
        raise ApiError(401, code, message)
    recorded = service.record_conversion(
        body,
        source="server" if server_call else "browser",
        origin=None if server_call else request.headers.get("Origin"),
        owner_id=current_user.id if server_call else None,
    )
    return service.conversion_json(recorded), 201 if recorded.created else 200


@bp.get("/attribution/<tracking_id>")
@login_required
def attribution(tracking_id: str):
    try:
        parsed = uuid.UUID(tracking_id)
    except ValueError:
        parsed = None  # a malformed id is as absent as a missing or a stranger's one
    data = service.attribution(parsed, current_user.id) if parsed else None
    return owned_or_404(data, "click", field="tracking_id")


@bp.post("/cleanup")
@login_required
def cleanup():
    """Run the attribution cleanup on the caller's own data now; the nightly job does everyone's."""
    from .cleanup import run_cleanup

    return run_cleanup(current_user.id).as_dict()
