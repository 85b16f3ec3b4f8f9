"""Date ranges: presets, typed dates and refusals, the same for pages and the JSON endpoints (UTC days)."""

from datetime import date, datetime, timezone

import pytest

from linktrack.reports.ranges import DateRange, RangeInvalid, granularity, parse_date_range

TODAY = date(2026, 3, 31)


def parse(query: dict, first_day: date | None = None) -> DateRange:
    return parse_date_range(query, today=TODAY, first_day=lambda: first_day)


@pytest.mark.parametrize(
    ("query", "start", "end", "preset"),
    [
        ({}, date(2026, 3, 2), TODAY, "30d"),
        ({"range": "7d"}, date(2026, 3, 25), TODAY, "7d"),
        ({"range": "30d"}, date(2026, 3, 2), TODAY, "30d"),
        ({"range": "90d"}, date(2026, 1, 1), TODAY, "90d"),
        ({"range": "month"}, date(2026, 3, 1), TODAY, "month"),
        ({"from": "2026-03-01", "to": "2026-03-01"}, date(2026, 3, 1), date(2026, 3, 1), None),
        ({"from": "2028-02-29", "to": "2028-03-01"}, date(2028, 2, 29), date(2028, 3, 1), None),
        ({"from": "2026-03-10", "range": "7d"}, date(2026, 3, 10), TODAY, None),  # typed dates win
        ({"from": "2026-05-01"}, date(2026, 5, 1), date(2026, 5, 1), None),  # a lone future start: one day
        ({"to": "2026-02-28"}, date(2026, 1, 30), date(2026, 2, 28), None),  # a lone end: 30 days up to it
        ({"from": " 2026-03-10 ", "to": ""}, date(2026, 3, 10), TODAY, None),
    ],
)
def test_presets_and_typed_dates(query, start, end, preset):
    assert parse(query) == DateRange(start, end, preset)


def test_all_time_starts_at_the_first_day_with_data_or_today():
    assert parse({"range": "all"}, first_day=date(2025, 6, 1)) == DateRange(date(2025, 6, 1), TODAY, "all")
    assert parse({"range": "all"}) == DateRange(TODAY, TODAY, "all")


def test_this_month_on_the_first_is_one_day():
    assert parse_date_range({"range": "month"}, today=date(2026, 4, 1)) == DateRange(
        date(2026, 4, 1), date(2026, 4, 1), "month"
    )


@pytest.mark.parametrize(
    ("query", "field", "code", "message"),
    [
        ({"from": "2026-3-1"}, "from", "invalid_date", "Enter the date as YYYY-MM-DD, for example 2026-03-01."),
        ({"from": "20260301"}, "from", "invalid_date", "Enter the date as YYYY-MM-DD, for example 2026-03-01."),
        ({"to": "2026-W10-1"}, "to", "invalid_date", "Enter the date as YYYY-MM-DD, for example 2026-03-01."),
        ({"to": "2026-02-29"}, "to", "invalid_date", "2026-02-29 is not a date on the calendar."),
        ({"from": "1999-12-31"}, "from", "invalid_date", "Choose a date between 2000 and 2099."),
        ({"to": "9999-12-31"}, "to", "invalid_date", "Choose a date between 2000 and 2099."),
        (
            {"from": "2026-03-02", "to": "2026-03-01"},
            "to",
            "invalid_range",
            "The end date must be on or after the start date.",
        ),
        ({"from": "2010-01-01", "to": "2026-03-01"}, "from", "invalid_range", "A range can span at most ten years."),
        ({"range": "yesterday"}, "range", "invalid_range", "Choose one of: 7d, 30d, 90d, month, all."),
    ],
)
def test_refusals_name_the_field(query, field, code, message):
    with pytest.raises(RangeInvalid) as refused:
        parse(query)
    assert (refused.value.field, refused.value.code, refused.value.message) == (field, code, message)


def test_a_range_is_whole_utc_days():
    one_day = DateRange(date(2026, 3, 1), date(2026, 3, 1))
    assert one_day.start_at == datetime(2026, 3, 1, tzinfo=timezone.utc)
    assert one_day.end_before == datetime(2026, 3, 2, tzinfo=timezone.utc)
    assert one_day.span == "1 Mar 2026"
    assert DateRange(date(2025, 12, 30), date(2026, 1, 2)).span == "30 Dec 2025 – 2 Jan 2026"
    assert DateRange(date(2026, 3, 2), TODAY, "30d").args() == {"range": "30d"}
    assert DateRange(date(2026, 3, 2), TODAY).args() == {"from": "2026-03-02", "to": "2026-03-31"}


@pytest.mark.parametrize(("days", "unit"), [(1, "day"), (92, "day"), (93, "week"), (731, "week"), (732, "month")])
def test_long_ranges_are_drawn_by_week_or_month(days, unit):
    start = date(2020, 1, 1)
    assert granularity(DateRange(start, date.fromordinal(start.toordinal() + days - 1))) == unit
