"""Report queries: every figure a report page, CSV export or JSON endpoint shows.

Totals, series, funnels, rankings and a link's referrers and devices read the aggregates
(LinkDailyStats, LinkMonthlyStats, LinkDailyLag, LinkDailyBreakdown, LinkDailyRevenue), never the
raw events, so a
report costs the same on a creator's first month as on their fifth year. Sums over a range read
whole months from LinkMonthlyStats and only the partial months at its edges day by day
(`counter_rows`): at most ~60 rows per link for any range. Only one link's last 20 conversions
read raw rows, through the (campaign_link_id, converted_at) index.

Money is read per currency from LinkDailyRevenue (`money_query`) and never added across
currencies; rankings and sorts "by revenue" compare the creator's main currency.

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

from sqlalchemy import Integer, Numeric, Select, and_, case, func, literal, or_, select, union_all

from ..extensions import reports_session
from ..models import (
    EVENT_TYPES,
    CampaignLink,
    ClickEvent,
    ConversionEvent,
    LinkDailyBreakdown,
    LinkDailyLag,
    LinkDailyRevenue,
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
    Money,
    RecentConversion,
    SeriesPoint,
    Share,
    SourceFigures,
    cents,
)
from .ranges import DateRange, default_range, granularity

S = LinkDailyStats
R = LinkDailyRevenue

# ---- summed aggregate counters ----------------------------------------------------------------

COUNTER_NAMES = ["clicks", "unique_clicks", "bot_clicks"] + [
    f"{event_type}_{suffix}" for event_type in EVENT_TYPES for suffix in ("count", "visitors", "revenue")
]
# The main currency's revenue per type, beside the counters when a sort needs it (counter_rows).
MAIN_REVENUE = {event_type: f"main_{event_type}_revenue" for event_type in EVENT_TYPES}


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


def _owned(table, user_id: int | None, link_id: uuid.UUID | None) -> list:
    conditions = []
    if user_id is not None:
        conditions.append(table.user_id == user_id)
    if link_id is not None:
        conditions.append(table.campaign_link_id == link_id)
    return conditions


def counter_rows(
    date_range: DateRange,
    *,
    user_id: int | None = None,
    link_id: uuid.UUID | None = None,
    main_currency: str | None = None,
):
    """The aggregate rows whose counters add up to `date_range` for a creator or one link: monthly
    rows for whole months, daily rows for the rest. A subquery with campaign_link_id, user_id and
    every counter; every figure summed over a range reads it (the conditions sit in each branch,
    on the (user_id, day|month) index or the (campaign_link_id, day|month) key).

    With `main_currency`, the MAIN_REVENUE columns too: that currency's LinkDailyRevenue rows (0
    in the counters' rows), so SQL can sort by revenue without adding currencies."""
    day_spans, months = split_range(date_range.start, date_range.end)
    money_zero = literal(Decimal("0"), Numeric(14, 2))
    no_main = [money_zero.label(name) for name in MAIN_REVENUE.values()] if main_currency else []

    def rows(table, column, spans):
        conditions = [or_(*[and_(column >= first, column <= last) for first, last in spans])]
        names = ["campaign_link_id", "user_id", *COUNTER_NAMES]
        columns = [getattr(table, name) for name in names]
        return select(*columns, *no_main).where(*conditions, *_owned(table, user_id, link_id))

    parts = [rows(S, S.day, day_spans)] if day_spans else []
    if months:
        parts.append(rows(LinkMonthlyStats, LinkMonthlyStats.month, [months]))
    if main_currency:
        zero = literal(0, Integer)
        no_counts = [(money_zero if name.endswith("_revenue") else zero).label(name) for name in COUNTER_NAMES]
        main = [case((R.event_type == t, R.revenue), else_=money_zero).label(n) for t, n in MAIN_REVENUE.items()]
        parts.append(
            select(R.campaign_link_id, R.user_id, *no_counts, *main).where(
                R.day >= date_range.start,
                R.day <= date_range.end,
                R.currency == main_currency,
                *_owned(R, user_id, link_id),
            )
        )
    return (union_all(*parts) if len(parts) > 1 else parts[0]).subquery("counters")


def _sums(rows) -> dict[str, Any]:
    """SUM(...) of every counter of `rows` (a counter_rows subquery, and its MAIN_REVENUE columns
    when it has them), 0 when no row matches."""
    names = [*COUNTER_NAMES, *[name for name in MAIN_REVENUE.values() if name in rows.c]]
    return {name: func.coalesce(func.sum(rows.c[name]), 0) for name in names}


# ---- money per currency -----------------------------------------------------------------------


def money_query(date_range: DateRange, *conditions, by: tuple = ()) -> Select:
    """Revenue per currency and type in a range from LinkDailyRevenue (per `by` columns first, if
    any), where `conditions` hold: rows of (*by, currency, event_type, amount)."""
    return (
        select(*by, R.currency, R.event_type, func.sum(R.revenue))
        .where(R.day >= date_range.start, R.day <= date_range.end, *conditions)
        .group_by(*by, R.currency, R.event_type)
    )


