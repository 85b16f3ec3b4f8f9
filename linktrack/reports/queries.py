"""Report queries: every figure a report page, CSV export or JSON endpoint shows.

Totals, series, funnels, rankings and a link's referrers and devices read the aggregates
(LinkDailyStats, LinkMonthlyStats, LinkDailyLag, LinkDailyBreakdown), never the raw events, so a
report costs the same on a creator's first month as on their fifth year. Sums over a range read
whole months from LinkMonthlyStats and only the partial months at its edges day by day
(`counter_rows`): at most ~60 rows per link for any range. Only one link's last 20 conversions
read raw rows, through the (campaign_link_id, converted_at) index.

Every query is scoped to one creator (user_id) or to one link the caller already owns.
Days are UTC calendar days, both ends of a range included.
"""

import re
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import Float, Select, and_, cast, func, or_, select, union_all

from ..extensions import db
from ..models import (
    EVENT_TYPES,
    CampaignLink,
    ClickEvent,
    ConversionEvent,
    LinkDailyBreakdown,
    LinkDailyLag,
    LinkDailyStats,
    LinkMonthlyStats,
    UserDailyStats,
    utcnow,
)
from ..web.formatting import CENT, money

S = LinkDailyStats

TYPE_LABELS = {
    "newsletter_signup": "Newsletter signups",
    "course_enrollment": "Course enrollments",
    "purchase": "Purchases",
}
TYPE_LABEL_ONE = {
    "newsletter_signup": "Newsletter signup",
    "course_enrollment": "Course enrollment",
    "purchase": "Purchase",
}
STAGE_LABELS = {"clicks": "Clicks", **TYPE_LABELS}

# ---- date ranges -----------------------------------------------------------------------------

PRESETS = {
    "7d": "Last 7 days",
    "30d": "Last 30 days",
    "90d": "Last 90 days",
    "month": "This month",
    "all": "All time",
}
PRESET_DAYS = {"7d": 7, "30d": 30, "90d": 90}
DEFAULT_PRESET = "30d"
EARLIEST_DATE = date(2000, 1, 1)
LATEST_DATE = date(2099, 12, 31)
MAX_RANGE_DAYS = 3660  # ten years: bounds the zero-filled series a page draws
ISO_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")


class RangeInvalid(ValueError):
    """A date range the creator typed that cannot be used; `field` is the parameter at fault."""

    def __init__(self, field: str, message: str, code: str = "invalid_date"):
        super().__init__(message)
        self.field = field
        self.message = message
        self.code = code  # invalid_date (a date), invalid_range (the pair, or an unknown preset)


@dataclass(frozen=True)
class DateRange:
    """Whole UTC days from `start` to `end`, both included. `preset` names a preset, None if typed."""

    start: date
    end: date
    preset: str | None = None

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def start_at(self) -> datetime:
        """The first instant of the range (00:00:00 UTC on `start`)."""
        return datetime.combine(self.start, time.min, tzinfo=timezone.utc)

    @property
    def end_before(self) -> datetime:
        """The first instant after the range (00:00:00 UTC the day after `end`)."""
        return datetime.combine(self.end + timedelta(days=1), time.min, tzinfo=timezone.utc)

    @property
    def label(self) -> str:
        return PRESETS[self.preset] if self.preset else "Custom range"

    @property
    def span(self) -> str:
        """'1 Mar – 30 Mar 2026', what a reader scans for."""
        if self.start == self.end:
            return _long_date(self.start)
        first = f"{self.start.day} {self.start:%b}" + (
            "" if self.start.year == self.end.year else f" {self.start.year}"
        )
        return f"{first} – {_long_date(self.end)}"

    def args(self) -> dict[str, str]:
        """Query-string arguments that select this range again."""
        if self.preset:
            return {"range": self.preset}
        return {"from": self.start.isoformat(), "to": self.end.isoformat()}

    def each_day(self) -> Iterator[date]:
        for offset in range(self.days):
            yield self.start + timedelta(days=offset)


def _long_date(day: date) -> str:
    return f"{day.day} {day:%b %Y}"


def today_utc() -> date:
    return utcnow().date()


def default_range(today: date | None = None) -> DateRange:
    today = today or today_utc()
    return DateRange(today - timedelta(days=PRESET_DAYS[DEFAULT_PRESET] - 1), today, DEFAULT_PRESET)


def _parse_day(args: Mapping[str, str], name: str) -> date | None:
    raw = (args.get(name) or "").strip()
    if not raw:
        return None
    example = "for example 2026-03-01"
    if not ISO_DATE.match(raw):
        raise RangeInvalid(name, f"Enter the date as YYYY-MM-DD, {example}.")
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        raise RangeInvalid(name, f"{raw} is not a date on the calendar.") from None
    if not EARLIEST_DATE <= day <= LATEST_DATE:
        raise RangeInvalid(name, f"Choose a date between {EARLIEST_DATE.year} and {LATEST_DATE.year}.")
    return day


