"""The data model of DESIGN.md §4: columns, relations and small query helpers only."""

import uuid
from datetime import date, datetime, timezone
from decimal import Decimal

from flask_login import UserMixin
from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    Uuid,
    func,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db

EVENT_TYPES = ("newsletter_signup", "course_enrollment", "purchase")
DEFAULT_ATTRIBUTION_WINDOW_DAYS = 30


# JSONB on PostgreSQL (indexable, compact), plain JSON text on SQLite.
JSONType = JSON().with_variant(JSONB(), "postgresql")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator):
    """A timestamp that is always timezone-aware UTC in Python.

    PostgreSQL keeps the zone; SQLite drops it, so values are normalised on the way in
    and marked UTC on the way out. Naive datetimes are refused rather than guessed at.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


class User(UserMixin, db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True, nullable=False)
    password_hash: Mapped[str] = mapped_column(String(255), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    # Days a valid conversion is kept; None keeps conversions for good (cleanup removes none of them).
    conversion_retention_days: Mapped[int | None] = mapped_column(Integer, nullable=True)

    api_keys: Mapped[list["ApiKey"]] = relationship(back_populates="user", cascade="all, delete-orphan")
    links: Mapped[list["CampaignLink"]] = relationship(back_populates="user", cascade="all, delete-orphan")

    @classmethod
    def by_email(cls, email: str) -> "User | None":
        return db.session.scalar(select(cls).where(cls.email == email.strip().lower()))


class ApiKey(db.Model):
    """A creator's API key. Only a SHA-256 hash is stored; the key itself is shown once."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    prefix: Mapped[str] = mapped_column(String(16), nullable=False)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    user: Mapped[User] = relationship(back_populates="api_keys")

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class CampaignLink(db.Model):
    """A short link for one video, pointing at the creator's landing page."""

    __tablename__ = "campaign_links"
    # /Promo and /promo would confuse viewers: unique ignoring case, decided by the database.
    __table_args__ = (Index("uq_campaign_links_short_code_lower", func.lower(text("short_code")), unique=True),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    short_code: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    video_id: Mapped[str] = mapped_column(String(11), nullable=False, index=True)
    video_url: Mapped[str] = mapped_column(Text, nullable=False)
    destination_url: Mapped[str] = mapped_column(Text, nullable=False)
    campaign: Mapped[str | None] = mapped_column(String(100), nullable=True)
    utm_source: Mapped[str | None] = mapped_column(String(100), nullable=True)
    utm_medium: Mapped[str | None] = mapped_column(String(100), nullable=True)
    utm_campaign: Mapped[str | None] = mapped_column(String(100), nullable=True)
    utm_content: Mapped[str | None] = mapped_column(String(100), nullable=True)
    utm_term: Mapped[str | None] = mapped_column(String(100), nullable=True)
    attribution_window_days: Mapped[int] = mapped_column(
        Integer, default=DEFAULT_ATTRIBUTION_WINDOW_DAYS, nullable=False
    )
    allowed_origins: Mapped[list[str]] = mapped_column(JSONType, default=list, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow, nullable=False)
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    user: Mapped[User] = relationship(back_populates="links")

    @classmethod
    def owned(cls, user_id: int, link_id) -> "CampaignLink | None":
        """The link if it belongs to user_id; None otherwise (callers answer 404, never 403)."""
        return db.session.scalar(select(cls).where(cls.id == link_id, cls.user_id == user_id))


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
        UniqueConstraint("tracking_id", "event_id", name="uq_conversion_events_tracking_event_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    # Looked up by tracking_id through the unique (tracking_id, event_id) index: no index of its own.
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


def _counter():
    """An aggregate count: starts at 0 in Python and in the database."""
    return mapped_column(Integer, default=0, server_default="0", nullable=False)


def _money_total():
    """An aggregate sum of money: wider than one conversion's Numeric(10, 2)."""
    return mapped_column(Numeric(14, 2), default=0, server_default="0", nullable=False)


class ReportCounters:
    """The counters every report total carries (days, months, creator days): clicks, then per event
    type its conversions, first-time visitors and revenue. Declared once, copied into each table."""

    clicks: Mapped[int] = _counter()
    unique_clicks: Mapped[int] = _counter()
    bot_clicks: Mapped[int] = _counter()
    newsletter_signup_count: Mapped[int] = _counter()
    newsletter_signup_visitors: Mapped[int] = _counter()
    newsletter_signup_revenue: Mapped[Decimal] = _money_total()
    course_enrollment_count: Mapped[int] = _counter()
    course_enrollment_visitors: Mapped[int] = _counter()
    course_enrollment_revenue: Mapped[Decimal] = _money_total()
    purchase_count: Mapped[int] = _counter()
    purchase_visitors: Mapped[int] = _counter()
    purchase_revenue: Mapped[Decimal] = _money_total()


class LinkDailyStats(ReportCounters, db.Model):
    """Per link and UTC day: counted clicks and conversions, kept up to date as they arrive.

    Reports read these instead of the raw events, so they stay fast however long a creator's
    history grows. Clicks count by click day, conversions by conversion day. `<type>_visitors`
    counts the tracking ids whose *first* conversion of that type fell on this day, so summing
    it over any range counts each visitor once (the funnel's distinct tracking ids).
    `recount_daily_stats()` (reports/aggregates.py) rebuilds rows from the raw events.
    """

    __tablename__ = "link_daily_stats"
    __table_args__ = (Index("ix_link_daily_stats_user_day", "user_id", "day"),)

    campaign_link_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("campaign_links.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False)


class LinkMonthlyStats(ReportCounters, db.Model):
    """LinkDailyStats summed per link and calendar month (`month` is its first day), kept in the
    same transactions as the daily rows and rebuilt with them.

    A range reads whole months here and only its partial months' days from LinkDailyStats
    (reports/queries.counter_rows), so two years cost about 24 rows per link instead of 730.
    """

    __tablename__ = "link_monthly_stats"
    __table_args__ = (Index("ix_link_monthly_stats_user_month", "user_id", "month"),)

    campaign_link_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("campaign_links.id", ondelete="CASCADE"), primary_key=True
    )
    month: Mapped[date] = mapped_column(Date, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False)


class UserDailyStats(ReportCounters, db.Model):
    """LinkDailyStats summed per creator and day, kept in the same transactions and rebuilt with them.

    The dashboard's chart draws one row per day from here, however many links the creator has.
    """

    __tablename__ = "user_daily_stats"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)


class LinkDailyLag(db.Model):
    """Per link, UTC conversion day and whole days since the click: how many conversions.

    The days-to-convert distribution (attribution window utilization), and the average and
    median days to convert, for any date range without reading the raw conversions.
    """

    __tablename__ = "link_daily_lags"
    __table_args__ = (Index("ix_link_daily_lags_user_day", "user_id", "day"),)

    campaign_link_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("campaign_links.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    days_since_click: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    conversions: Mapped[int] = _counter()


class LinkDailyBreakdown(db.Model):
    """Per link, UTC click day, dimension and value: how many counted clicks (bots left out).

    The link page's referrers, devices, browsers and operating systems for any date range without
    reading the raw clicks. `dimension` is 'referrer' (the referring site's host only, lower case:
    the page a viewer came from stays private), 'device', 'browser' or 'os'; `value` is '' when
    the click had none. Kept up to date by `count_clicks`, rebuilt by `recount_daily_stats()`.
    """

    __tablename__ = "link_daily_breakdowns"

    campaign_link_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("campaign_links.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    dimension: Mapped[str] = mapped_column(String(16), primary_key=True)
    value: Mapped[str] = mapped_column(String(255), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    clicks: Mapped[int] = _counter()


class PendingJob(db.Model):
    """A job kept in the database until it can run: enqueued while Redis was down, or due later
    with no Redis to schedule it (linktrack.jobs.run_due_jobs runs or re-enqueues it)."""

    __tablename__ = "pending_jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_name: Mapped[str] = mapped_column(String(100), nullable=False)
    args: Mapped[list] = mapped_column(JSONType, default=list, nullable=False)
    run_after: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)


class UncountedConversion(db.Model):
    """A stored conversion whose report counts are not added yet: written in the conversion's own
    transaction, deleted by the batch that adds its counts (reports/aggregates.count_conversions).

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