def folded_money(rows, key_length: int = 0) -> dict[tuple, Money]:
    """{the first `key_length` columns: Money} from money_query rows."""
    folded: dict[tuple, Money] = {}
    for row in rows:
        key, (currency, event_type, amount) = tuple(row[:key_length]), row[key_length:]
        if amount:
            folded.setdefault(key, {}).setdefault(currency, {})[event_type] = cents(amount)
    return folded


def money_where(date_range: DateRange, *conditions) -> Money:
    """The revenue per currency and type in a range where `conditions` hold (on LinkDailyRevenue)."""
    return folded_money(reports_session().execute(money_query(date_range, *conditions))).get((), {})


def summed_figures(rows, *conditions, money: Money | None = None) -> Figures:
    """Every counter of `rows` (a counter_rows subquery) summed, where `conditions` hold, with `money`."""
    row = (
        reports_session()
        .execute(select(*[expr.label(name) for name, expr in _sums(rows).items()]).where(*conditions))
        .one()
    )
    return Figures.from_row(row._mapping, money)


# ---- the series a chart draws -----------------------------------------------------------------


def _bucket_start(day: date, unit: str) -> date:
    if unit == "week":
        return day - timedelta(days=day.weekday())
    if unit == "month":
        return day.replace(day=1)
    return day


def _series(date_range: DateRange, table, condition, money_condition) -> list[SeriesPoint]:
    """Clicks, conversions and revenue (per currency) per bucket, every bucket present (zero-filled),
    from the daily rows of `table` (LinkDailyStats for a link, UserDailyStats for a creator) where
    `condition` holds, and the LinkDailyRevenue rows where `money_condition` does."""
    conversions = sum(
        (getattr(table, f"{t}_count") for t in EVENT_TYPES[1:]), getattr(table, f"{EVENT_TYPES[0]}_count")
    )
    rows = reports_session().execute(
        select(table.day, func.sum(table.clicks), func.sum(conversions))
        .where(table.day >= date_range.start, table.day <= date_range.end, condition)
        .group_by(table.day)
    )
    unit = granularity(date_range)
    points: dict[date, SeriesPoint] = {}
    for day in date_range.each_day():
        key = max(_bucket_start(day, unit), date_range.start)
        point = points.setdefault(key, SeriesPoint(key, day))
        point.end = day
    for day, clicks, count in rows:
        point = points[max(_bucket_start(day, unit), date_range.start)]
        point.clicks += int(clicks or 0)
        point.conversions += int(count or 0)
    money = select(R.day, R.currency, func.sum(R.revenue)).where(
        R.day >= date_range.start, R.day <= date_range.end, money_condition
    )
    for day, currency, amount in reports_session().execute(money.group_by(R.day, R.currency)):
        point = points[max(_bucket_start(day, unit), date_range.start)]
        point.revenue[currency] = point.revenue.get(currency, Decimal("0.00")) + cents(amount)
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


def link_filters(video: str | None = None, campaign: str | None = None) -> list:
    """Conditions on CampaignLink for a table's video and campaign filters."""
    conditions = []
    if video:
        conditions.append(CampaignLink.video_id == video)
    if campaign == NO_CAMPAIGN:
        conditions.append(CampaignLink.campaign.is_(None))
    elif campaign:
        conditions.append(CampaignLink.campaign == campaign)
    return conditions


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
    main_currency: str | None = None,
) -> Select:
    """The creator's aggregates in a range, summed per link, video or campaign.

    `order` builds the sort expression (or a list of them) from the SUM expressions, by name (with
    `main_currency`, MAIN_REVENUE's too); ties and the "name" sort (order=None) fall back to the
    group's name. Groups with no row in the range are absent.
    """
    rows = counter_rows(date_range, user_id=user_id, main_currency=main_currency)
    sums = _sums(rows)
    columns = _group_columns(group)
    statement = (
        select(*columns, *[expr.label(name) for name, expr in sums.items()])
        .select_from(rows)
        .join(CampaignLink, CampaignLink.id == rows.c.campaign_link_id)
        .where(*link_filters(video, campaign))
        .group_by(*columns)
    )
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


def grouped_rows(
    statement: Select, group: str, *, stream: bool = False, money: dict[tuple, Money] | None = None
) -> Iterator[GroupRow]:
    """Run a grouped_query; `stream` fetches in batches (server-side cursor on PostgreSQL). `money`
    (group_money) gives each row its revenue per currency."""
    if stream:
        statement = statement.execution_options(yield_per=500)
    money = money or {}
    for row in reports_session().execute(statement):
        grouped = _row(group, row._mapping)
        grouped.figures.money = money.get((grouped.key,), {})
        yield grouped


def _group_key(group: str):
    """The column a group's money is keyed by, as GroupRow.key reads it."""
    if group == "link":
        return R.campaign_link_id
    if group == "video":
        return CampaignLink.video_id
    return func.coalesce(CampaignLink.campaign, "")


