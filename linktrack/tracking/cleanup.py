"""Attribution cleanup (DESIGN.md §6): the seed's intent without erasing revenue history.

What it does, for one creator or all of them:
1. removes conversions recorded outside their link's window (`days_since_click > window`),
   e.g. after the creator shortened the window: reports never counted them;
2. removes valid conversions older than the creator's conversion retention period, only when
   the creator set one (Settings); with none set, valid conversions are kept for good;
3. clears stale idempotency keys: `event_id` is set NULL once the click's window has been closed
   for IDEMPOTENCY_KEY_MARGIN_DAYS. Until then a replay answers 200 with the stored conversion;
   afterwards a replay is refused as `attribution_window_expired` (it could not be recorded
   anyway), so the key no longer protects anything;
4. strips personal data from clicks older than CLICK_PII_RETENTION_DAYS: user agent and ip hash
   are cleared and the referrer is cut to its origin (device type, browser and OS stay).

Every step works in batches of CLEANUP_BATCH_SIZE rows, one short transaction each, so the
redirect and the conversions API never wait long on a lock. Running it twice changes nothing
the second time. Links that lost conversions get their daily aggregates recounted.

A run is bounded in time: it stops starting batches after CLEANUP_MAX_SECONDS (below the job's
600 s timeout) and says so (`finished: false`). Every step resumes where it stopped: the
conversion steps because what they removed is gone, the anonymisation because it walks clicks
in (clicked_at, id) order, partition by partition on PostgreSQL (tracking/partitions.py), and
keeps how far it got in cleanup_cursors, in each batch's own transaction. So the nightly run
reads each click once in its life (the day it passes retention), never the whole table, and a
run that was stopped or killed loses at most its last batch.
"""

import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from flask import current_app
from sqlalchemy import and_, bindparam, delete, literal, or_, select, tuple_, update

from .. import dialect
from ..counting.recount import recount_daily_stats
from ..extensions import db, maintenance_session
from ..models import CampaignLink, CleanupCursor, ClickEvent, ConversionEvent, User, UTCDateTime, utcnow
from ..models.events import EARLIEST_CLICK, LATEST_CLICK
from .partitions import Partition, click_partitions, create_click_partitions
from .rules import days_since_click_sql

ANONYMISATION_CURSOR = "click_anonymisation"
_NO_CLICK_ID = uuid.UUID(int=0)  # sorts before every id: the cursor before the first click


@dataclass
class CleanupReport:
    conversions_outside_window_removed: int = 0
    conversions_past_retention_removed: int = 0
    idempotency_keys_cleared: int = 0
    clicks_anonymised: int = 0
    links_recounted: int = 0
    finished: bool = True  # False: CLEANUP_MAX_SECONDS ran out; the next run goes on from there
    touched_links: set = field(default_factory=set, repr=False)
    deadline: float = field(default=float("inf"), repr=False)  # time.monotonic() to stop at

    def as_dict(self) -> dict:
        counts = asdict(self)
        counts.pop("touched_links")
        counts.pop("deadline")
        return counts

    def out_of_time(self) -> bool:
        """Whether the run must start no more batches (and then says it did not finish)."""
        if time.monotonic() < self.deadline:
            return False
        self.finished = False
        return True


@maintenance_session()  # long batched work off the transaction pooler, beside the recount it ends with
def run_cleanup(user_id: int | None = None, now: datetime | None = None) -> CleanupReport:
    """Clean `user_id`'s data (every creator's when None) and answer what changed, within
    CLEANUP_MAX_SECONDS (the report says whether it finished)."""
    now = now or utcnow()
    report = CleanupReport(deadline=time.monotonic() + current_app.config["CLEANUP_MAX_SECONDS"])
    _remove_conversions_outside_window(report, user_id)
    _remove_conversions_past_retention(report, user_id, now)
    _clear_stale_idempotency_keys(report, user_id, now)
    _anonymise_old_clicks(report, user_id, now)
    for link_id in sorted(report.touched_links):
        recount_daily_stats([link_id])  # one link at a time: short transactions
    report.links_recounted = len(report.touched_links)
    return report


def _batch_size() -> int:
    return current_app.config["CLEANUP_BATCH_SIZE"]


