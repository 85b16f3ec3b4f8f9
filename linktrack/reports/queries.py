"""Report queries: every figure a report page, CSV export or JSON endpoint shows.

Totals, series, funnels, rankings and a link's referrers and devices read the aggregates
(LinkDailyStats, LinkMonthlyStats, LinkDailyLag, LinkDailyBreakdown), never the raw events, so a
report costs the same on a creator's first month as on their fifth year. Sums over a range read
whole months from LinkMonthlyStats and only the partial months at its edges day by day
(`counter_rows`): at most ~60 rows per link for any range. Only one link's last 20 conversions
read raw rows, through the (campaign_link_id, converted_at) index.

Every query is scoped to one creator (user_id) or to one link the caller already owns, and only
reads: the aggregates are written by linktrack.counting. Reads go through reports_session(), a read
replica when REPORTS_DATABASE_URL is set (figures then trail the primary by its replay lag); the
owner check that picks the link reads the primary. The value objects are in figures.py.
"""

import uuid
from collections.abc import Callable, Iterator, Mapping
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, and_, func, or_, select, union_all

from ..extensions import reports_session
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
)
from ..tracking.service import SOURCES
from .figures import (
    NO_CAMPAIGN,
    Dashboard,
    Figures,
    GroupRow,
    LagDistribution,
    LinkReport,
    RecentConversion,
    SeriesPoint,
    Share,
    SourceFigures,
    cents,
)
from .ranges import DateRange, default_range, granularity

S = LinkDailyStats

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


def summed_figures(rows, *conditions) -> Figures:
    """Every counter of `rows` (a counter_rows subquery) summed, where `conditions` hold."""
    row = (
        reports_session()
        .execute(select(*[expr.label(name) for name, expr in _sums(rows).items()]).where(*conditions))
        .one()
    )
    return Figures.from_row(row._mapping)


# ---- the series a chart draws -----------------------------------------------------------------


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
    rows = reports_session().execute(
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
        point.revenue += cents(amount)
    return list(points.values())


# ---- days to convert --------------------------------------------------------------------------


def _lags(*conditions, window_days: int | None = None) -> LagDistribution:
    rows = reports_session().execute(
        select(LinkDailyLag.days_since_click, func.sum(LinkDailyLag.conversions))
        .where(*conditions)
        .group_by(LinkDailyLag.days_since_click)
    )
    return LagDistribution({int(days): int(n) for days, n in rows if n}, window_days)


# ---- rankings -----------------------------------------------------------------------------------


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


def _row(group: str, mapping: Mapping[str, Any], figures: Figures | None = None) -> GroupRow:
    """A grouped row from the columns of `_group_columns(group)`; `figures` from the same mapping unless given."""
    if figures is None:
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
    for row in reports_session().execute(statement):
        yield _row(group, row._mapping)


def total_revenue_sql(sums: dict[str, Any]):
    return sum((sums[f"{t}_revenue"] for t in EVENT_TYPES[1:]), sums[f"{EVENT_TYPES[0]}_revenue"])


def per_link_figures(user_id: int, date_range: DateRange):
    """The creator's links' clicks, conversions (every type) and revenue in `date_range`: a
    subquery (campaign_link_id, clicks, conversions, revenue) for the links list to join and sort
    by across its pages. Links without a row in the range are absent. Revenue is the reports' one
    total (total_revenue_sql), so every page shows the same figure."""
    rows = counter_rows(date_range, user_id=user_id)
    sums = _sums(rows)
    conversions = sum((sums[f"{t}_count"] for t in EVENT_TYPES[1:]), sums[f"{EVENT_TYPES[0]}_count"])
    return (
        select(
            rows.c.campaign_link_id,
            sums["clicks"].label("clicks"),
            conversions.label("conversions"),
            total_revenue_sql(sums).label("revenue"),
        )
        .group_by(rows.c.campaign_link_id)
        .subquery("in_range")
    )


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
    per_link = reports_session().execute(
        select(rows.c.campaign_link_id, *[expr.label(name) for name, expr in _sums(rows).items()]).group_by(
            rows.c.campaign_link_id
        )
    )
    figures = {row.campaign_link_id: Figures.from_row(row._mapping) for row in per_link}
    links = reports_session().execute(select(*_group_columns("link")).where(CampaignLink.user_id == user_id))
    rows: dict[str, list[GroupRow]] = {"link": [], "video": [], "campaign": []}
    by_video: dict[str, Figures] = {}
    by_campaign: dict[str, Figures] = {}
    for link in links:
        link_figures = figures.get(link.link_id)
        if link_figures is None:
            continue
        rows["link"].append(_row("link", link._mapping, link_figures))
        by_video[link.video_id] = by_video.get(link.video_id, Figures()) + link_figures
        by_campaign[link.campaign or ""] = by_campaign.get(link.campaign or "", Figures()) + link_figures
    rows["video"] = [GroupRow("video", video, f, video_id=video) for video, f in by_video.items()]
    rows["campaign"] = [GroupRow("campaign", name, f, campaign=name or None) for name, f in by_campaign.items()]
    return rows


def top_groups(user_id: int, date_range: DateRange, limit: int = TOP_ROWS) -> dict[str, list[GroupRow]]:
    """The highest-earning links, videos and campaigns in a range (more clicks first on equal revenue)."""
    return {group: _rank(rows, limit) for group, rows in _all_groups(user_id, date_range).items()}


# ---- pages --------------------------------------------------------------------------------------


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
        or reports_session().scalar(select(CampaignLink.id).where(CampaignLink.user_id == user_id).limit(1))
        is not None,
    )


RECENT_CONVERSIONS = 20
TOP_REFERRERS = 10
NO_REFERRER = "No referrer (direct, app or removed)"


def link_figures(link: CampaignLink, date_range: DateRange) -> Figures:
    return summed_figures(counter_rows(date_range, link_id=link.id))


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
        sources=conversions_by_source(link.id, date_range),
    )


def conversions_by_source(link_id: uuid.UUID, date_range: DateRange) -> list[SourceFigures]:
    """The link's conversions and revenue in the range per source (browser, then server), from the
    conversions themselves: the counters do not keep the source. One grouped read of the link's
    (campaign_link_id, converted_at) index, on the report page only."""
    rows = reports_session().execute(
        select(ConversionEvent.source, func.count(), func.sum(ConversionEvent.revenue_amount))
        .where(
            ConversionEvent.campaign_link_id == link_id,
            ConversionEvent.converted_at >= date_range.start_at,
            ConversionEvent.converted_at < date_range.end_before,
        )
        .group_by(ConversionEvent.source)
    )
    found = {source: (int(count), Decimal(revenue or 0)) for source, count, revenue in rows}
    return [SourceFigures(source, *found.get(source, (0, Decimal(0)))) for source in SOURCES]


def recent_conversions(link_id: uuid.UUID, date_range: DateRange, limit: int = RECENT_CONVERSIONS) -> list:
    """The link's latest conversions in the range, with how long after their click each came."""
    rows = reports_session().execute(
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
    rows = reports_session().execute(
        select(B.value, func.sum(B.clicks))
        .where(
            B.campaign_link_id == link_id, B.dimension == dimension, B.day >= date_range.start, B.day <= date_range.end
        )
        .group_by(B.value)
    )
    return [(value, int(count)) for value, count in rows if count]


def _referrer_name(host: str | None) -> str:
    """A referrer's host (counting.counters.referrer_host) without "www.": its site, never its page."""
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