def group_money(user_id: int, date_range: DateRange, group: str, *conditions) -> dict[tuple, Money]:
    """{(GroupRow.key,): Money} of the creator's links, videos or campaigns in a range, where
    `conditions` (on CampaignLink) hold: one grouped read of LinkDailyRevenue."""
    statement = money_query(date_range, R.user_id == user_id, *conditions, by=(_group_key(group),))
    statement = statement.join(CampaignLink, CampaignLink.id == R.campaign_link_id)
    folded = folded_money(reports_session().execute(statement), 1)
    return {(str(key[0]),): money for key, money in folded.items()} if group == "link" else folded


def main_revenue_sql(sums: dict[str, Any]):
    """The main currency's revenue of every type (sums of a counter_rows with main_currency)."""
    names = list(MAIN_REVENUE.values())
    return sum((sums[name] for name in names[1:]), sums[names[0]])


def per_link_figures(user_id: int, date_range: DateRange, main_currency: str):
    """The creator's links' clicks, conversions (every type) and revenue in `date_range`: a
    subquery (campaign_link_id, clicks, conversions, revenue) for the links list to join and sort
    by across its pages. Links without a row in the range are absent. Revenue is the main
    currency's (main_revenue_sql), never a sum across currencies."""
    rows = counter_rows(date_range, user_id=user_id, main_currency=main_currency)
    sums = _sums(rows)
    conversions = sum((sums[f"{t}_count"] for t in EVENT_TYPES[1:]), sums[f"{EVENT_TYPES[0]}_count"])
    return (
        select(
            rows.c.campaign_link_id,
            sums["clicks"].label("clicks"),
            conversions.label("conversions"),
            main_revenue_sql(sums).label("revenue"),
        )
        .group_by(rows.c.campaign_link_id)
        .subquery("in_range")
    )


TOP_ROWS = 5


def _rank(rows: list[GroupRow], limit: int, main_currency: str) -> list[GroupRow]:
    """Highest revenue in the main currency first, then most clicks, then by name."""

    def key(row: GroupRow):
        name = row.key if row.group != "link" else row.label
        return (-row.figures.revenue_in(main_currency), -row.figures.clicks, name)

    return sorted(rows, key=key)[:limit]


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
    money = folded_money(
        reports_session().execute(money_query(date_range, R.user_id == user_id, by=(R.campaign_link_id,))), 1
    )
    figures = {
        row.campaign_link_id: Figures.from_row(row._mapping, money.get((row.campaign_link_id,))) for row in per_link
    }
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


def top_groups(
    user_id: int, date_range: DateRange, main_currency: str, limit: int = TOP_ROWS
) -> dict[str, list[GroupRow]]:
    """The highest-earning links, videos and campaigns in a range, in the main currency (more clicks
    first on equal revenue)."""
    return {group: _rank(rows, limit, main_currency) for group, rows in _all_groups(user_id, date_range).items()}


# ---- pages --------------------------------------------------------------------------------------


def dashboard_summary(user_id: int, date_range: DateRange | None = None, main_currency: str = "USD") -> Dashboard:
    """Totals, series, days to convert and the top earners (in the main currency) of one creator in
    a range (default 30 days)."""
    date_range = date_range or default_range()
    groups = _all_groups(user_id, date_range)
    top = {group: _rank(rows, TOP_ROWS, main_currency) for group, rows in groups.items()}
    return Dashboard(
        date_range=date_range,
        totals=sum((row.figures for row in groups["link"]), Figures()),
        series=_series(date_range, UserDailyStats, UserDailyStats.user_id == user_id, R.user_id == user_id),
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
    money = money_where(date_range, R.campaign_link_id == link.id)
    return summed_figures(counter_rows(date_range, link_id=link.id), money=money)


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
        series=_series(date_range, S, S.campaign_link_id == link.id, R.campaign_link_id == link.id),
        lags=_lags(*lag_conditions, window_days=link.attribution_window_days),
        recent=recent_conversions(link.id, date_range),
        referrers=_shares(_click_breakdown(link.id, date_range, "referrer"), _referrer_name, TOP_REFERRERS),
        devices=_shares(_click_breakdown(link.id, date_range, "device"), _plain_name("Unknown")),
        browsers=_shares(_click_breakdown(link.id, date_range, "browser"), _plain_name("Unknown")),
        sources=conversions_by_source(link.id, date_range),
    )


def conversions_by_source(link_id: uuid.UUID, date_range: DateRange) -> list[SourceFigures]:
    """The link's conversions and revenue (per currency) in the range per source (browser, then
    server), from the conversions themselves: the counters do not keep the source. One grouped read
    of the link's (campaign_link_id, converted_at) index, on the report page only."""
    C = ConversionEvent
    rows = reports_session().execute(
        select(C.source, C.currency, func.count(), func.sum(C.revenue_amount))
        .where(
            C.campaign_link_id == link_id,
            C.converted_at >= date_range.start_at,
            C.converted_at < date_range.end_before,
        )
        .group_by(C.source, C.currency)
    )
    found = {source: SourceFigures(source, 0, {}) for source in SOURCES}
    for source, currency, count, revenue in rows:
        figures = found.setdefault(source, SourceFigures(source, 0, {}))
        figures.conversions += int(count)
        if revenue:
            figures.revenue[currency] = cents(revenue)
    return list(found.values())


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
