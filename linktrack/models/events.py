"""Clicks, conversions, and the clicks and conversions whose report counts are still to be added."""

import uuid
from datetime import datetime, timedelta, timezone
from decimal import Decimal

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    and_,
    select,
)
from sqlalchemy.orm import Mapped, mapped_column
from uuid_utils.compat import uuid7

from ..extensions import db
from .base import JSONType, UTCDateTime, utcnow

# A time-ordered id's clock may differ from its click's clicked_at by this much: both are taken from
# one reading when a click is made (time_ordered_id); the margin only widens the partitions searched.
TRACKING_ID_CLOCK_MARGIN = timedelta(minutes=5)
_UUID7_VERSION = 7
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MICROSECOND = timedelta(microseconds=1)
# Later than this, a UUIDv7's time is made up (it leaves room for the margin below the year 9999).
_LAST_EMBEDDED_MILLISECONDS = (datetime(9000, 1, 1, tzinfo=timezone.utc) - _EPOCH) // timedelta(milliseconds=1)


def time_ordered_id(at: datetime) -> uuid.UUID:
    """A UUIDv7 whose embedded time (Unix milliseconds) is `at`, not the host's clock: a click's
    id and tracking id name its clicked_at, so a lookup by tracking id can bound clicked_at and
    PostgreSQL searches one monthly partition (tracked_click). Random in its other 74 bits."""
    return uuid7(nanoseconds=(at - _EPOCH) // _MICROSECOND * 1000)  # integers: no float rounding


def embedded_time(value: uuid.UUID) -> datetime | None:
    """The time a UUIDv7 names (to the millisecond), or None for any other version (the UUIDv4 ids
    of clicks made before migration 0015, or a made-up id)."""
    if value.version != _UUID7_VERSION:
        return None
    milliseconds = value.int >> 80  # 48 bits: up to the year 10889, past what datetime holds
    if milliseconds >= _LAST_EMBEDDED_MILLISECONDS:
        return None  # a made-up id: looked up like a UUIDv4
    return _EPOCH + timedelta(milliseconds=milliseconds)


class ClickEvent(db.Model):
    """One viewer click on a short link. Raw IPs are never stored, only a keyed daily hash.

    On PostgreSQL the table is partitioned by month of clicked_at (migration 0015, tracking/
    partitions.py): its primary key is (clicked_at, id) and tracking ids are unique with their
    clicked_at, which a UUIDv7 tracking id carries. This model states SQLite's one table.
    """

    __tablename__ = "click_events"
    __table_args__ = (
        Index("ix_click_events_link_clicked_at", "campaign_link_id", "clicked_at"),
        # The redirect's unique-visitor check: this visitor's clicks on this link in the last hour.
        Index("ix_click_events_link_visitor", "campaign_link_id", "ip_hash", "clicked_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    campaign_link_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("campaign_links.id", ondelete="CASCADE"), nullable=False
    )
    tracking_id: Mapped[uuid.UUID] = mapped_column(Uuid, unique=True, nullable=False)
    ip_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    user_agent: Mapped[str | None] = mapped_column(Text, nullable=True)
    referrer: Mapped[str | None] = mapped_column(Text, nullable=True)
    device_type: Mapped[str | None] = mapped_column(String(20), nullable=True)
    browser: Mapped[str | None] = mapped_column(String(50), nullable=True)
    os: Mapped[str | None] = mapped_column(String(50), nullable=True)
    is_bot: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    is_unique: Mapped[bool] = mapped_column(Boolean, default=True, nullable=False)
    clicked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    # A click filed as a bot and counted as a person after all (counting/converted.py): why
    # (BOT_CLEARED_CONVERTED: its visitor converted) and when. NULL for every other click.
    bot_cleared_reason: Mapped[str | None] = mapped_column(String(16), nullable=True)
    bot_cleared_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    def __init__(self, **fields):
        """Ids default to UUIDv7s of the click's own time, so a click made for a test or an import
        in the past is found by its tracking id like one made by the redirect."""
        fields.setdefault("clicked_at", utcnow())
        fields.setdefault("id", time_ordered_id(fields["clicked_at"]))
        fields.setdefault("tracking_id", time_ordered_id(fields["clicked_at"]))
        super().__init__(**fields)

    @classmethod
    def with_tracking_id(cls, tracking_id: uuid.UUID):
        """The SQL condition for the click of `tracking_id`: for a UUIDv7 with clicked_at bounded
        too (tracking_time_bounds), so PostgreSQL searches one month's partition; any other id is
        looked up in every partition."""
        if embedded_time(tracking_id) is None:
            return cls.tracking_id == tracking_id
        return cls.with_tracking_id_between(tracking_id, *tracking_time_bounds(tracking_id))

    @classmethod
    def with_tracking_id_between(cls, tracking_id, since, until):
        """with_tracking_id for a statement built once: the bounds are parameters (PostgreSQL prunes
        partitions when it runs the statement), given by tracking_time_bounds."""
        return and_(cls.tracking_id == tracking_id, cls.clicked_at >= since, cls.clicked_at <= until)


BOT_CLEARED_CONVERTED = "converted"
# A person's click counts as unique unless the same visitor clicked the same link this long before.
UNIQUE_WINDOW = timedelta(hours=1)


def seen_in_window(clicks, link_id, ip_hash, user_agent, since, until=None):
    """The condition "this visitor (ip hash and user agent) clicked this link as a person after
    `since` (and before `until`)": without one within UNIQUE_WINDOW before it, a click is unique.
    The one rule for the redirect's INSERT (no `until`: nothing later is stored yet) and for a bot
    click counted as a person later (counting/converted.py). A NULL ip hash or agent matches nothing."""
    conditions = [
        clicks.c.campaign_link_id == link_id,
        clicks.c.ip_hash == ip_hash,
        clicks.c.user_agent == user_agent,
        clicks.c.clicked_at > since,
        ~clicks.c.is_bot,
    ]
    if until is not None:
        conditions.append(clicks.c.clicked_at < until)
    return select(clicks.c.id).where(*conditions).exists()


def tracking_time_bounds(tracking_id: uuid.UUID) -> tuple[datetime, datetime]:
    """Where the click of `tracking_id` lies in clicked_at: within TRACKING_ID_CLOCK_MARGIN of a
    UUIDv7's time; anywhere for an older UUIDv4 (no pruning: every partition's index is asked)."""
    at = embedded_time(tracking_id)
    if at is None:
        return EARLIEST_CLICK, LATEST_CLICK
    return at - TRACKING_ID_CLOCK_MARGIN, at + TRACKING_ID_CLOCK_MARGIN


EARLIEST_CLICK = _EPOCH
LATEST_CLICK = datetime(9999, 1, 1, tzinfo=timezone.utc)


class CleanupCursor(db.Model):
    """How far a cleanup walk in (clicked_at, id) order has got (tracking/cleanup.py): clicks at or
    before it are done, so a run stopped by its time budget (or killed) resumes there, and no run
    walks the clicks a run before it finished."""

    __tablename__ = "cleanup_cursors"

    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    clicked_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    click_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow, nullable=False)


class ConversionEvent(db.Model):
    """A signup, enrollment or purchase attributed to one click."""

    __tablename__ = "conversion_events"
    __table_args__ = (
        Index("ix_conversion_events_link_converted_at", "campaign_link_id", "converted_at"),
        # An event_id is an idempotency key of its source: a browser cannot claim (or read back) the
        # id the creator's server sends with its API key (migration 0012).
        UniqueConstraint("tracking_id", "source", "event_id", name="uq_conversion_events_tracking_source_event_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    # Looked up by tracking_id through the unique (tracking_id, source, event_id) index: no index of its own.
    tracking_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)
    campaign_link_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("campaign_links.id", ondelete="CASCADE"), nullable=False
    )
    event_type: Mapped[str] = mapped_column(String(32), nullable=False)
    revenue_amount: Mapped[Decimal | None] = mapped_column(Numeric(10, 2), nullable=True)
    currency: Mapped[str] = mapped_column(String(3), default="USD", nullable=False)
    event_data: Mapped[dict | None] = mapped_column(JSONType, nullable=True)
    event_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    source: Mapped[str] = mapped_column(String(10), default="browser", nullable=False)
    converted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)


