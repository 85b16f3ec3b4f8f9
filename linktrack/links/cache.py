"""The redirect's one cached lookup of a link by short code.

Every process keeps the links it served in the last few seconds, so a popular link costs
one SELECT per process every LINK_TTL_SECONDS instead of one per click. The price is
staleness: an edit, archive or expiry date change reaches every process within
LINK_TTL_SECONDS; the process that made the edit sees it at once when the links service
calls `forget(short_code)`. Unknown codes are remembered too (for MISS_TTL_SECONDS), so a
burst of requests for a mistyped code does not become a burst of queries.

The whole Location is precomputed with a placeholder for the tracking id (by urls.py, the one
query builder), so a click only fills in its id.

Freshness uses wall-clock time (time.time), not a monotonic clock, so tests can move it;
an entry stamped in the future (clock stepped back) counts as stale.
"""

import re
import time
import uuid
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import select
from werkzeug.urls import iri_to_uri

from ..extensions import db
from ..models import CampaignLink
from .urls import UTM_FIELDS, utm_destination, with_query_params

LINK_TTL_SECONDS = 5.0
MISS_TTL_SECONDS = 2.0
MAX_ENTRIES = 10_000  # when full, the cache starts over: bounded memory whatever codes are probed
SHORT_CODE_SHAPE = re.compile(r"[A-Za-z0-9_-]{1,64}")  # anything else cannot be a code: no query

_EXTENSION_KEY = "linktrack_link_cache"
# Left as is by URL encoding, and never a real tracking id (those are UUIDs).
_TRACKING_ID_PLACEHOLDER = "ct-tracking-id-placeholder"


@dataclass(frozen=True, slots=True)
class CachedLink:
    """What the redirect needs of a link, its Location precomputed up to the tracking id."""

    id: uuid.UUID
    destination: str  # destination_url with the link's UTM added where the URL does not set them
    location_template: str  # destination with both tracking parameters, the tracking id a placeholder
    archived: bool
    expires_at: float | None  # epoch seconds

    def is_gone(self, now: float) -> bool:
        """Archived or expired links answer 410."""
        return self.archived or (self.expires_at is not None and self.expires_at <= now)

    def plain_location(self) -> str:
        """The destination without tracking parameters (a viewer over the short links' limit)."""
        return iri_to_uri(self.destination)

    def location(self, tracking_id: uuid.UUID) -> str:
        """Where this click goes: the template with its tracking id, a string replace per click."""
        if self.location_template.count(_TRACKING_ID_PLACEHOLDER) == 1:
            return self.location_template.replace(_TRACKING_ID_PLACEHOLDER, str(tracking_id))
        # The destination itself contains the placeholder text: build the URL the long way.
        return iri_to_uri(
            with_query_params(self.destination, _tracking_params(self.id, str(tracking_id)), override=True)
        )


def find_link(short_code: str, now: float | None = None) -> CachedLink | None:
    """The link for `short_code` (live, archived or expired), or None when there is no such code."""
    now = time.time() if now is None else now
    cache = _cache()
    entry = cache.get(short_code)
    if entry is not None:
        stored_at, fresh_until, link = entry
        if stored_at <= now < fresh_until:
            return link
    if not SHORT_CODE_SHAPE.fullmatch(short_code):
        return None
    link = _load(short_code)
    if len(cache) >= MAX_ENTRIES:
        cache.clear()
    cache[short_code] = (now, now + (LINK_TTL_SECONDS if link else MISS_TTL_SECONDS), link)
    return link


def forget(short_code: str) -> None:
    """Drop `short_code` from this process's cache, so an edit, archive or new link shows at once here.

    Other processes catch up within LINK_TTL_SECONDS (MISS_TTL_SECONDS for a code they saw missing).
    Needs an app context.
    """
    _cache().pop(short_code, None)


def _cache() -> dict[str, tuple[float, float, CachedLink | None]]:
    """One cache per app, so apps built side by side (tests) never share entries."""
    return current_app.extensions.setdefault(_EXTENSION_KEY, {})


def _tracking_params(link_id: uuid.UUID, tracking_id: str) -> dict[str, str]:
    return {"ct_tracking_id": tracking_id, "ct_campaign_link_id": str(link_id)}


def _load(short_code: str) -> CachedLink | None:
    columns = [CampaignLink.id, CampaignLink.destination_url, CampaignLink.archived_at, CampaignLink.expires_at]
    utm_columns = [getattr(CampaignLink, field) for field in UTM_FIELDS]
    query = select(*columns, *utm_columns).where(CampaignLink.short_code == short_code)
    with db.engine.connect() as connection:
        row = connection.execute(query).first()
    if row is None:
        return None
    destination = utm_destination(row.destination_url, {field: getattr(row, field) for field in UTM_FIELDS})
    tracking = _tracking_params(row.id, _TRACKING_ID_PLACEHOLDER)
    return CachedLink(
        id=row.id,
        destination=destination,
        # URI-safe once here (as Flask's redirect would make it per request): the fast path sends it as is.
        location_template=iri_to_uri(with_query_params(destination, tracking, override=True)),
        archived=row.archived_at is not None,
        expires_at=row.expires_at.timestamp() if row.expires_at else None,
    )
