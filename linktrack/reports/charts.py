"""Charts as inline SVG, drawn on the server: no chart library, no CDN, nothing to load.

Every chart is one series with its own heading, so it reads without colour; bars of
conversions are hatched and revenue is a line with a marker per point, so the three never look
alike in greyscale either. The SVG is `role="img"` with an aria-label that states the figures a
reader needs (total, highest point, span); the exact numbers are always in a table beside it.
Colours come from static/css/reports.css, so dark mode and high-contrast styles apply.

The SVGs have no viewBox: they are drawn in CSS pixels, every x as a percentage of the chart's width
and every y in pixels, so a chart fills any width while its text keeps its size in CSS px (a viewBox
scaled a 720-wide drawing down to a 390 px phone, and its 12 px axis text to 5 px).
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from markupsafe import Markup, escape

from ..web.currencies import main_first
from ..web.formatting import number, price, prices_text

HEIGHT = 220
TOP, BOTTOM = 14, 34  # the plot's margins in px; the y axis's labels sit left of it (reports.css: .chart-time)
BAR_ROW = 44  # height of one row of a horizontal bar chart: its label and value, then its bar
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


def _pct(fraction: float) -> str:
    """An x position or width as a share of the chart's width ("37.5%")."""
    return f"{fraction * 100:.3f}".rstrip("0").rstrip(".") + "%"


def _svg(chart_id: str, label: str, kind: str, height: int, body: list[str]) -> Markup:
    return Markup(
        f'<svg class="chart {kind}" id="{escape(chart_id)}" role="img" aria-label="{escape(label)}" '
        f'width="100%" height="{height}" xmlns="http://www.w3.org/2000/svg">'
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
    plot_h = HEIGHT - TOP - BOTTOM
    slot = 1 / max(len(points), 1)
    body = [_hatch(f"{chart_id}-hatch")] if style == "hatched" else []

    for fraction in (0, 0.5, 1):
        y = TOP + plot_h * (1 - fraction)
        body.append(f'<line class="chart-grid" x1="0" x2="100%" y1="{_fmt(y)}" y2="{_fmt(y)}"/>')
        # x="0", anchored at its end: the label stands in the margin left of the plot (reports.css).
        body.append(
            f'<text class="chart-axis" x="0" y="{_fmt(y + 4)}" text-anchor="end">{escape(fmt(top * fraction))}</text>'
        )

    def x_of(index: int) -> float:
        return slot * index + slot / 2

    def y_of(value: float) -> float:
        return TOP + plot_h * (1 - value / top)

    def tip(point: Point) -> str:
        return f"<title>{escape(point.label)}: {escape(fmt(point.value))}{' ' + escape(unit) if unit else ''}</title>"

    if style == "line":
        # Segments, not a polyline: a polyline's points cannot be percentages of the width.
        for i in range(1, len(values)):
            body.append(
                f'<line class="chart-line" x1="{_pct(x_of(i - 1))}" y1="{_fmt(y_of(values[i - 1]))}" '
                f'x2="{_pct(x_of(i))}" y2="{_fmt(y_of(values[i]))}"/>'
            )
        radius = 3.5 if len(points) <= 62 else 2
        for i, (point, value) in enumerate(zip(points, values, strict=True)):
            body.append(
                f'<circle class="chart-marker" cx="{_pct(x_of(i))}" cy="{_fmt(y_of(value))}" r="{radius}">'
                f"{tip(point)}</circle>"
            )
    else:
        bar_w = slot * 0.72
        # A fill attribute, not a style attribute (the CSP allows no inline style): the stylesheet
        # colours only the plain bars, so nothing overrides the pattern.
        fill = f' fill="url(#{chart_id}-hatch)"' if style == "hatched" else ""
        css = "chart-bar chart-bar-hatched" if style == "hatched" else "chart-bar"
        for i, (point, value) in enumerate(zip(points, values, strict=True)):
            height = plot_h * value / top
            body.append(
                f'<rect class="{css}"{fill} x="{_pct(x_of(i) - bar_w / 2)}" y="{_fmt(TOP + plot_h - height)}" '
                f'width="{_pct(bar_w)}" height="{_fmt(height)}">{tip(point)}</rect>'
            )

    if points:
        last = len(points) - 1
        # The first and last labels at the plot's edges, the middle one (hidden on a narrow screen) at its point.
        for i in sorted({0, len(points) // 2, last}):
            x, anchor, place = (
                ("0", "start", "start")
                if i == 0
                else ("100%", "end", "end")
                if i == last
                else (_pct(x_of(i)), "middle", "middle")
            )
            body.append(
                f'<text class="chart-axis chart-x-{place}" x="{x}" y="{HEIGHT - 10}" text-anchor="{anchor}">'
                f"{escape(points[i].label)}</text>"
            )
    body.append(f'<line class="chart-baseline" x1="0" x2="100%" y1="{TOP + plot_h}" y2="{TOP + plot_h}"/>')
    return _svg(chart_id, _summary(what, points, values, fmt), "chart-time", HEIGHT, body)


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
    """Horizontal bars, one per row of (label, value, text): the label and the text on a line, the bar below.

    For funnels and breakdowns: each bar carries its label and its number, so the chart reads
    the same printed in black and white; stacked, so a phone's width leaves the bar room.
    """
    top = max([float(value or 0) for _, value, _ in rows], default=0) or 1
    height = BAR_ROW * max(len(rows), 1)
    body = []
    for i, (label, value, text) in enumerate(rows):
        y = i * BAR_ROW
        short = label if len(label) <= LABEL_CHARS else label[: LABEL_CHARS - 1] + "…"
        body.append(
            f'<text class="chart-label" x="0" y="{y + 16}">{escape(short)}<title>{escape(label)}</title></text>'
            f'<text class="chart-value" x="100%" y="{y + 16}" text-anchor="end">{escape(text)}</text>'
            f'<rect class="chart-bar" x="0" y="{y + 22}" width="{_pct(max(float(value or 0) / top, 0.002))}" '
            f'height="{BAR_ROW - 30}"/>'
        )
    summary = f"{what}: " + "; ".join(f"{label} {text}" for label, _, text in rows) + "."
    return _svg(chart_id, summary, "chart-bars", height, body)


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
