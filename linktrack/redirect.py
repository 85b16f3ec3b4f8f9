"""GET /<short_code>: the viewer's only contact with linktrack, so it does one thing, fast.

One cached lookup (links/cache.py), a click row handed to the click writer (links/clicks.py,
which writes batches off the request), a 302.
No session: the view is @sessionless (no Set-Cookie, no Vary: Cookie) and never touches
`session` or `current_user`, so Flask-Login loads no user. No template, except the 404 and
410 pages. `Cache-Control: no-store`, because every answer carries a fresh
tracking id and an archive must take effect. Click storage failing never fails the redirect.
"""

import time
import uuid
from datetime import datetime, timezone

from flask import Blueprint, abort, redirect, request

from .extensions import limiter
from .links.cache import find_link
from .links.clicks import is_counted, record_click
from .sessions import sessionless

bp = Blueprint("redirect", __name__)


@limiter.request_filter
def _not_rate_limited() -> bool:
    """Viewers share addresses (mobile carriers), so short links are never limited; a filter, unlike
    an exemption, lets Flask-Limiter skip its per-request work for them."""
    return request.blueprint == bp.name


# The landing page still learns the site the viewer came from (e.g. https://www.youtube.com/),
# never a full URL, whatever the original page's policy was.
REFERRER_POLICY = "strict-origin-when-cross-origin"


@bp.get("/<short_code>")
@sessionless
def follow(short_code: str):
    """302 to the link's destination with a fresh tracking id; HEAD and GET alike (Flask adds HEAD)."""
    now = time.time()
    link = find_link(short_code, now)
    if link is None:
        abort(404)
    if link.is_gone(now):
        abort(410)
    tracking_id = uuid.uuid4()
    if is_counted(request.method, request.headers):
        record_click(
            link.id,
            tracking_id,
            ip=request.remote_addr,
            user_agent=request.headers.get("User-Agent"),
            referrer=request.referrer,
            clicked_at=datetime.fromtimestamp(now, timezone.utc),
        )
    return redirect(link.location(tracking_id), 302)


@bp.after_request
def _never_cached(response):
    """Also applies to the 404 and 410 pages, so a restored or new link is seen at once."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = REFERRER_POLICY
    return response
