"""The report aggregates: per link and day, month, creator day, conversion lag and click breakdown.

Written only by linktrack.counting; read by linktrack.reports."""

import uuid
from datetime import date
from decimal import Decimal

from sqlalchemy import Date, Float, ForeignKey, Index, Integer, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db


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
    """Per link and day (the creator's, in users.time_zone): counted clicks and conversions, kept current.

    Reports read these instead of the raw events, so they stay fast however long a creator's
    history grows. Clicks count by click day, conversions by conversion day. `<type>_visitors`
    counts the tracking ids whose *first* conversion of that type fell on this day, so summing
    it over any range counts each visitor once (the funnel's distinct tracking ids).
    `recount_daily_stats()` (counting/recount.py) rebuilds rows from the raw events.
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
    """Per link, conversion day (the creator's) and whole days since the click: how many conversions.

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


class LinkDailyRevenue(db.Model):
    """Per link, day (the day its LinkDailyStats row counts the conversion on), event type and
    currency: how many conversions with revenue, and their revenue.

    Why: `<type>_revenue` of the daily rows adds every currency into one number, which no page
    may show; reports read each currency's amounts here and show them side by side (main currency
    first), never added up. Only conversions with an amount have a row, so a creator has a few
    per day at most: ranges read the days (no monthly rollup). Kept by the counting consumer in
    the transactions that write the daily rows, rebuilt by `recount_daily_stats()`.
    """

    __tablename__ = "link_daily_revenue"
    __table_args__ = (Index("ix_link_daily_revenue_user_day", "user_id", "day"),)

    campaign_link_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("campaign_links.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    event_type: Mapped[str] = mapped_column(String(32), primary_key=True)
    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    conversions: Mapped[int] = _counter()
    revenue: Mapped[Decimal] = _money_total()


class LinkDailyBreakdown(db.Model):
    """Per link, click day (the creator's), dimension and value: how many counted clicks (bots left out).

    The link page's referrers, devices, browsers and operating systems for any date range without
    reading the raw clicks. `dimension` is 'referrer' (the referring site's host only, lower case:
    the page a viewer came from stays private), 'device', 'browser' or 'os'; `value` is '' when
    the click had none. Kept up to date by the counting consumer, rebuilt by `recount_daily_stats()`.
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


class CountingRun(db.Model):
    """When the counting consumer last ran (counting/consumer.py): one row per consumer, read and
    written inside the run's own transaction, under its lock, so runs are at most
    CLICK_COUNT_SECONDS apart across every process and host, not per process.

    `counted_at` is seconds since 1970 by the database's clock (dialect.epoch_now), so the hosts'
    own clocks do not matter.
    """

    __tablename__ = "counting_runs"

    consumer: Mapped[str] = mapped_column(String(32), primary_key=True)
    counted_at: Mapped[float] = mapped_column(Float, nullable=False)