def parse_date_range(
    args: Mapping[str, str], *, today: date | None = None, first_day: Callable[[], date | None] | None = None
) -> DateRange:
    """The range a page or endpoint was asked for: `from`/`to` (YYYY-MM-DD, UTC, inclusive) win over
    a `range` preset; neither means the last 30 days. Raises RangeInvalid naming the bad parameter.

    `first_day` is asked only for "all time": the creator's first day with data (None: today).
    A lone `from` runs to today; a lone `to` starts 29 days before it.
    """
    today = today or today_utc()
    start, end = _parse_day(args, "from"), _parse_day(args, "to")
    if start or end:
        if start is None:
            start = end - timedelta(days=PRESET_DAYS[DEFAULT_PRESET] - 1)
        if end is None:
            end = max(today, start)
        if start > end:
            raise RangeInvalid("to", "The end date must be on or after the start date.", "invalid_range")
        if (end - start).days + 1 > MAX_RANGE_DAYS:
            raise RangeInvalid("from", "A range can span at most ten years.", "invalid_range")
        return DateRange(start, end)

    preset = (args.get("range") or DEFAULT_PRESET).strip()
    if preset not in PRESETS:
        raise RangeInvalid("range", f"Choose one of: {', '.join(PRESETS)}.", "invalid_range")
    if preset in PRESET_DAYS:
        return DateRange(today - timedelta(days=PRESET_DAYS[preset] - 1), today, preset)
    if preset == "month":
        return DateRange(today.replace(day=1), today, preset)
    first = (first_day() if first_day else None) or today
    return DateRange(max(min(first, today), today - timedelta(days=MAX_RANGE_DAYS - 1)), today, preset)


def first_day_with_data(user_id: int) -> date | None:
    """The creator's earliest aggregate day, for "all time" (the (user_id, day) index answers it)."""
    return db.session.scalar(select(func.min(S.day)).where(S.user_id == user_id))


def first_day_of_link(link_id: uuid.UUID) -> date | None:
    return db.session.scalar(select(func.min(S.day)).where(S.campaign_link_id == link_id))


# ---- summed aggregate counters ----------------------------------------------------------------

COUNTER_NAMES = ["clicks", "unique_clicks", "bot_clicks"] + [
    f"{event_type}_{suffix}" for event_type in EVENT_TYPES for suffix in ("count", "visitors", "revenue")
]


def split_range(start: date, end: date) -> tuple[list[tuple[date, date]], tuple[date, date] | None]:
    """[start, end] as the day spans of its partial months at either edge, and the first days of
    the first and last whole months in between (None when no month is whole)."""
    first_whole = start if start.day == 1 else (start.replace(day=28) + timedelta(days=4)).replace(day=1)
    after_whole = (end + timedelta(days=1)).replace(day=1)  # whole months end before this day
    if first_whole >= after_whole:
        return [(start, end)], None
    days = []
    if start < first_whole:
        days.append((start, first_whole - timedelta(days=1)))
    if after_whole <= end:
        days.append((after_whole, end))
    last_whole = (after_whole - timedelta(days=1)).replace(day=1)
    return days, (first_whole, last_whole)


def counter_rows(date_range: DateRange, *, user_id: int | None = None, link_id: uuid.UUID | None = None):
    """The aggregate rows whose counters add up to `date_range` for a creator or one link: monthly
    rows for whole months, daily rows for the rest. A subquery with campaign_link_id, user_id and
    every counter; every figure summed over a range reads it (the conditions sit in each branch,
    on the (user_id, day|month) index or the (campaign_link_id, day|month) key)."""
    day_spans, months = split_range(date_range.start, date_range.end)

    def rows(table, column, spans):
        conditions = [or_(*[and_(column >= first, column <= last) for first, last in spans])]
        if user_id is not None:
            conditions.append(table.user_id == user_id)
        if link_id is not None:
            conditions.append(table.campaign_link_id == link_id)
        names = ["campaign_link_id", "user_id", *COUNTER_NAMES]
        return select(*[getattr(table, name) for name in names]).where(*conditions)

    parts = [rows(S, S.day, day_spans)] if day_spans else []
    if months:
        parts.append(rows(LinkMonthlyStats, LinkMonthlyStats.month, [months]))
    return (union_all(*parts) if len(parts) > 1 else parts[0]).subquery("counters")


def _sums(rows) -> dict[str, Any]:
    """SUM(...) of every counter of `rows` (a counter_rows subquery), 0 when no row matches."""
    return {name: func.coalesce(func.sum(rows.c[name]), 0) for name in COUNTER_NAMES}


def _decimal(value) -> Decimal:
    """A money sum as Decimal cents (SQLite hands back floats)."""
    return Decimal(str(value or 0)).quantize(CENT)


def ratio(numerator, denominator) -> float | None:
    """numerator / denominator, or None when there is nothing to divide by."""
    return numerator / denominator if denominator else None


@dataclass(frozen=True)
class FunnelStage:
    stage: str  # "clicks" or an event type
    count: int
    rate: float | None  # count / the previous stage's count; None for clicks or after an empty stage
    overall: float | None  # count / clicks

    @property
    def label(self) -> str:
        return STAGE_LABELS[self.stage]


