"""Charts as inline SVG, drawn on the server: no chart library, no CDN, nothing to load.

Every chart is one series with its own heading, so it reads without colour; bars of
conversions are hatched and revenue is a line with a marker per point, so the three never look
alike in greyscale either. The SVG is `role="img"` with an aria-label that states the figures a
reader needs (total, highest point, span); the exact numbers are always in a table beside it.
Colours come from static/css/reports.css, so dark mode and high-contrast styles apply.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from markupsafe import Markup, escape

from ..web.currencies import main_first
from ..web.formatting import number, price, prices_text

WIDTH, HEIGHT = 720, 220
LEFT, RIGHT, TOP, BOTTOM = 64, 12, 14, 34
BAR_ROW = 34  # height of one bar in a horizontal bar chart
LABEL_CHARS = 22  # a longer bar label is cut (the full one is its tooltip, and in the table)


@dataclass(frozen=True)
class Point:
    label: str  # the x-axis label ("2 Mar 2026", "7 days")
    value: float | int | Decimal


def in_currency(currency: str) -> Callable:
    """A chart's value format for amounts in one currency (web/formatting.price): "¥1,200"."""
    return lambda value: price(value, currency)


def _nice_max(value: float, whole: bool = False) -> float:
    """The smallest round number (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8 × 10^n) at or above value, for gridlines.

    `whole` (a count): an even one, so the middle gridline is a whole number too; a top of 1 would
    put it at 0.5, which a count's format shows as "0" (an axis reading 0, 0, 1).
    """
    magnitude = 10 ** (len(str(int(value))) - 1) if value >= 1 else 1
    for step in (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        top = step * magnitude
        if top >= value and not (whole and top % 2):
            return top
    return 10 * magnitude


def _fmt(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _svg(chart_id: str, label: str, width: int, height: int, body: list[str]) -> Markup:
    return Markup(
        f'<svg class="chart" id="{escape(chart_id)}" role="img" aria-label="{escape(label)}" '
        f'viewBox="0 0 {width} {height}" preserveAspectRatio="xMidYMid meet" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{escape(label)}</title>{''.join(body)}</svg>"
    )


def _hatch(pattern_id: str) -> str:
    return (
        f'<defs><pattern id="{pattern_id}" width="6" height="6" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)"><rect width="6" height="6" class="chart-hatch-bg"/>'
        '<line x1="0" y1="0" x2="0" y2="6" class="chart-hatch-line"/></pattern></defs>'
    )


def time_chart(
    chart_id: str,
    what: str,
    points: Sequence[Point],
    *,
    style: str = "bars",
    fmt: Callable = number,
    unit: str = "",
) -> Markup:
    """Columns (`bars`, `hatched`) or a line with markers (`line`) over time, with a labelled y axis.

    `what` names the series for the aria-label ("Clicks per day"); `unit` follows a value in
    the bars' tooltips ("clicks").
    """
    values = [float(p.value or 0) for p in points]
    top = _nice_max(max(values, default=0), whole=fmt is number)  # a count: no 0.5 gridline shown as "0"
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(len(points), 1)
    body = [_hatch(f"{chart_id}-hatch")] if style == "hatched" else []

    for fraction in (0, 0.5, 1):
        y = TOP + plot_h * (1 - fraction)
        body.append(f'<line class="chart-grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{_fmt(y)}" y2="{_fmt(y)}"/>')
        body.append(
            f'<text class="chart-axis" x="{LEFT - 6}" y="{_fmt(y + 4)}" text-anchor="end">'
            f"{escape(fmt(top * fraction))}</text>"
        )

    def x_of(index: int) -> float:
        return LEFT + slot * index + slot / 2

    def y_of(value: float) -> float:
        return TOP + plot_h * (1 - value / top)

    def tip(point: Point) -> str:
        return f"<title>{escape(point.label)}: {escape(fmt(point.value))}{' ' + escape(unit) if unit else ''}</title>"

    if style == "line":
        path = " ".join(f"{_fmt(x_of(i))},{_fmt(y_of(v))}" for i, v in enumerate(values))
        body.append(f'<polyline class="chart-line" fill="none" points="{path}"/>')
        radius = 3.5 if len(points) <= 62 else 2
        for i, (point, value) in enumerate(zip(points, values, strict=True)):
            body.append(
                f'<circle class="chart-marker" cx="{_fmt(x_of(i))}" cy="{_fmt(y_of(value))}" r="{radius}">'
                f"{tip(point)}</circle>"
            )
    else:
        bar_w = max(slot * 0.72, 1)
        # A fill attribute, not a style attribute (the CSP allows no inline style): the stylesheet
        # colours only the plain bars, so nothing overrides the pattern.
        fill = f' fill="url(#{chart_id}-hatch)"' if style == "hatched" else ""
        css = "chart-bar chart-bar-hatched" if style == "hatched" else "chart-bar"
        for i, (point, value) in enumerate(zip(points, values, strict=True)):
            height = plot_h * value / top
            body.append(
                f'<rect class="{css}"{fill} x="{_fmt(x_of(i) - bar_w / 2)}" y="{_fmt(TOP + plot_h - height)}" '
                f'width="{_fmt(bar_w)}" height="{_fmt(height)}">{tip(point)}</rect>'
            )

    if points:
        shown = sorted({0, len(points) // 2, len(points) - 1})
        anchors = {0: "start", len(points) - 1: "end"}
        for i in shown:
            x = LEFT if i == 0 else (WIDTH - RIGHT if i == len(points) - 1 else x_of(i))
            body.append(
                f'<text class="chart-axis" x="{_fmt(x)}" y="{HEIGHT - 10}" text-anchor="{anchors.get(i, "middle")}">'
                f"{escape(points[i].label)}</text>"
            )
    body.append(
        f'<line class="chart-baseline" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{TOP + plot_h}" y2="{TOP + plot_h}"/>'
    )
    return _svg(chart_id, _summary(what, points, values, fmt), WIDTH, HEIGHT, body)


def _summary(what: str, points: Sequence[Point], values: list[float], fmt: Callable) -> str:
    """'Clicks per day, 1 Mar 2026 to 30 Mar 2026: 1,234 in total, highest 80 on 12 Mar 2026.'"""
    if not points:
        return f"{what}: no data."
    total = sum((p.value or 0 for p in points), Decimal(0) if isinstance(points[0].value, Decimal) else 0)
    peak = max(range(len(points)), key=lambda i: values[i])
    span = points[0].label if len(points) == 1 else f"{points[0].label} to {points[-1].label}"
    if not values[peak]:
        return f"{what}, {span}: none."
    return f"{what}, {span}: {fmt(total)} in total, highest {fmt(points[peak].value)} on {points[peak].label}."


def bar_list(chart_id: str, what: str, rows: Sequence[tuple[str, float | int, str]]) -> Markup:
    """Horizontal bars, one per row of (label, value, text written at the bar's end).

    For funnels and breakdowns: each bar carries its label and its number, so the chart reads
    the same printed in black and white.
    """
    label_w, text_w = 170, 190
    plot_w = WIDTH - label_w - text_w
    top = max([float(value or 0) for _, value, _ in rows], default=0) or 1
    height = BAR_ROW * max(len(rows), 1) + 8
    body = []
    for i, (label, value, text) in enumerate(rows):
        y = 4 + i * BAR_ROW
        width = plot_w * float(value or 0) / top
        short = label if len(label) <= LABEL_CHARS else label[: LABEL_CHARS - 1] + "…"
        body.append(
            f'<text class="chart-label" x="{label_w - 8}" y="{y + 21}" text-anchor="end">{escape(short)}'
            f"<title>{escape(label)}</title></text>"
            f'<rect class="chart-bar" x="{label_w}" y="{y + 6}" width="{_fmt(max(width, 1))}" '
            f'height="{BAR_ROW - 12}"/>'
            f'<text class="chart-value" x="{_fmt(label_w + max(width, 1) + 6)}" y="{y + 21}">{escape(text)}</text>'
        )
    summary = f"{what}: " + "; ".join(f"{label} {text}" for label, _, text in rows) + "."
    return _svg(chart_id, summary, WIDTH, height, body)


def points(series, attribute: str) -> list[Point]:
    """Chart points from report series (anything with `label` and the attribute)."""
    return [Point(item.label, getattr(item, attribute)) for item in series]


def lag_points(lags) -> list[Point]:
    """The days-to-convert histogram: one column per whole day from 0 to the window's end."""
    return [Point(f"{days} {'day' if days == 1 else 'days'}", count) for days, count in lags.buckets()]


def funnel_rows(stages) -> list[tuple[str, int, str]]:
    """Funnel bars: each stage's label, count, and its rate from the stage before."""
    rows = []
    for stage in stages:
        text = number(stage.count)
        if stage.stage != "clicks":
            text += " (–)" if stage.rate is None else f" ({stage.rate * 100:.1f}%)"
        rows.append((stage.label, stage.count, text))
    return rows


def revenue_rows(rows, main_currency: str) -> list[tuple[str, Decimal, str]]:
    """Revenue bars for table rows (anything with `label` and `figures`): as long as the row's
    revenue in the main currency, labelled with its amounts in every currency."""
    return [
        (row.label, row.figures.revenue_in(main_currency), prices_text(row.figures.revenue_by_currency, main_currency))
        for row in rows
    ]


def revenue_currencies(series, main_currency: str) -> list[str]:
    """The currencies a series earned in, main first (the main currency alone when none): one
    revenue chart each, since amounts in two currencies share no axis."""
    earned = {code for point in series for code, value in point.revenue.items() if value}
    return main_first(earned, main_currency) if earned else [main_currency]


def revenue_points(series, currency: str) -> list[Point]:
    """Chart points of one currency's revenue in a report series."""
    return [Point(point.label, point.revenue.get(currency, Decimal("0.00"))) for point in series]
