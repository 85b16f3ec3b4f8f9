"""Every conversion rule, written once (DESIGN.md §6): event types, revenue, the attribution window.

The Python checks (service.validate_conversion, service.record_conversion), the PostgreSQL
one-statement path (store.record_if_allowed), the cleanup and the counters all take the window
from here: `days_since_click = floor(seconds since the click / 86,400)`, accepted while
`days_since_click <= window`. A day is 86,400 seconds, never a calendar day, so no time zone and
no daylight-saving change moves the edge. tests/tracking/test_rules.py runs the Python rule and
the PostgreSQL statement at every edge and requires the same answers.

No database is read here: only values, and SQL expressions built from the same constants.
"""

import math
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation

from sqlalchemy import Integer, literal_column

from .. import dialect
from ..errors import ApiError

EVENT_TYPES = ("newsletter_signup", "course_enrollment", "purchase")
SECONDS_PER_DAY = 86_400
REVENUE_WARNING_THRESHOLD = Decimal("10000")
REVENUE_MAX = Decimal("99999999.99")  # Numeric(10, 2)
CENT = Decimal("0.01")


def days_since_click(clicked_at: datetime, now: datetime) -> int:
    """Whole days since the click, floored: 30 days 23 hours is 30."""
    return math.floor((now - clicked_at).total_seconds() / SECONDS_PER_DAY)


def within_window(clicked_at: datetime, window_days: int, now: datetime) -> bool:
    return days_since_click(clicked_at, now) <= window_days


def window_expires_at(clicked_at: datetime, window_days: int) -> datetime:
    """The first instant a conversion is refused: the start of day window_days + 1."""
    return clicked_at + timedelta(seconds=(window_days + 1) * SECONDS_PER_DAY)


def day_length_sql():
    """SECONDS_PER_DAY as a literal of the statement, for statements that send no constant as a
    parameter (the conversion fast path's)."""
    return literal_column(str(SECONDS_PER_DAY), Integer)


def days_since_click_sql(clicked_at, now, dialect_name: str, day_length=SECONDS_PER_DAY):
    """days_since_click in SQL, for this database: the same floor of the same seconds."""
    return dialect.whole_units_between(clicked_at, now, day_length, dialect_name)


def within_window_sql(clicked_at, window_days, now, dialect_name: str, day_length=SECONDS_PER_DAY):
    """within_window in SQL, for this database."""
    return days_since_click_sql(clicked_at, now, dialect_name, day_length) <= window_days


def _invalid_revenue(message: str) -> ApiError:
    return ApiError(400, "invalid_revenue", message, "revenue_amount")


def parse_revenue(value) -> Decimal | None:
    """A number or numeric string with at most two decimals; None when absent."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise _invalid_revenue("'revenue_amount' must be a number.")
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise _invalid_revenue("'revenue_amount' must be a number.") from None
    if not amount.is_finite():
        raise _invalid_revenue("'revenue_amount' must be a finite number.")
    too_large = ApiError(422, "revenue_too_large", f"'revenue_amount' must be at most {REVENUE_MAX}.", "revenue_amount")
    if abs(amount) >= REVENUE_MAX + 1:  # before quantize, which raises for 1e999999
        raise too_large
    if amount != amount.quantize(CENT):
        raise ApiError(
            400, "invalid_revenue_precision", "'revenue_amount' has at most 2 decimal places.", "revenue_amount"
        )
    if abs(amount) > REVENUE_MAX:
        raise too_large
    return amount


def check_revenue(event_type: str, revenue: Decimal | None) -> list[str]:
    """The revenue rules of each event type; returns the warnings, raises ApiError on a refusal.

    purchase: revenue required and > 0. course_enrollment: optional, > 0 if given.
    newsletter_signup: accepted with a warning. Any amount above the threshold is warned.
    """
    warnings: list[str] = []
    if event_type == "purchase":
        if revenue is None:
            raise ApiError(422, "revenue_required", "Purchase events must include revenue_amount.", "revenue_amount")
        if revenue <= 0:
            raise ApiError(422, "revenue_not_positive", "Purchase revenue must be greater than 0.", "revenue_amount")
    elif event_type == "course_enrollment":
        if revenue is not None and revenue <= 0:
            raise ApiError(
                422, "revenue_not_positive", "Course enrollment revenue must be greater than 0.", "revenue_amount"
            )
    elif revenue is not None:
        warnings.append("Newsletter signups typically do not have revenue; it was recorded as sent.")
    if revenue is not None and revenue > REVENUE_WARNING_THRESHOLD:
        warnings.append(f"Revenue above {REVENUE_WARNING_THRESHOLD:,} is unusual; please check the amount.")
    return warnings