@dataclass
class Figures:
    """Aggregate counters summed over some links and days.

    `counts` are conversions; `visitors` are distinct tracking ids converting for the first time
    with that type in the range (the funnel's stages); `revenue` is per type.
    """

    clicks: int = 0
    unique_clicks: int = 0
    bot_clicks: int = 0
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(EVENT_TYPES, 0))
    visitors: dict[str, int] = field(default_factory=lambda: dict.fromkeys(EVENT_TYPES, 0))
    revenue_by_type: dict[str, Decimal] = field(default_factory=lambda: dict.fromkeys(EVENT_TYPES, Decimal("0.00")))

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> "Figures":
        return cls(
            clicks=int(row["clicks"]),
            unique_clicks=int(row["unique_clicks"]),
            bot_clicks=int(row["bot_clicks"]),
            counts={t: int(row[f"{t}_count"]) for t in EVENT_TYPES},
            visitors={t: int(row[f"{t}_visitors"]) for t in EVENT_TYPES},
            revenue_by_type={t: _decimal(row[f"{t}_revenue"]) for t in EVENT_TYPES},
        )

    @property
    def conversions(self) -> int:
        return sum(self.counts.values())

    @property
    def revenue(self) -> Decimal:
        return sum(self.revenue_by_type.values(), Decimal("0.00"))

    @property
    def conversion_rate(self) -> float | None:
        """Conversions of every type per counted click (like ad platforms; can pass 100%)."""
        return ratio(self.conversions, self.clicks)

    @property
    def revenue_per_click(self) -> Decimal | None:
        return (self.revenue / self.clicks).quantize(CENT, rounding=ROUND_HALF_UP) if self.clicks else None

    @property
    def requests(self) -> int:
        """Every stored click, bots included: what the bot share is a share of."""
        return self.clicks + self.bot_clicks

    @property
    def bot_share(self) -> float | None:
        return ratio(self.bot_clicks, self.requests)

    @property
    def is_empty(self) -> bool:
        return not (self.requests or self.conversions)

    def __add__(self, other: "Figures") -> "Figures":
        return Figures(
            clicks=self.clicks + other.clicks,
            unique_clicks=self.unique_clicks + other.unique_clicks,
            bot_clicks=self.bot_clicks + other.bot_clicks,
            counts={t: self.counts[t] + other.counts[t] for t in EVENT_TYPES},
            visitors={t: self.visitors[t] + other.visitors[t] for t in EVENT_TYPES},
            revenue_by_type={t: self.revenue_by_type[t] + other.revenue_by_type[t] for t in EVENT_TYPES},
        )

    def funnel(self) -> list[FunnelStage]:
        """Clicks → signups → enrollments → purchases; each rate is a stage over the one before."""
        stages = [FunnelStage("clicks", self.clicks, None, 1.0 if self.clicks else None)]
        for event_type in EVENT_TYPES:
            count = self.visitors[event_type]
            stages.append(FunnelStage(event_type, count, ratio(count, stages[-1].count), ratio(count, self.clicks)))
        return stages


def _figures(rows, *conditions) -> Figures:
    """Every counter of `rows` (a counter_rows subquery) summed, where `conditions` hold."""
    row = db.session.execute(select(*[expr.label(name) for name, expr in _sums(rows).items()]).where(*conditions)).one()
    return Figures.from_row(row._mapping)


# ---- the series a chart draws -----------------------------------------------------------------


@dataclass
class SeriesPoint:
    """One bar of a chart: a day, or a week or month on long ranges (`start` to `end`, inclusive)."""

    start: date
    end: date
    clicks: int = 0
    conversions: int = 0
    revenue: Decimal = Decimal("0.00")

    @property
    def label(self) -> str:
        if self.start == self.end:
            return _long_date(self.start)
        return f"{self.start.day} {self.start:%b} – {_long_date(self.end)}"


def granularity(date_range: DateRange) -> str:
    """Days up to a quarter, weeks up to two years, months beyond: a chart stays under ~110 bars."""
    if date_range.days <= 92:
        return "day"
    return "week" if date_range.days <= 731 else "month"


def _bucket_start(day: date, unit: str) -> date:
    if unit == "week":
        return day - timedelta(days=day.weekday())
    if unit == "month":
        return day.replace(day=1)
    return day


def _series(date_range: DateRange, table, *conditions) -> list[SeriesPoint]:
    """Clicks, conversions and revenue per bucket, every bucket present (zero-filled), from the
    daily rows of `table` (LinkDailyStats for a link, UserDailyStats for a creator) where `conditions` hold."""
    conversions = sum(
        (getattr(table, f"{t}_count") for t in EVENT_TYPES[1:]), getattr(table, f"{EVENT_TYPES[0]}_count")
    )
    revenue = sum(
        (getattr(table, f"{t}_revenue") for t in EVENT_TYPES[1:]), getattr(table, f"{EVENT_TYPES[0]}_revenue")
    )
    rows = db.session.execute(
        select(table.day, func.sum(table.clicks), func.sum(conversions), func.sum(revenue))
        .where(table.day >= date_range.start, table.day <= date_range.end, *conditions)
        .group_by(table.day)
    )
    unit = granularity(date_range)
    points: dict[date, SeriesPoint] = {}
    for day in date_range.each_day():
        key = max(_bucket_start(day, unit), date_range.start)
        point = points.setdefault(key, SeriesPoint(key, day))
        point.end = day
    for day, clicks, count, amount in rows:
        point = points[max(_bucket_start(day, unit), date_range.start)]
        point.clicks += int(clicks or 0)
        point.conversions += int(count or 0)
        point.revenue += _decimal(amount)
    return list(points.values())


