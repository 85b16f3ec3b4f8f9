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
"""

import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from flask import current_app
from sqlalchemy import and_, delete, literal, or_, select, update

from .. import dialect
from ..counting.recount import recount_daily_stats
from ..extensions import db, maintenance_session
from ..models import CampaignLink, ClickEvent, ConversionEvent, User, UTCDateTime, utcnow
from .rules import days_since_click_sql


@dataclass
class CleanupReport:
    conversions_outside_window_removed: int = 0
    conversions_past_retention_removed: int = 0
    idempotency_keys_cleared: int = 0
    clicks_anonymised: int = 0
    links_recounted: int = 0
    touched_links: set = field(default_factory=set, repr=False)

    def as_dict(self) -> dict:
        counts = asdict(self)
        counts.pop("touched_links")
        return counts


@maintenance_session()  # long batched work off the transaction pooler, beside the recount it ends with
def run_cleanup(user_id: int | None = None, now: datetime | None = None) -> CleanupReport:
    """Clean `user_id`'s data (every creator's when None) and answer what changed."""
    now = now or utcnow()
    report = CleanupReport()
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
    while True:
        rows = db.session.execute(candidates.limit(_batch_size())).all()
        if not rows:
            db.session.commit()
            return removed
        ids = [row[0] for row in rows]
        db.session.execute(delete(ConversionEvent).where(ConversionEvent.id.in_(ids)))
        db.session.commit()
        report.touched_links.update(row[1] for row in rows)
        removed += len(ids)


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
    while ids := list(db.session.scalars(candidates)):
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
    cutoff = now - timedelta(days=current_app.config["CLICK_PII_RETENTION_DAYS"])
    last_id: uuid.UUID | None = None
    while True:
        # Keyset pagination by id: each run ends even if a referrer cannot be cut any shorter.
        candidates = (
            select(ClickEvent.id, ClickEvent.referrer)
            .join(CampaignLink, CampaignLink.id == ClickEvent.campaign_link_id)
            .where(_owned_by(user_id), ClickEvent.clicked_at < cutoff, _still_personal())
            .order_by(ClickEvent.id)
            .limit(_batch_size())
        )
        if last_id is not None:
            candidates = candidates.where(ClickEvent.id > last_id)
        rows = db.session.execute(candidates).all()
        if not rows:
            db.session.commit()
            return
        db.session.execute(
            update(ClickEvent),
            [
                {"id": click_id, "user_agent": None, "ip_hash": None, "referrer": referrer_origin(referrer)}
                for click_id, referrer in rows
            ],
        )
        db.session.commit()
        report.clicks_anonymised += len(rows)
        last_id = rows[-1][0]