def _owned_by(user_id: int | None):
    return CampaignLink.user_id == user_id if user_id is not None else literal(True)


def _delete_conversions_in_batches(candidates, report: CleanupReport) -> int:
    """Delete the conversions `candidates` selects (id, campaign_link_id), a batch per transaction."""
    removed = 0
    while not report.out_of_time():
        rows = db.session.execute(candidates.limit(_batch_size())).all()
        if not rows:
            db.session.commit()
            return removed
        ids = [row[0] for row in rows]
        db.session.execute(delete(ConversionEvent).where(ConversionEvent.id.in_(ids)))
        db.session.commit()
        report.touched_links.update(row[1] for row in rows)
        removed += len(ids)
    return removed


def _remove_conversions_outside_window(report: CleanupReport, user_id: int | None) -> None:
    lag = days_since_click_sql(ClickEvent.clicked_at, ConversionEvent.converted_at, dialect.name_of(db.session))
    candidates = (
        select(ConversionEvent.id, ConversionEvent.campaign_link_id)
        .join(ClickEvent, ClickEvent.tracking_id == ConversionEvent.tracking_id)
        .join(CampaignLink, CampaignLink.id == ConversionEvent.campaign_link_id)
        .where(_owned_by(user_id), lag > CampaignLink.attribution_window_days)
    )
    report.conversions_outside_window_removed = _delete_conversions_in_batches(candidates, report)


def _remove_conversions_past_retention(report: CleanupReport, user_id: int | None, now: datetime) -> None:
    creators = select(User.id, User.conversion_retention_days).where(User.conversion_retention_days.is_not(None))
    if user_id is not None:
        creators = creators.where(User.id == user_id)
    for creator_id, retention_days in db.session.execute(creators).all():
        candidates = (
            select(ConversionEvent.id, ConversionEvent.campaign_link_id)
            .join(CampaignLink, CampaignLink.id == ConversionEvent.campaign_link_id)
            .where(
                CampaignLink.user_id == creator_id,
                ConversionEvent.converted_at < now - timedelta(days=retention_days),
            )
        )
        report.conversions_past_retention_removed += _delete_conversions_in_batches(candidates, report)


def _clear_stale_idempotency_keys(report: CleanupReport, user_id: int | None, now: datetime) -> None:
    """event_id is cleared once `now >= clicked_at + window + 1 day + margin` (whole days, as the window rule)."""
    margin = current_app.config["IDEMPOTENCY_KEY_MARGIN_DAYS"]
    now_sql = literal(now, UTCDateTime())
    days_since = days_since_click_sql(ClickEvent.clicked_at, now_sql, dialect.name_of(db.session))
    candidates = (
        select(ConversionEvent.id)
        .join(ClickEvent, ClickEvent.tracking_id == ConversionEvent.tracking_id)
        .join(CampaignLink, CampaignLink.id == ConversionEvent.campaign_link_id)
        .where(
            _owned_by(user_id),
            ConversionEvent.event_id.is_not(None),
            days_since > CampaignLink.attribution_window_days + margin,
        )
        .limit(_batch_size())
    )
    while not report.out_of_time() and (ids := list(db.session.scalars(candidates))):
        db.session.execute(update(ConversionEvent).where(ConversionEvent.id.in_(ids)).values(event_id=None))
        db.session.commit()
        report.idempotency_keys_cleared += len(ids)
    db.session.commit()


def referrer_origin(referrer: str | None) -> str | None:
    """Only scheme://host[:port] of a referrer survives retention; anything unreadable is dropped."""
    if not referrer:
        return None
    try:
        parts = urlsplit(referrer)
        host = parts.hostname
        port = parts.port
    except ValueError:
        return None
    if not parts.scheme or not host:
        return None
    if ":" in host:  # IPv6
        host = f"[{host}]"
    return f"{parts.scheme.lower()}://{host}" + (f":{port}" if port else "")


def _still_personal():
    """A click that still carries personal data: anything but a bare origin as referrer counts."""
    referrer = ClickEvent.referrer
    return or_(
        ClickEvent.user_agent.is_not(None),
        ClickEvent.ip_hash.is_not(None),
        and_(
            referrer.is_not(None),
            or_(
                ~referrer.contains("://"),
                dialect.text_after(referrer, "://", dialect.name_of(db.session)).contains("/"),
                referrer.contains("?"),
                referrer.contains("#"),
                referrer.contains("@"),
            ),
        ),
    )


