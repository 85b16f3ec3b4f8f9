"""Every conversion rule, written once (DESIGN.md §6): event types, revenue, the attribution window.

The Python checks (service.validate_conversion, service.record_conversion), the PostgreSQL
one-statement path (store.record_if_allowed), the cleanup and the counters all take the window
from here: `days_since_click = floor(seconds since the click / 86,400)`, accepted while
`days_since_click <= window`. A day is 86,400 seconds, never a calendar day, so no time zone and
no daylight-saving change moves the edge. tests/tracking/test_rules.py runs the Python rule and
the PostgreSQL statement at every edge and requires the same answers.

Whose `now`: the database's (CONVERSION_CLOCK=database, the default), read by the statement that
reads the click (dialect.database_now via store.click_context_query), so hosts whose clocks
disagree decide alike; on SQLite, embedded in the app's process, the app's clock is the database's.

No database is read here: only values, and SQL expressions built from the same constants.
"""

import math
import re
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import Integer, func, literal_column, true

from .. import dialect
from ..errors import ApiError
from ..web.currencies import DEFAULT_CURRENCY, is_currency, minor_units

EVENT_TYPES = ("newsletter_signup", "course_enrollment", "purchase")
SECONDS_PER_DAY = 86_400
REVENUE_WARNING_THRESHOLD = Decimal("10000")
REVENUE_MAX = Decimal("99999999.99")  # Numeric(10, 2)
CENT = Decimal("0.01")
# A revenue string: ASCII digits, one optional point, an optional leading minus (so a negative
# amount is refused as not positive, not as unreadable). No spaces, underscores, exponents, plus
# signs or other scripts' numerals, all of which Decimal() would otherwise take ("١٢", "5_000").
REVENUE_PATTERN = re.compile(r"-?[0-9]+(\.[0-9]+)?", re.ASCII)


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
    """A number or numeric string with at most two decimals; None when absent.

    A string is plain ASCII decimal notation only (REVENUE_PATTERN); a JSON number is read the
    same way from its shortest decimal spelling, so 1e-7 (spelled with an exponent) is refused too.
    """
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise _invalid_revenue("'revenue_amount' must be a number.")
    text = repr(value) if isinstance(value, float) else str(value)
    if not REVENUE_PATTERN.fullmatch(text):
        raise _invalid_revenue(
            "'revenue_amount' must be written with the digits 0-9 and at most one decimal point"
            " (no spaces, underscores, exponents or other numerals)."
        )
    amount = Decimal(text)
    too_large = ApiError(422, "revenue_too_large", f"'revenue_amount' must be at most {REVENUE_MAX}.", "revenue_amount")
    if abs(amount) >= REVENUE_MAX + 1:  # before quantize, which raises for very long numbers
        raise too_large
    if amount != amount.quantize(CENT):
        raise ApiError(
            400, "invalid_revenue_precision", "'revenue_amount' has at most 2 decimal places.", "revenue_amount"
        )
    if abs(amount) > REVENUE_MAX:
        raise too_large
    return amount


def parse_currency(value) -> str:
    """An ISO 4217 code (web/currencies.py), upper-cased; USD when absent. An unlisted code is
    refused: its amounts could be neither formatted nor kept apart from a typo's ("USD" / "USB")."""
    if value is None or value == "":
        return DEFAULT_CURRENCY
    code = value.upper() if isinstance(value, str) and value.isascii() else None  # "ısk" is not ISK
    if not is_currency(code):
        raise ApiError(400, "invalid_currency", "'currency' must be an ISO 4217 code like USD, EUR or JPY.", "currency")
    return code


def check_currency_precision(revenue: Decimal | None, currency: str) -> None:
    """An amount has no more decimals than its currency has minor units: 1200.50 JPY is a typo
    (there are no sen). Amounts are stored with two decimals, so a three-decimal currency (BHD,
    KWD) is kept to two."""
    if revenue is not None and minor_units(currency) < 2 and revenue != revenue.quantize(Decimal(1)):
        raise ApiError(
            400,
            "invalid_revenue_precision",
            f"'revenue_amount' in {currency} is a whole number ({currency} has no minor unit).",
            "revenue_amount",
        )


def check_revenue(event_type: str, revenue: Decimal | None) -> list[str]:
    """The revenue rules of each event type; returns the warnings, raises ApiError on a refusal.

    Revenue, when given, is > 0 for every type: a negative signup would subtract from the link's
    revenue. purchase: revenue required. course_enrollment: optional. newsletter_signup: accepted
    with a warning. Any amount above the threshold is warned.
    """
    warnings: list[str] = []
    if event_type == "purchase" and revenue is None:
        raise ApiError(422, "revenue_required", "Purchase events must include revenue_amount.", "revenue_amount")
    if revenue is not None and revenue <= 0:
        raise ApiError(422, "revenue_not_positive", "'revenue_amount' must be greater than 0.", "revenue_amount")
    if event_type == "newsletter_signup" and revenue is not None:
        warnings.append("Newsletter signups typically do not have revenue; it was recorded as sent.")
    if revenue is not None and revenue > REVENUE_WARNING_THRESHOLD:
        warnings.append(f"Revenue above {REVENUE_WARNING_THRESHOLD:,} is unusual; please check the amount.")
    return warnings


def require_origin(origin: str | None) -> None:
    """A browser conversion names its page: without an Origin header a script or curl could
    report for any link without even claiming one of its pages (README, Security)."""
    if origin is None:
        raise ApiError(403, "origin_required", "A browser conversion must carry an Origin header.", "origin")


def check_origin(origin: str, allowed_origins: list[str]) -> None:
    if origin not in allowed_origins:
        raise ApiError(403, "origin_not_allowed", f"Origin {origin} is not allowed for this link.", "origin")


def check_browser_revenue(revenue: Decimal | None, maximum: Decimal | None) -> None:
    """The link's optional cap on what a browser may report (campaign_links.max_browser_revenue);
    the creator's server, with an API key, is not capped."""
    if revenue is not None and maximum is not None and revenue > maximum:
        raise ApiError(
            422,
            "revenue_above_link_maximum",
            f"This link accepts at most {maximum} from a browser; report larger amounts from your server.",
            "revenue_amount",
        )


def within_browser_revenue_sql(revenue, maximum):
    """check_browser_revenue in SQL: true when the browser's amount is within the link's cap. No
    amount or no cap makes the comparison NULL, which counts as within (and the parameter's type is
    the column's, which a bare `IS NULL` test would leave PostgreSQL to guess)."""
    return func.coalesce(revenue <= maximum, true())
