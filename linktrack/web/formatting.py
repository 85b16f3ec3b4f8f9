"""How numbers, money and times are shown: one place, used by templates and JSON alike."""

from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from flask import Flask

CENT = Decimal("0.01")


def money(value) -> str:
    """Money as a string with two decimals ("49.99"), the API's and the pages' format."""
    return str(Decimal(value or 0).quantize(CENT, rounding=ROUND_HALF_UP))


def amount(value) -> str:
    """Money for people: thousands grouped, two decimals ("9,166.72")."""
    return f"{Decimal(money(value)):,.2f}"


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
    app.add_template_filter(number, "number")
    app.add_template_filter(short_datetime, "datetime")
    app.add_template_global(percent, "percent")
