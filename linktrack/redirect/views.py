"""GET /<short_code>: the viewer's only contact with linktrack, so it does one thing, fast.

One cached lookup (links/cache.py), a click row handed to the click writer (redirect/clicks.py,
which writes batches off the request), a 302. No session, no user, no template except the 404
and 410 pages. `Cache-Control: no-store`, because every answer carries a fresh tracking id and
an archive must take effect. Click storage failing never fails the redirect.

The happy path (a live link's 302) is answered by `ShortLinkFastPath`, a WSGI layer in front of
Flask: Flask's per-request machinery (rate limiter, CSRF, login and session hooks, response
object) cost a third of the redirect's time for nothing it needs (bench/redirect.py). Unknown,
archived and expired codes, and every other path, go on to Flask, where `follow` renders the
404 and 410 pages with the rest of the site's error handling.
"""

import time
from datetime import datetime, timezone
from html import escape

from flask import Blueprint, abort, current_app, request
from werkzeug.exceptions import TooManyRequests

from ..extensions import limiter
from ..links.cache import CachedLink
from ..models.events import time_ordered_id
from ..web.security import FAST_PATH_HEADERS
from ..web.sessions import sessionless
from .clicks import is_counted, record_click
from .limit import TooManyMisses, counts_click, find_link_for

bp = Blueprint("redirect", __name__)

# A redirect's Referrer-Policy replaces the viewer's page's policy for the next hop, so it decides
# what the landing page is told: the site the viewer came from (e.g. https://www.youtube.com/,
# what landing-page analytics expect), never the full address of that page (which may be a
# private forum thread or a webmail message), and nothing from an https page to an http one.
REFERRER_POLICY = "strict-origin-when-cross-origin"
NEVER_CACHED = {"Cache-Control": "no-store", "Referrer-Policy": REFERRER_POLICY}
# A 302's fixed headers, built once: with and without HSTS (see web/security.py).
_302_HEADERS = {
    https: [("Content-Type", "text/html; charset=utf-8"), *NEVER_CACHED.items(), *FAST_PATH_HEADERS[https]]
    for https in (False, True)
}


UNKNOWN_CODES_EXPLANATION = (
    "Many short links that do not exist were asked for from your network. Please wait a minute, then try again."
)


@limiter.request_filter
def _not_rate_limited() -> bool:
    """Short links are limited by limit.py (the viewer is still redirected), not by Flask-Limiter; a
    filter, unlike an exemption, lets Flask-Limiter skip its per-request work for them."""
    return request.blueprint == bp.name


def click_through(link: CachedLink, *, method: str, headers, ip, user_agent, referrer, now: float) -> str:
    """Log the click (unless HEAD or a prefetch) and return where this viewer goes: the plain
    destination, without a tracking id, for an address over the link's limit (limit.py)."""
    clicked_at = datetime.fromtimestamp(now, timezone.utc)
    tracking_id = time_ordered_id(clicked_at)  # names its click's time: lookups find its partition
    if is_counted(method, headers):
        if not counts_click(link.id, ip, clicked_at.date()):
            return link.plain_location()
        record_click(
            link.id,
            tracking_id,
            ip=ip,
            user_agent=user_agent,
            referrer=referrer,
            clicked_at=clicked_at,
        )
    return link.location(tracking_id)


@bp.get("/<short_code>")
@sessionless
def follow(short_code: str):
    """302 to the link's destination with a fresh tracking id; HEAD and GET alike (Flask adds HEAD)."""
    now = time.time()
    try:
        link = find_link_for(short_code, request.remote_addr, now)
    except TooManyMisses as exc:
        refusal = TooManyRequests(UNKNOWN_CODES_EXPLANATION, retry_after=exc.retry_after)
        refusal.explanation = UNKNOWN_CODES_EXPLANATION
        raise refusal from None
    if link is None:
        abort(404)
    if link.is_gone(now):
        abort(410)
    location = click_through(
        link,
        method=request.method,
        headers=request.headers,
        ip=request.remote_addr,
        user_agent=request.headers.get("User-Agent"),
        referrer=request.referrer,
        now=now,
    )
    body, headers = redirect_answer(location, https=request.is_secure)
    return current_app.response_class(b"" if request.method == "HEAD" else body, 302, headers)


@bp.after_request
def _never_cached(response):
    """Also applies to the 404 and 410 pages, so a restored or new link is seen at once."""
    response.headers.update(NEVER_CACHED)
    return response


def redirect_answer(location: str, *, https: bool) -> tuple[bytes, list[tuple[str, str]]]:
    """The body and headers of a click's 302, for the view and the fast path alike."""
    body = _redirect_body(location)
    return body, [("Location", location), ("Content-Length", str(len(body))), *_302_HEADERS[https]]


def _redirect_body(location: str) -> bytes:
    """What a browser that does not follow redirects shows (the same text Flask's redirect sends)."""
    href = escape(location)
    return (
        "<!doctype html>\n<html lang=en>\n<title>Redirecting...</title>\n<h1>Redirecting...</h1>\n"
        f'<p>You should be redirected automatically to the target URL: <a href="{href}">{href}</a>. '
        "If not, click the link.\n"
    ).encode()
