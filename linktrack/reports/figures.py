"""The value objects the report queries return: figures summed over links and days, a chart's
series, days to convert, grouped rows, and what the dashboard and a link's report show.

Plain data with the arithmetic a page needs (rates, shares, medians); no SQL here: queries.py
fills them from the aggregates.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from ..models import EVENT_TYPES, CampaignLink
from ..web.formatting import CENT
from .ranges import DateRange, long_date

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

GROUPS = {"video": "Video", "campaign": "Campaign", "link": "Link"}
NO_CAMPAIGN = "(no campaign)"


def cents(value) -> Decimal:
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


Money = dict[str, dict[str, Decimal]]  # currency -> event type -> amount (only what is not zero)


def added_money(first: Money, second: Money) -> Money:
    """Two Money added currency by currency and type by type (never across currencies)."""
    total = {code: dict(types) for code, types in first.items()}
    for code, types in second.items():
        into = total.setdefault(code, {})
        for event_type, value in types.items():
            into[event_type] = into.get(event_type, Decimal("0.00")) + value
    return total


@dataclass
class Figures:
    """Aggregate counters summed over some links and days.

    `counts` are conversions; `visitors` are distinct tracking ids converting for the first time
    with that type in the range (the funnel's stages); `money` is the revenue per currency and
    type (LinkDailyRevenue). There is no total across currencies: pages show each currency's,
    main currency first (web/formatting.prices).
    """

    clicks: int = 0
    unique_clicks: int = 0
    bot_clicks: int = 0
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(EVENT_TYPES, 0))
    visitors: dict[str, int] = field(default_factory=lambda: dict.fromkeys(EVENT_TYPES, 0))
    money: Money = field(default_factory=dict)

    @classmethod
    def from_row(cls, row: Mapping[str, Any], money: Money | None = None) -> "Figures":
        return cls(
            clicks=int(row["clicks"]),
            unique_clicks=int(row["unique_clicks"]),
            bot_clicks=int(row["bot_clicks"]),
            counts={t: int(row[f"{t}_count"]) for t in EVENT_TYPES},
            visitors={t: int(row[f"{t}_visitors"]) for t in EVENT_TYPES},
            money=money or {},
        )

    @property
    def conversions(self) -> int:
        return sum(self.counts.values())

    @property
    def revenue_by_currency(self) -> dict[str, Decimal]:
        """Every type's revenue, per currency: {"USD": 49.99, "JPY": 1200}."""
        totals = {code: sum(types.values(), Decimal("0.00")) for code, types in self.money.items()}
        return {code: value for code, value in totals.items() if value}

    def type_revenue(self, event_type: str) -> dict[str, Decimal]:
        """One type's revenue, per currency."""
        found = {code: types.get(event_type, Decimal("0.00")) for code, types in self.money.items()}
        return {code: value for code, value in found.items() if value}

    def revenue_in(self, currency: str) -> Decimal:
        """The revenue in one currency (what rankings by revenue compare, in the main currency)."""
        return sum(self.money.get(currency, {}).values(), Decimal("0.00"))

    @property
    def revenue_per_click(self) -> dict[str, Decimal] | None:
        """Revenue per counted click, per currency; None without clicks."""
        if not self.clicks:
            return None
        return {code: value / self.clicks for code, value in self.revenue_by_currency.items()}

    @property
    def conversion_rate(self) -> float | None:
        """Conversions of every type per counted click (like ad platforms; can pass 100%)."""
        return ratio(self.conversions, self.clicks)

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
            money=added_money(self.money, other.money),
        )

    def funnel(self) -> list[FunnelStage]:
        """Clicks → signups → enrollments → purchases; each rate is a stage over the one before."""
        stages = [FunnelStage("clicks", self.clicks, None, 1.0 if self.clicks else None)]
        for event_type in EVENT_TYPES:
            count = self.visitors[event_type]
            stages.append(FunnelStage(event_type, count, ratio(count, stages[-1].count), ratio(count, self.clicks)))
        return stages


# ---- the series a chart draws -----------------------------------------------------------------


@dataclass
class SeriesPoint:
    """One bar of a chart: a day, or a week or month on long ranges (`start` to `end`, inclusive)."""

    start: date
    end: date
    clicks: int = 0
    conversions: int = 0
    revenue: dict[str, Decimal] = field(default_factory=dict)  # per currency

    @property
    def label(self) -> str:
        if self.start == self.end:
            return long_date(self.start)
        return f"{self.start.day} {self.start:%b} – {long_date(self.end)}"


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


# ---- rankings and the funnel / revenue tables ------------------------------------------------------


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


SOURCE_LABELS = {"browser": "Landing page (browser)", "server": "Your server (API key)"}


@dataclass
class SourceFigures:
    """Who reported a link's conversions: a landing page's call can be forged by anyone who has a
    tracking id (README, Security); the creator's server, with an API key, cannot."""

    source: str
    conversions: int
    revenue: dict[str, Decimal]  # per currency

    @property
    def label(self) -> str:
        return SOURCE_LABELS.get(self.source, self.source)


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
    sources: list[SourceFigures]