def _anonymise_old_clicks(report: CleanupReport, user_id: int | None, now: datetime) -> None:
    """Every creator's: resumes from the saved cursor, and saves it with each batch. One creator's
    (POST /api/conversions/cleanup): that creator's clicks that are still personal, from the first,
    without touching the cursor (it is the every-creator run's)."""
    cutoff = now - timedelta(days=current_app.config["CLICK_PII_RETENTION_DAYS"])
    if user_id is None:
        create_click_partitions(now)  # rows the default partition holds go to their months first
        cursor = db.session.get(CleanupCursor, ANONYMISATION_CURSOR)
        position = (cursor.clicked_at, cursor.click_id) if cursor is not None else (EARLIEST_CLICK, _NO_CLICK_ID)
    else:
        position = (EARLIEST_CLICK, _NO_CLICK_ID)
    db.session.commit()
    for segment in _segments_before(cutoff):
        if segment.upper <= position[0]:
            continue  # walked by an earlier run
        position = _anonymise_segment(report, user_id, segment, cutoff, position)
        if position is None:
            return


def _segments_before(cutoff: datetime) -> list[Partition]:
    """The ranges a walk takes one after the other: on PostgreSQL the partitions that hold clicks
    before `cutoff`, in clicked_at order; on SQLite the one table."""
    partitions = click_partitions(db.session.connection()) or [Partition(ClickEvent.__tablename__, None, LATEST_CLICK)]
    return [partition for partition in partitions if partition.lower is None or partition.lower < cutoff]


def _anonymise_segment(report: CleanupReport, user_id, segment: Partition, cutoff: datetime, position: tuple):
    """Walk one segment up to `cutoff` in (clicked_at, id) order from `position`, a batch per
    transaction; the position reached, or None when the run is out of time."""
    upper = min(segment.upper, cutoff)
    conditions = [ClickEvent.clicked_at < upper]
    if segment.lower is not None:
        conditions.append(ClickEvent.clicked_at >= segment.lower)
    personal = _still_personal()
    if user_id is None:
        columns = (ClickEvent.clicked_at, ClickEvent.id, ClickEvent.referrer, personal.label("personal"))
        candidates = select(*columns).where(*conditions)
    else:  # one creator's clicks, only those still personal (no cursor to keep)
        columns = (ClickEvent.clicked_at, ClickEvent.id, ClickEvent.referrer, literal(True).label("personal"))
        candidates = (
            select(*columns)
            .join(CampaignLink, CampaignLink.id == ClickEvent.campaign_link_id)
            .where(*conditions, _owned_by(user_id), personal)
        )
    while not report.out_of_time():
        rows = db.session.execute(
            candidates.where(
                ClickEvent.clicked_at >= position[0],  # lets PostgreSQL prune the partitions before it
                tuple_(ClickEvent.clicked_at, ClickEvent.id) > tuple_(*position),
            )
            .order_by(ClickEvent.clicked_at, ClickEvent.id)
            .limit(_batch_size())
        ).all()
        if not rows:
            db.session.commit()
            return position
        stripped = [
            {"at": at, "click_id": click_id, "origin": referrer_origin(referrer)}
            for at, click_id, referrer, still_personal in rows
            if still_personal
        ]
        if stripped:
            db.session.execute(_ANONYMISE, stripped)
        position = (rows[-1][0], rows[-1][1])
        if user_id is None:
            db.session.merge(CleanupCursor(name=ANONYMISATION_CURSOR, clicked_at=position[0], click_id=position[1]))
        db.session.commit()
        report.clicks_anonymised += len(stripped)
    return None


# By the primary key on PostgreSQL, (clicked_at, id), so the row is found in its partition.
_ANONYMISE = (
    update(ClickEvent.__table__)
    .where(ClickEvent.clicked_at == bindparam("at"), ClickEvent.id == bindparam("click_id"))
    .values(user_agent=None, ip_hash=None, referrer=bindparam("origin"))
)
