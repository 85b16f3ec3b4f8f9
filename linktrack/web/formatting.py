"""How numbers, money and times are shown: one place, used by templates and JSON alike.

Money is always an amount *and* its currency: `money` is the API's and the CSV's string,
`price` what a person reads ("$49.99", "¥1,200", "CHF 12.00"), `prices` a creator's amounts in
several currencies, main currency first, side by side and never added up. Each currency is
written with its ISO 4217 minor units (web/currencies.py): no decimals for JPY or KRW.
"""

from collections.abc import Mapping
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from flask import Flask

from .currencies import SYMBOLS, main_first, minor_units

CENT = Decimal("0.01")


def _quantum(currency: str | None) -> Decimal:
    return CENT if currency is None else Decimal(1).scaleb(-minor_units(currency))


def money(value, currency: str | None = None) -> str:
    """Money as a plain string ("49.99"; "1200" in JPY): the API's and the CSV's format. Without a
    currency, two decimals (the format of the fields that predate currencies)."""
    return str(Decimal(value or 0).quantize(_quantum(currency), rounding=ROUND_HALF_UP))


def amount(value, currency: str | None = None) -> str:
    """Money for people without its symbol: thousands grouped ("9,166.72"; "1,200" in JPY)."""
    digits = 2 if currency is None else minor_units(currency)
    return f"{Decimal(money(value, currency)):,.{digits}f}"


def price(value, currency: str) -> str:
    """An amount in its currency, as a person reads it: "$49.99", "€20.00", "¥1,200", "CHF 12.00"."""
    text = amount(abs(Decimal(value or 0)), currency)
    symbol = SYMBOLS.get(currency)
    written = f"{symbol}{text}" if symbol else f"{currency} {text}"
    return f"-{written}" if Decimal(money(value, currency)) < 0 else written


def prices(amounts: Mapping[str, Decimal], main: str) -> list[str]:
    """Amounts per currency as `price`s, main currency first; the main currency's zero when there
    are none (a creator with no sales reads "$0.00", not nothing)."""
    shown = [code for code in main_first(amounts, main) if amounts[code]]
    return [price(amounts[code], code) for code in shown] or [price(0, main)]


def prices_text(amounts: Mapping[str, Decimal], main: str) -> str:
    """`prices` on one line ("$49.99 · €20.00 · ¥1,200"): a table cell, a tooltip, a chart label."""
    return " · ".join(prices(amounts, main))


def money_by_currency(amounts: Mapping[str, Decimal]) -> dict[str, str]:
    """The API's `revenue_by_currency`: {"USD": "49.99", "JPY": "1200"}, every currency with an
    amount, each as `money` in its own minor units."""
    return {code: money(amounts[code], code) for code in sorted(amounts) if amounts[code]}


def single_currency_money(amounts: Mapping[str, Decimal]) -> str | None:
    """A money field older than currencies ("total_revenue"), kept for the callers that read it:
    the amount while every amount is in one currency ("0.00" with none), None once there are
    several (a sum across currencies means nothing; read `revenue_by_currency`)."""
    shown = [value for value in amounts.values() if value]
    if len(shown) > 1:
        return None
    return money(shown[0] if shown else 0)


def number(value) -> str:
    return f"{int(value or 0):,}"


def percent(numerator, denominator) -> str:
    if not denominator:
        return "–"
    return f"{100 * numerator / denominator:.1f}%"


def short_datetime(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "–"


def register_filters(app: Flask) -> None:
    app.add_template_filter(money, "money")
    app.add_template_filter(amount, "amount")
    app.add_template_filter(price, "price")
    app.add_template_filter(prices, "prices")
    app.add_template_filter(prices_text, "prices_text")
    app.add_template_filter(number, "number")
    app.add_template_filter(short_datetime, "datetime")
    app.add_template_global(percent, "percent")
