"""Clicks, conversions, and the clicks and conversions whose report counts are still to be added."""

import uuid
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, Numeric, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .base import JSONType, UTCDateTime, utcnow


class ClickEvent(db.Model):
    """One viewer click on a short link. Raw IPs are never stored, only a keyed daily hash."""

    __tablename__ = "click_events"
    __table_args__ = (
        Index("ix_click_events_link_clicked_at", "campaign_link_id", "clicked_at"),
        # The redirect's unique-visitor check: this visitor's clicks on this link in the last hour.
        Index("ix_click_events_link_visitor", "campaign_link_id", "ip_hash", "clicked_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    campaign_link_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("campaign_links.id", ondelete="CASCADE"), nullable=False
    )
    tracking_id: Mapped[uuid.UUID] = mapped_column(Uuid, unique=True, nullable=False, default=uuid.uuid4)
    ip_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    user_agent: Mapped[str | None] = mapped_column(Text, nullable=True)
    referrer: Mapped[str | None] = mapped_column(Text, nullable=True)
    device_type: Mapped[str | None] = mapped_column(String(20), nullable=True)
    browser: Mapped[str | None] = mapped_column(String(50), nullable=True)
    os: Mapped[str | None] = mapped_column(String(50), nullable=True)
    is_bot: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    is_unique: Mapped[bool] = mapped_column(Boolean, default=True, nullable=False)
    clicked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)


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
    converted_on: Mapped[date] = mapped_column(Date, nullable=False)
    days_since_click: Mapped[int] = mapped_column(Integer, nullable=False)
    first_of_type: Mapped[bool] = mapped_column(Boolean, nullable=False)
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
