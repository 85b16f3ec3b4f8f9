"""Tracker sightings: "last event received from <origin> at <time>" on the install panels.

Written from the conversion path, so it stays off it: at most one write per link and origin per
minute (a minute is one THROTTLE_SECONDS bucket of the app's clock). Each process remembers the
bucket it last wrote (no round trip for the conversions after the first), so N processes write
at most N times a minute; no Redis call, so a hung Redis costs a conversion nothing more. The write is one upsert
in a short transaction of its own, after the conversion has committed: it never holds a lock a
conversion waits on, and if it fails the conversion has still been recorded and answered.
Only origins are stored: the Origin header a browser conversion passed check_origin with.
"""

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime

from flask import current_app
from sqlalchemy import select

from .. import dialect
from ..extensions import db
from ..models import CampaignLink, TrackerSighting, utcnow

log = logging.getLogger(__name__)

THROTTLE_SECONDS = 60
LOCAL_MAX = 10_000  # remembered (link, origin) pairs per process before the memory starts afresh
SHOWN_PER_LINK = 5
_LOCAL = "linktrack_sightings"  # app.extensions key: {(link_id, origin): minute bucket}
TABLE = TrackerSighting.__table__


@dataclass(frozen=True)
class Sighting:
    origin: str
    last_seen_at: datetime
    short_code: str  # of the link the conversion was for


def note_sighting(link_id: uuid.UUID, origin: str, now: datetime | None = None) -> bool:
    """Remember that `origin` reported a conversion for the link; True if this call wrote it.
    Never raises: a conversion is already stored when this runs."""
    try:
        now = now or utcnow()
        if not _first_this_minute(link_id, origin, int(now.timestamp()) // THROTTLE_SECONDS):
            return False
        _upsert(link_id, origin, now)
        return True
    except Exception:
        log.warning("could not note the tracker sighting of %s for link %s", origin, link_id, exc_info=True)
        return False


def _first_this_minute(link_id: uuid.UUID, origin: str, minute: int) -> bool:
    seen = current_app.extensions.setdefault(_LOCAL, {})
    if seen.get((link_id, origin)) == minute:
        return False
    if len(seen) >= LOCAL_MAX:
        seen.clear()
    seen[(link_id, origin)] = minute
    return True


def _upsert(link_id: uuid.UUID, origin: str, now: datetime) -> None:
    statement = dialect.insert(TABLE, db.engine.dialect.name).values(
        campaign_link_id=link_id, origin=origin, last_seen_at=now
    )
    statement = statement.on_conflict_do_update(
        index_elements=[TABLE.c.campaign_link_id, TABLE.c.origin],
        set_={"last_seen_at": statement.excluded.last_seen_at},
        where=TABLE.c.last_seen_at < statement.excluded.last_seen_at,  # a late writer never moves it back
    )
    with db.engine.begin() as connection:
        connection.execute(statement)


def _sightings(user_id: int, link_id: uuid.UUID | None, limit: int) -> list[Sighting]:
    query = (
        select(TrackerSighting.origin, TrackerSighting.last_seen_at, CampaignLink.short_code)
        .join(CampaignLink, CampaignLink.id == TrackerSighting.campaign_link_id)
        .where(CampaignLink.user_id == user_id)
        .order_by(TrackerSighting.last_seen_at.desc(), TrackerSighting.origin)
        .limit(limit)
    )
    if link_id is not None:
        query = query.where(TrackerSighting.campaign_link_id == link_id)
    return [Sighting(*row) for row in db.session.execute(query)]


def link_sightings(user_id: int, link_id: uuid.UUID) -> list[Sighting]:
    """The link's latest sightings, newest first, one per origin (none if it is not user_id's)."""
    return _sightings(user_id, link_id, SHOWN_PER_LINK)


def latest_sighting(user_id: int) -> list[Sighting]:
    """The newest sighting across the creator's links (Settings), as a list of at most one."""
    return _sightings(user_id, None, 1)