# ---- days to convert --------------------------------------------------------------------------


@dataclass
class LagDistribution:
    """Conversions by whole days between click and conversion, for conversions in a range."""

    counts: dict[int, int]
    window_days: int | None = None

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def average(self) -> float | None:
        return ratio(sum(days * n for days, n in self.counts.items()), self.total)

    @property
    def median(self) -> float | None:
        """The middle conversion's days (the mean of the two middle ones for an even count)."""
        total = self.total
        if not total:
            return None
        wanted = [(total - 1) // 2, total // 2]
        found, seen = [], 0
        for days in sorted(self.counts):
            seen += self.counts[days]
            while wanted and wanted[0] < seen:
                found.append(days)
                wanted.pop(0)
        return sum(found) / 2

    def buckets(self) -> list[tuple[int, int]]:
        """(days since click, conversions) for every day from 0 to the window's last, zero-filled."""
        last = max([self.window_days or 0, *self.counts])
        return [(days, self.counts.get(days, 0)) for days in range(last + 1)]

    def within(self, days: int) -> float | None:
        """Share of conversions that came within `days` days of their click."""
        return ratio(sum(n for d, n in self.counts.items() if d <= days), self.total)


def _lags(*conditions, window_days: int | None = None) -> LagDistribution:
    rows = db.session.execute(
        select(LinkDailyLag.days_since_click, func.sum(LinkDailyLag.conversions))
        .where(*conditions)
        .group_by(LinkDailyLag.days_since_click)
    )
    return LagDistribution({int(days): int(n) for days, n in rows if n}, window_days)


# ---- rankings and the funnel / revenue tables ------------------------------------------------------

GROUPS = {"video": "Video", "campaign": "Campaign", "link": "Link"}
NO_CAMPAIGN = "(no campaign)"


@dataclass
class GroupRow:
    """One row of a table grouped by link, video or campaign."""

    group: str
    key: str  # link id, video id or campaign name ("" for links without one)
    figures: Figures
    short_code: str | None = None
    video_id: str | None = None
    campaign: str | None = None
    archived: bool = False

    @property
    def label(self) -> str:
        if self.group == "link":
            return f"/{self.short_code}"
        if self.group == "video":
            return self.key
        return self.key or NO_CAMPAIGN


def _group_columns(group: str) -> list:
    if group == "link":
        return [
            CampaignLink.id.label("link_id"),
            CampaignLink.short_code,
            CampaignLink.video_id,
            CampaignLink.campaign,
            CampaignLink.archived_at,
        ]
    if group == "video":
        return [CampaignLink.video_id]
    return [CampaignLink.campaign]


def _name_order(group: str) -> list:
    if group == "link":
        return [CampaignLink.short_code]
    if group == "video":
        return [CampaignLink.video_id]
    return [func.coalesce(CampaignLink.campaign, "")]


def _row(group: str, mapping: Mapping[str, Any]) -> GroupRow:
    figures = Figures.from_row(mapping)
    if group == "link":
        return GroupRow(
            group,
            str(mapping["link_id"]),
            figures,
            short_code=mapping["short_code"],
            video_id=mapping["video_id"],
            campaign=mapping["campaign"],
            archived=mapping["archived_at"] is not None,
        )
    if group == "video":
        return GroupRow(group, mapping["video_id"], figures, video_id=mapping["video_id"])
    return GroupRow(group, mapping["campaign"] or "", figures, campaign=mapping["campaign"])


def grouped_query(
    user_id: int,
    date_range: DateRange,
    group: str,
    *,
    video: str | None = None,
    campaign: str | None = None,
    order: Callable[[dict[str, Any]], Any] | None = None,
    descending: bool = True,
    limit: int | None = None,
) -> Select:
    """The creator's aggregates in a range, summed per link, video or campaign.

    `order` builds the sort expression (or a list of them) from the SUM expressions, by name; ties
    and the "name" sort (order=None) fall back to the group's name. Groups with no row in the range are absent.
    """
    rows = counter_rows(date_range, user_id=user_id)
    sums = _sums(rows)
    columns = _group_columns(group)
    statement = (
        select(*columns, *[expr.label(name) for name, expr in sums.items()])
        .select_from(rows)
        .join(CampaignLink, CampaignLink.id == rows.c.campaign_link_id)
        .group_by(*columns)
    )
    if video:
        statement = statement.where(CampaignLink.video_id == video)
    if campaign == NO_CAMPAIGN:
        statement = statement.where(CampaignLink.campaign.is_(None))
    elif campaign:
        statement = statement.where(CampaignLink.campaign == campaign)
    names = _name_order(group)
    if order is not None:
        expressions = order(sums)
        expressions = expressions if isinstance(expressions, list) else [expressions]
        statement = statement.order_by(
            *[(e.desc() if descending else e.asc()).nulls_last() for e in expressions], *names
        )
    else:
        statement = statement.order_by(*[n.desc() if descending else n.asc() for n in names])
    if group == "link":
        statement = statement.order_by(CampaignLink.id)
    return statement.limit(limit) if limit else statement


def grouped_rows(statement: Select, group: str, *, stream: bool = False) -> Iterator[GroupRow]:
    """Run a grouped_query; `stream` fetches in batches (server-side cursor on PostgreSQL)."""
    if stream:
        statement = statement.execution_options(yield_per=500)
    for row in db.session.execute(statement):
        yield _row(group, row._mapping)


def _total_revenue(sums: dict[str, Any]):
    return sum((sums[f"{t}_revenue"] for t in EVENT_TYPES[1:]), sums[f"{EVENT_TYPES[0]}_revenue"])


TOP_ROWS = 5


def _rank(rows: list[GroupRow], limit: int) -> list[GroupRow]:
    """Highest revenue first, then most clicks, then by name."""
    return sorted(rows, key=lambda r: (-r.figures.revenue, -r.figures.clicks, r.key if r.group != "link" else r.label))[
        :limit
    ]


def _all_groups(user_id: int, date_range: DateRange) -> dict[str, list[GroupRow]]:
    """Every link, video and campaign with activity in a range, unordered.

    One aggregate query summed per link (at most one row per link), folded into videos and
    campaigns here: a third of the cost of grouping three times in SQL.
    """
    rows = counter_rows(date_range, user_id=user_id)
    per_link = db.session.execute(
        select(rows.c.campaign_link_id, *[expr.label(name) for name, expr in _sums(rows).items()]).group_by(
            rows.c.campaign_link_id
        )
    )
    figures = {row.campaign_link_id: Figures.from_row(row._mapping) for row in per_link}
    links = db.session.execute(
        select(
            CampaignLink.id,
            CampaignLink.short_code,
            CampaignLink.video_id,
            CampaignLink.campaign,
            CampaignLink.archived_at,
        ).where(CampaignLink.user_id == user_id)
    )
    rows: dict[str, list[GroupRow]] = {"link": [], "video": [], "campaign": []}
    by_video: dict[str, Figures] = {}
    by_campaign: dict[str, Figures] = {}
    for link in links:
        link_figures = figures.get(link.id)
        if link_figures is None:
            continue
        rows["link"].append(
            GroupRow(
                "link",
                str(link.id),
                link_figures,
                short_code=link.short_code,
                video_id=link.video_id,
                campaign=link.campaign,
                archived=link.archived_at is not None,
            )
        )
        by_video[link.video_id] = by_video.get(link.video_id, Figures()) + link_figures
        by_campaign[link.campaign or ""] = by_campaign.get(link.campaign or "", Figures()) + link_figures
    rows["video"] = [GroupRow("video", video, f, video_id=video) for video, f in by_video.items()]
    rows["campaign"] = [GroupRow("campaign", name, f, campaign=name or None) for name, f in by_campaign.items()]
    return rows


def top_groups(user_id: int, date_range: DateRange, limit: int = TOP_ROWS) -> dict[str, list[GroupRow]]:
    """The highest-earning links, videos and campaigns in a range (more clicks first on equal revenue)."""
    return {group: _rank(rows, limit) for group, rows in _all_groups(user_id, date_range).items()}


def filter_options(user_id: int) -> tuple[list[str], list[str]]:
    """The creator's video ids and campaign names, for the filter menus (one row per link at most)."""
    videos = db.session.scalars(
        select(CampaignLink.video_id).where(CampaignLink.user_id == user_id).distinct().order_by(CampaignLink.video_id)
    ).all()
    campaigns = db.session.scalars(
        select(CampaignLink.campaign)
        .where(CampaignLink.user_id == user_id, CampaignLink.campaign.is_not(None))
        .distinct()
        .order_by(CampaignLink.campaign)
    ).all()
    has_unnamed = db.session.scalar(
        select(CampaignLink.id).where(CampaignLink.user_id == user_id, CampaignLink.campaign.is_(None)).limit(1)
    )
    return list(videos), list(campaigns) + ([NO_CAMPAIGN] if has_unnamed else [])


# ---- the columns of the funnel and revenue tables, shared by the page and its CSV ------------------


@dataclass(frozen=True)
class Column:
    """A table column: what the page shows, what the CSV writes, and how SQL sorts it."""

    key: str  # the sort parameter and the CSV header
    label: str
    kind: str  # "count", "rate" or "money"
    value: Callable[[Figures], Any]
    order: Callable[[dict[str, Any]], Any]


def _ratio_sql(numerator: str, denominator: str):
    return lambda sums: cast(sums[numerator], Float) / func.nullif(sums[denominator], 0)


def _visitors(event_type: str) -> Callable[[Figures], int]:
    return lambda figures: figures.visitors[event_type]


def _step_rate(index: int) -> Callable[[Figures], float | None]:
    return lambda figures: figures.funnel()[index].rate


FUNNEL_COLUMNS = [
    Column("clicks", "Clicks", "count", lambda f: f.clicks, lambda s: s["clicks"]),
    Column(
        "newsletter_signups",
        "Signups",
        "count",
        _visitors("newsletter_signup"),
        lambda s: s["newsletter_signup_visitors"],
    ),
    Column("signup_rate", "Signup rate", "rate", _step_rate(1), _ratio_sql("newsletter_signup_visitors", "clicks")),
    Column(
        "course_enrollments",
        "Enrollments",
        "count",
        _visitors("course_enrollment"),
        lambda s: s["course_enrollment_visitors"],
    ),
    Column(
        "enrollment_rate",
        "Enrollment rate",
        "rate",
        _step_rate(2),
        _ratio_sql("course_enrollment_visitors", "newsletter_signup_visitors"),
    ),
    Column("purchases", "Purchases", "count", _visitors("purchase"), lambda s: s["purchase_visitors"]),
    Column(
        "purchase_rate",
        "Purchase rate",
        "rate",
        _step_rate(3),
        _ratio_sql("purchase_visitors", "course_enrollment_visitors"),
    ),
    Column(
        "overall_rate",
        "Overall rate",
        "rate",
        lambda f: f.funnel()[3].overall,
        _ratio_sql("purchase_visitors", "clicks"),
    ),
]


def _total_revenue_per_click(sums):
    return cast(_total_revenue(sums), Float) / func.nullif(sums["clicks"], 0)


REVENUE_COLUMNS = [
    Column("clicks", "Clicks", "count", lambda f: f.clicks, lambda s: s["clicks"]),
    Column("purchases", "Purchases", "count", lambda f: f.counts["purchase"], lambda s: s["purchase_count"]),
    Column(
        "purchase_revenue",
        "Purchase revenue",
        "money",
        lambda f: f.revenue_by_type["purchase"],
        lambda s: s["purchase_revenue"],
    ),
    Column(
        "course_enrollments",
        "Enrollments",
        "count",
        lambda f: f.counts["course_enrollment"],
        lambda s: s["course_enrollment_count"],
    ),
    Column(
        "course_enrollment_revenue",
        "Enrollment revenue",
        "money",
        lambda f: f.revenue_by_type["course_enrollment"],
        lambda s: s["course_enrollment_revenue"],
    ),
    Column(
        "newsletter_signup_revenue",
        "Signup revenue",
        "money",
        lambda f: f.revenue_by_type["newsletter_signup"],
        lambda s: s["newsletter_signup_revenue"],
    ),
    Column("revenue", "Total revenue", "money", lambda f: f.revenue, _total_revenue),
    Column("revenue_per_click", "Revenue per click", "money", lambda f: f.revenue_per_click, _total_revenue_per_click),
]


@dataclass(frozen=True)
class TableSpec:
    name: str  # "funnel" or "revenue"
    title: str
    columns: list[Column]
    default_sort: str


TABLES = {
    "funnel": TableSpec("funnel", "Funnel", FUNNEL_COLUMNS, "clicks"),
    "revenue": TableSpec("revenue", "Revenue", REVENUE_COLUMNS, "revenue"),
}
NAME_SORT = "name"
FILTER_MAX_LENGTH = 100


@dataclass(frozen=True)
class TableQuery:
    """What a funnel or revenue page shows: range, grouping, filters and sort (from its query string)."""

    date_range: DateRange
    group: str = "video"
    video: str = ""
    campaign: str = ""
    sort: str = ""
    descending: bool = True

    def args(self, **changes) -> dict[str, str]:
        """Query-string arguments for this view, with `changes` applied (None drops one)."""
        values = {
            **self.date_range.args(),
            "group": self.group,
            "video": self.video,
            "campaign": self.campaign,
            "sort": self.sort,
            "dir": "desc" if self.descending else "asc",
        }
        values.update(changes)
        return {name: value for name, value in values.items() if value}

    def sort_args(self, key: str) -> dict[str, str]:
        """Arguments for a column header: its sort, descending first, flipping when already sorted by it."""
        if key == self.sort:
            return self.args(dir="asc" if self.descending else "desc")
        return self.args(sort=key, dir="asc" if key == NAME_SORT else "desc")


def _clean_filter(value: str | None) -> str:
    return "".join(ch for ch in (value or "") if ch.isprintable()).strip()[:FILTER_MAX_LENGTH]


def parse_table_query(spec: TableSpec, args: Mapping[str, str], date_range: DateRange) -> TableQuery:
    """Grouping, filters and sort from a query string; unknown values fall back to the defaults."""
    group = args.get("group") if args.get("group") in GROUPS else "video"
    keys = {column.key for column in spec.columns} | {NAME_SORT}
    sort = args.get("sort") if args.get("sort") in keys else spec.default_sort
    default_dir = "asc" if sort == NAME_SORT else "desc"
    direction = args.get("dir") if args.get("dir") in ("asc", "desc") else default_dir
    return TableQuery(
        date_range=date_range,
        group=group,
        video=_clean_filter(args.get("video")),
        campaign=_clean_filter(args.get("campaign")),
        sort=sort,
        descending=direction == "desc",
    )


def table_rows(user_id: int, spec: TableSpec, query: TableQuery, *, stream: bool = False) -> Iterator[GroupRow]:
    """The rows of a funnel or revenue table in the order the page shows them."""
    order = None
    if query.sort != NAME_SORT:
        order = next(column.order for column in spec.columns if column.key == query.sort)
    statement = grouped_query(
        user_id,
        query.date_range,
        query.group,
        video=query.video or None,
        campaign=query.campaign or None,
        order=order,
        descending=query.descending,
    )
    return grouped_rows(statement, query.group, stream=stream)


def table_totals(user_id: int, query: TableQuery) -> Figures:
    """The filtered totals above a table (links, videos or campaigns together)."""
    rows = counter_rows(query.date_range, user_id=user_id)
    conditions = []
    if query.video or query.campaign:
        links = select(CampaignLink.id).where(CampaignLink.user_id == user_id)
        if query.video:
            links = links.where(CampaignLink.video_id == query.video)
        if query.campaign == NO_CAMPAIGN:
            links = links.where(CampaignLink.campaign.is_(None))
        elif query.campaign:
            links = links.where(CampaignLink.campaign == query.campaign)
        conditions.append(rows.c.campaign_link_id.in_(links))
    return _figures(rows, *conditions)


def group_headers(group: str) -> list[str]:
    """The leading columns that name a row: link, video and campaign for links."""
    return ["link", "video", "campaign"] if group == "link" else [group]


def csv_cell(kind: str, value: Any) -> str:
    """A value as the CSV writes it: counts as integers, rates as fractions, money with two decimals."""
    if value is None:
        return ""
    if kind == "rate":
        return f"{value:.4f}"
    if kind == "money":
        return money(value)
    return str(value)


def csv_text(value: str | None) -> str:
    """Text a spreadsheet will not run as a formula (a name starting with =, +, - or @)."""
    value = value or ""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def csv_records(spec: TableSpec, query: TableQuery, rows: Iterator[GroupRow]) -> Iterator[list[str]]:
    """The header and then one record per row, exactly the table's columns in the page's order."""
    yield group_headers(query.group) + [column.key for column in spec.columns]
    for row in rows:
        names = [row.label, row.video_id, row.campaign or NO_CAMPAIGN] if row.group == "link" else [row.label]
        yield [csv_text(name) for name in names] + [
            csv_cell(column.kind, column.value(row.figures)) for column in spec.columns
        ]


# ---- pages --------------------------------------------------------------------------------------


@dataclass
class Dashboard:
    date_range: DateRange
    totals: Figures
    series: list[SeriesPoint]
    lags: LagDistribution
    top_links: list[GroupRow]
    top_videos: list[GroupRow]
    top_campaigns: list[GroupRow]
    has_links: bool

    @property
    def clicks(self) -> int:
        return self.totals.clicks

    @property
    def unique_clicks(self) -> int:
        return self.totals.unique_clicks


def dashboard_summary(user_id: int, date_range: DateRange | None = None) -> Dashboard:
    """Totals, series, days to convert and the top earners of one creator in a range (default 30 days)."""
    date_range = date_range or default_range()
    groups = _all_groups(user_id, date_range)
    top = {group: _rank(rows, TOP_ROWS) for group, rows in groups.items()}
    return Dashboard(
        date_range=date_range,
        totals=sum((row.figures for row in groups["link"]), Figures()),
        series=_series(date_range, UserDailyStats, UserDailyStats.user_id == user_id),
        lags=_lags(
            LinkDailyLag.user_id == user_id, LinkDailyLag.day >= date_range.start, LinkDailyLag.day <= date_range.end
        ),
        top_links=top["link"],
        top_videos=top["video"],
        top_campaigns=top["campaign"],
        has_links=bool(top["link"])
        or db.session.scalar(select(CampaignLink.id).where(CampaignLink.user_id == user_id).limit(1)) is not None,
    )


@dataclass
class RecentConversion:
    converted_at: datetime
    event_type: str
    revenue: Decimal | None
    currency: str
    source: str
    days_since_click: int | None

    @property
    def label(self) -> str:
        return TYPE_LABEL_ONE.get(self.event_type, self.event_type)


@dataclass
class Share:
    """One line of a breakdown: a name, how many, and its share of the whole."""

    name: str
    count: int
    share: float


@dataclass
class LinkReport:
    link: CampaignLink
    date_range: DateRange
    totals: Figures
    series: list[SeriesPoint]
    lags: LagDistribution
    recent: list[RecentConversion]
    referrers: list[Share]
    devices: list[Share]
    browsers: list[Share]


RECENT_CONVERSIONS = 20
TOP_REFERRERS = 10
NO_REFERRER = "No referrer (direct, app or removed)"


def link_figures(link: CampaignLink, date_range: DateRange) -> Figures:
    return _figures(counter_rows(date_range, link_id=link.id))


def link_report(link: CampaignLink, date_range: DateRange) -> LinkReport:
    """Everything the link page shows for one link in a range."""
    lag_conditions = (
        LinkDailyLag.campaign_link_id == link.id,
        LinkDailyLag.day >= date_range.start,
        LinkDailyLag.day <= date_range.end,
    )
    return LinkReport(
        link=link,
        date_range=date_range,
        totals=link_figures(link, date_range),
        series=_series(date_range, S, S.campaign_link_id == link.id),
        lags=_lags(*lag_conditions, window_days=link.attribution_window_days),
        recent=recent_conversions(link.id, date_range),
        referrers=_shares(_click_breakdown(link.id, date_range, "referrer"), _referrer_name, TOP_REFERRERS),
        devices=_shares(_click_breakdown(link.id, date_range, "device"), _plain_name("Unknown")),
        browsers=_shares(_click_breakdown(link.id, date_range, "browser"), _plain_name("Unknown")),
    )


def recent_conversions(link_id: uuid.UUID, date_range: DateRange, limit: int = RECENT_CONVERSIONS) -> list:
    """The link's latest conversions in the range, with how long after their click each came."""
    rows = db.session.execute(
        select(ConversionEvent, ClickEvent.clicked_at)
        .outerjoin(ClickEvent, ClickEvent.tracking_id == ConversionEvent.tracking_id)
        .where(
            ConversionEvent.campaign_link_id == link_id,
            ConversionEvent.converted_at >= date_range.start_at,
            ConversionEvent.converted_at < date_range.end_before,
        )
        .order_by(ConversionEvent.converted_at.desc(), ConversionEvent.id)
        .limit(limit)
    )
    return [
        RecentConversion(
            converted_at=conversion.converted_at,
            event_type=conversion.event_type,
            revenue=conversion.revenue_amount,
            currency=conversion.currency,
            source=conversion.source,
            days_since_click=(
                int((conversion.converted_at - clicked_at).total_seconds() // 86_400) if clicked_at else None
            ),
        )
        for conversion, clicked_at in rows
    ]


def _click_breakdown(link_id: uuid.UUID, date_range: DateRange, dimension: str) -> list[tuple[str, int]]:
    """Counted clicks (bots left out) of one link in a range, per value of a breakdown dimension
    ('referrer' hosts, 'device', 'browser', 'os'; '' for none), from LinkDailyBreakdown."""
    B = LinkDailyBreakdown
    rows = db.session.execute(
        select(B.value, func.sum(B.clicks))
        .where(
            B.campaign_link_id == link_id, B.dimension == dimension, B.day >= date_range.start, B.day <= date_range.end
        )
        .group_by(B.value)
    )
    return [(value, int(count)) for value, count in rows if count]


def _referrer_name(host: str | None) -> str:
    """A referrer's host (aggregates.referrer_host) without "www.": its site, never its page."""
    return host.removeprefix("www.") if host else NO_REFERRER


def _plain_name(missing: str) -> Callable[[str | None], str]:
    return lambda value: value or missing


def _shares(rows: list[tuple[str | None, int]], name: Callable, limit: int | None = None) -> list[Share]:
    """Fold raw values into named counts, largest first; beyond `limit`, the rest become "Other"."""
    counts: dict[str, int] = {}
    for value, count in rows:
        counts[name(value)] = counts.get(name(value), 0) + count
    total = sum(counts.values())
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    if limit and len(ordered) > limit:
        rest = sum(count for _, count in ordered[limit - 1 :])
        ordered = ordered[: limit - 1] + [("Other", rest)]
    return [Share(label, count, count / total) for label, count in ordered]


# ---- JSON -----------------------------------------------------------------------------------------


def _rate_json(rate: float | None) -> float | None:
    return None if rate is None else round(rate, 4)


def funnel_json(link: CampaignLink, date_range: DateRange) -> dict:
    """GET /api/conversions/funnel/<id>: counted clicks, then distinct converting visitors per type."""
    figures = link_figures(link, date_range)
    stages = []
    for stage in figures.funnel():
        entry: dict[str, Any] = {"stage": stage.stage, "count": stage.count}
        if stage.stage != "clicks":
            entry["rate"] = _rate_json(stage.rate)
        stages.append(entry)
    return {
        "campaign_link_id": str(link.id),
        "window_days": link.attribution_window_days,
        "from": date_range.start.isoformat(),
        "to": date_range.end.isoformat(),
        "stages": stages,
        "total_revenue": money(figures.revenue),
    }


def types_json(link: CampaignLink, date_range: DateRange) -> dict:
    """GET /api/conversions/types/<id>: conversions and revenue per event type."""
    figures = link_figures(link, date_range)
    return {
        "campaign_link_id": str(link.id),
        "from": date_range.start.isoformat(),
        "to": date_range.end.isoformat(),
        "types": [
            {"event_type": t, "count": figures.counts[t], "revenue": money(figures.revenue_by_type[t])}
            for t in EVENT_TYPES
        ],
        "total_revenue": money(figures.revenue),
    }