class UncountedConversion(db.Model):
    """A stored conversion whose report counts are not added yet: written in the conversion's own
    transaction, deleted by the counting run that adds its counts (counting/counters.count_uncounted).

    Why a table: the counts of a link's day are one row every conversion of that day updates, so
    counting inside each request queued every conversion of a busy link behind the others' commits
    (bench/conversions.py). Kept here until counted, the counts cannot be lost or added twice,
    whatever happens to the process that recorded the conversion.
    """

    __tablename__ = "uncounted_conversions"

    conversion_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("conversion_events.id", ondelete="CASCADE"), primary_key=True
    )
    campaign_link_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)
    user_id: Mapped[int] = mapped_column(Integer, nullable=False)
    event_type: Mapped[str] = mapped_column(String(32), nullable=False)
    revenue_amount: Mapped[Decimal | None] = mapped_column(Numeric(10, 2), nullable=True)
    currency: Mapped[str] = mapped_column(String(3), default="USD", server_default="USD", nullable=False)
    days_since_click: Mapped[int] = mapped_column(Integer, nullable=False)
    first_of_type: Mapped[bool] = mapped_column(Boolean, nullable=False)
    # The conversion's converted_at: the counting run takes its day in the creator's zone then.
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)


class UncountedClick(db.Model):
    """A stored click whose report counts are not added yet: written by the click batch that stores
    the click (counting/counters.hold_clicks), deleted by the counting run that adds its counts
    (counting/counters.count_uncounted), one run at a time across every process and host
    (counting/consumer.py).

    It copies what the counts need (link, time, bot and unique flags, the breakdown columns), so
    counting never reads click_events, the biggest table: a run costs the same however many clicks
    are stored. It has no foreign key to click_events on purpose: that table is partitioned by
    month on PostgreSQL (its key is (id, clicked_at)), and a key there would make every click batch
    look its rows up again. `click_id` and `clicked_at` still name the click. A row lives about a
    second; a link deleted meanwhile leaves rows the next run deletes without counting them.
    """

    __tablename__ = "uncounted_clicks"

    click_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    campaign_link_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)
    clicked_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    is_bot: Mapped[bool] = mapped_column(Boolean, nullable=False)
    is_unique: Mapped[bool] = mapped_column(Boolean, nullable=False)
    referrer: Mapped[str | None] = mapped_column(Text, nullable=True)
    device_type: Mapped[str | None] = mapped_column(String(20), nullable=True)
    browser: Mapped[str | None] = mapped_column(String(50), nullable=True)
    os: Mapped[str | None] = mapped_column(String(50), nullable=True)
