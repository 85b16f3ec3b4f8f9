"""Date ranges from a query string: presets, typed dates and refusals, the same for pages and JSON.

Days are calendar days in the creator's time zone (users.time_zone: the days the aggregates are
counted in, counting/days.py), both ends of a range included; "today" is today there. A range is
bounded (ten years) because every chart zero-fills it day by day.
"""

import re
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import func, select

from ..counting.days import DEFAULT_TIME_ZONE, local_day, zone_info
from ..extensions import reports_session
from ..models import LinkDailyStats, utcnow

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
    """Whole days in `zone` from `start` to `end`, both included. `preset` names a preset, None if typed."""

    start: date
    end: date
    preset: str | None = None
    zone: str = DEFAULT_TIME_ZONE

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def start_at(self) -> datetime:
        """The first instant of the range (00:00 on `start` in the zone)."""
        return datetime.combine(self.start, time.min, tzinfo=zone_info(self.zone))

    @property
    def end_before(self) -> datetime:
        """The first instant after the range (00:00 the day after `end` in the zone)."""
        return datetime.combine(self.end + timedelta(days=1), time.min, tzinfo=zone_info(self.zone))

    @property
    def label(self) -> str:
        return PRESETS[self.preset] if self.preset else "Custom range"

    @property
    def span(self) -> str:
        """'1 Mar – 30 Mar 2026', what a reader scans for."""
        if self.start == self.end:
            return long_date(self.start)
        first = f"{self.start.day} {self.start:%b}" + (
            "" if self.start.year == self.end.year else f" {self.start.year}"
        )
        return f"{first} – {long_date(self.end)}"

    def args(self) -> dict[str, str]:
        """Query-string arguments that select this range again."""
        if self.preset:
            return {"range": self.preset}
        return {"from": self.start.isoformat(), "to": self.end.isoformat()}

    def each_day(self) -> Iterator[date]:
        for offset in range(self.days):
            yield self.start + timedelta(days=offset)


def long_date(day: date) -> str:
    """'1 Mar 2026': how a range's ends and a chart's bars name a day."""
    return f"{day.day} {day:%b %Y}"


def granularity(date_range: DateRange) -> str:
    """Days up to a quarter, weeks up to two years, months beyond: a chart stays under ~110 bars."""
    if date_range.days <= 92:
        return "day"
    return "week" if date_range.days <= 731 else "month"


def today_in(zone: str) -> date:
    return local_day(utcnow(), zone)


def default_range(zone: str = DEFAULT_TIME_ZONE, today: date | None = None) -> DateRange:
    today = today or today_in(zone)
    return DateRange(today - timedelta(days=PRESET_DAYS[DEFAULT_PRESET] - 1), today, DEFAULT_PRESET, zone)


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
    args: Mapping[str, str],
    *,
    zone: str = DEFAULT_TIME_ZONE,
    today: date | None = None,
    first_day: Callable[[], date | None] | None = None,
) -> DateRange:
    """The range a page or endpoint was asked for: `from`/`to` (YYYY-MM-DD, days in `zone`, the
    creator's, inclusive) win over a `range` preset; neither means the last 30 days. Raises
    RangeInvalid naming the bad parameter.

    `first_day` is asked only for "all time": the creator's first day with data (None: today).
    A lone `from` runs to today; a lone `to` starts 29 days before it.
    """
    today = today or today_in(zone)
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
        return DateRange(start, end, zone=zone)

    preset = (args.get("range") or DEFAULT_PRESET).strip()
    if preset not in PRESETS:
        raise RangeInvalid("range", f"Choose one of: {', '.join(PRESETS)}.", "invalid_range")
    if preset in PRESET_DAYS:
        return DateRange(today - timedelta(days=PRESET_DAYS[preset] - 1), today, preset, zone)
    if preset == "month":
        return DateRange(today.replace(day=1), today, preset, zone)
    first = (first_day() if first_day else None) or today
    return DateRange(max(min(first, today), today - timedelta(days=MAX_RANGE_DAYS - 1)), today, preset, zone)


def asked_range(
    args: Mapping[str, str], first_day: Callable[[], date | None], zone: str = DEFAULT_TIME_ZONE
) -> tuple[DateRange, RangeInvalid | None]:
    """The range a page was asked for, or the default one and the reason the asked-for one was
    refused (a page shows that message next to the field and the default range's figures)."""
    try:
        return parse_date_range(args, zone=zone, first_day=first_day), None
    except RangeInvalid as exc:
        return default_range(zone), exc


def first_day_with_data(user_id: int) -> date | None:
    """The creator's earliest aggregate day, for "all time" (the (user_id, day) index answers it)."""
    return reports_session().scalar(select(func.min(LinkDailyStats.day)).where(LinkDailyStats.user_id == user_id))


def first_day_of_link(link_id: uuid.UUID) -> date | None:
    """The link's earliest aggregate day, for "all time" on its report and its JSON."""
    return reports_session().scalar(
        select(func.min(LinkDailyStats.day)).where(LinkDailyStats.campaign_link_id == link_id)
    )
