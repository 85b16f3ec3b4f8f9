"""The funnel and revenue tables: their columns (shared by the page and its CSV), the query string
that picks range, grouping, filters and sort, their rows and totals, and the CSV records.

A money column's value is the amounts per currency ({"USD": 49.99, "JPY": 1200}): the page shows
them side by side, the CSV writes one column per currency (`revenue_USD`, `revenue_JPY`), and
sorting by a money column sorts by the creator's main currency.
"""

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Float, cast, func, select

from ..extensions import reports_session
from ..models import EVENT_TYPES, CampaignLink, LinkDailyRevenue
from ..web.currencies import main_first
from ..web.formatting import money
from ..web.pagination import PageCount, PageInvalid, read_page
from .figures import GROUPS, NO_CAMPAIGN, Figures, GroupRow
from .queries import (
    MAIN_REVENUE,
    counter_rows,
    group_money,
    grouped_query,
    grouped_rows,
    link_filters,
    main_revenue_sql,
    money_where,
    summed_figures,
)
from .ranges import DateRange

# ---- the columns of the funnel and revenue tables, shared by the page and its CSV ------------------


@dataclass(frozen=True)
class Column:
    """A table column: what the page shows, what the CSV writes, and how SQL sorts it."""

    key: str  # the sort parameter and the CSV header
    label: str
    kind: str  # "count", "rate" or "money" (amounts per currency; sorted by the main currency's)
    value: Callable[[Figures], Any]
    order: Callable[[dict[str, Any]], Any]


def _ratio_sql(numerator: str, denominator: str):
    return lambda sums: cast(sums[numerator], Float) / func.nullif(sums[denominator], 0)


def _summed(key: str, label: str, kind: str, value: Callable[[Figures], Any], counter: str) -> Column:
    """A column showing `value` of a row's figures, sorted in SQL by the SUM of one counter."""
    return Column(key, label, kind, value, lambda sums: sums[counter])


def _visitors(event_type: str, key: str, label: str) -> Column:
    """A funnel stage: distinct visitors converting with this type."""
    return _summed(key, label, "count", lambda f: f.visitors[event_type], f"{event_type}_visitors")


def _count(event_type: str, key: str, label: str) -> Column:
    return _summed(key, label, "count", lambda f: f.counts[event_type], f"{event_type}_count")


def _revenue(event_type: str, label: str) -> Column:
    key = f"{event_type}_revenue"
    return _summed(key, label, "money", lambda f: f.type_revenue(event_type), MAIN_REVENUE[event_type])


FUNNEL_STAGES = ["clicks", *[f"{event_type}_visitors" for event_type in EVENT_TYPES]]  # Figures.funnel()'s order


def _step_rate(key: str, label: str, index: int) -> Column:
    """Stage `index` of the funnel over the stage before it, as Figures.funnel() computes it."""
    return Column(
        key,
        label,
        "rate",
        lambda f: f.funnel()[index].rate,
        _ratio_sql(FUNNEL_STAGES[index], FUNNEL_STAGES[index - 1]),
    )


def _main_revenue_per_click(sums):
    return cast(main_revenue_sql(sums), Float) / func.nullif(sums["clicks"], 0)


CLICKS = _summed("clicks", "Clicks", "count", lambda f: f.clicks, "clicks")

FUNNEL_COLUMNS = [
    CLICKS,
    _visitors("newsletter_signup", "newsletter_signups", "Signups"),
    _step_rate("signup_rate", "Signup rate", 1),
    _visitors("course_enrollment", "course_enrollments", "Enrollments"),
    _step_rate("enrollment_rate", "Enrollment rate", 2),
    _visitors("purchase", "purchases", "Purchases"),
    _step_rate("purchase_rate", "Purchase rate", 3),
    Column(
        "overall_rate",
        "Overall rate",
        "rate",
        lambda f: f.funnel()[3].overall,
        _ratio_sql("purchase_visitors", "clicks"),
    ),
]

REVENUE_COLUMNS = [
    CLICKS,
    _count("purchase", "purchases", "Purchases"),
    _revenue("purchase", "Purchase revenue"),
    _count("course_enrollment", "course_enrollments", "Enrollments"),
    _revenue("course_enrollment", "Enrollment revenue"),
    _revenue("newsletter_signup", "Signup revenue"),
    Column("revenue", "Total revenue", "money", lambda f: f.revenue_by_currency, main_revenue_sql),
    Column("revenue_per_click", "Revenue per click", "money", lambda f: f.revenue_per_click, _main_revenue_per_click),
]


@dataclass(frozen=True)
class TableSpec:
    name: str  # "funnel" or "revenue"
    title: str
    columns: list[Column]
    default_sort: str


TABLES = {
    "funnel": TableSpec("funnel", "Funnel", FUNNEL_COLUMNS, "clicks"),
    "revenue": TableSpec("revenue", "Revenue", REVENUE_COLUMNS, "revenue"),
}
NAME_SORT = "name"
FILTER_MAX_LENGTH = 100
DEFAULT_ROWS_PER_PAGE = 50
MAX_ROWS_PER_PAGE = 200


@dataclass(frozen=True)
class TableQuery:
    """What a funnel or revenue page shows: range, grouping, filters and sort (from its query string)."""

    date_range: DateRange
    group: str = "video"
    video: str = ""
    campaign: str = ""
    sort: str = ""
    descending: bool = True
    page: int = 1
    per_page: int = DEFAULT_ROWS_PER_PAGE
    main_currency: str = "USD"  # what sorting by a money column compares

    def args(self, **changes) -> dict[str, str]:
        """Query-string arguments for this view, with `changes` applied (None drops one).

        Page 1 and the default page size are left out, so a link that changes the view without
        naming a page (a filter, a sort, a range) starts again from the first page."""
        values = {
            **self.date_range.args(),
            "group": self.group,
            "video": self.video,
            "campaign": self.campaign,
            "sort": self.sort,
            "dir": "desc" if self.descending else "asc",
            "page": self.page if self.page > 1 else None,
            "per_page": self.per_page if self.per_page != DEFAULT_ROWS_PER_PAGE else None,
        }
        values.update(changes)
        return {name: value for name, value in values.items() if value}

    def sort_args(self, key: str) -> dict[str, str]:
        """Arguments for a column header: its sort, descending first, flipping when already sorted by it;
        always from the first page."""
        if key == self.sort:
            return self.args(dir="asc" if self.descending else "desc", page=None)
        return self.args(sort=key, dir="asc" if key == NAME_SORT else "desc", page=None)


def _clean_filter(value: str | None) -> str:
    return "".join(ch for ch in (value or "") if ch.isprintable()).strip()[:FILTER_MAX_LENGTH]


def parse_table_query(
    spec: TableSpec, args: Mapping[str, str], date_range: DateRange, main_currency: str = "USD"
) -> tuple[TableQuery, PageInvalid | None]:
    """Grouping, filters, sort and page from a query string; unknown values fall back to the defaults.

    A bad `page` or `per_page` is refused (a number typed by hand deserves a reason, not a silent
    page 1): the query then shows the first page, and the refusal comes back beside it."""
    try:
        page, per_page = read_page(args, DEFAULT_ROWS_PER_PAGE, MAX_ROWS_PER_PAGE)
        refused = None
    except PageInvalid as exc:
        page, per_page, refused = 1, DEFAULT_ROWS_PER_PAGE, exc
    group = args.get("group") if args.get("group") in GROUPS else "video"
    keys = {column.key for column in spec.columns} | {NAME_SORT}
    sort = args.get("sort") if args.get("sort") in keys else spec.default_sort
    default_dir = "asc" if sort == NAME_SORT else "desc"
    direction = args.get("dir") if args.get("dir") in ("asc", "desc") else default_dir
    return TableQuery(
        date_range=date_range,
        group=group,
        video=_clean_filter(args.get("video")),
        campaign=_clean_filter(args.get("campaign")),
        sort=sort,
        descending=direction == "desc",
        page=page,
        per_page=per_page,
        main_currency=main_currency,
    ), refused


def _table_statement(user_id: int, spec: TableSpec, query: TableQuery):
    order = None
    if query.sort != NAME_SORT:
        order = next(column.order for column in spec.columns if column.key == query.sort)
    return grouped_query(
        user_id,
        query.date_range,
        query.group,
        video=query.video or None,
        campaign=query.campaign or None,
        order=order,
        descending=query.descending,
        main_currency=query.main_currency,
    )


def table_rows(user_id: int, spec: TableSpec, query: TableQuery, *, stream: bool = False) -> Iterator[GroupRow]:
    """Every row of a funnel or revenue table (all pages) in the order the page shows them: the CSV."""
    return grouped_rows(
        _table_statement(user_id, spec, query), query.group, stream=stream, money=_money(user_id, query)
    )


@dataclass(frozen=True)
class TablePage:
    rows: list[GroupRow]
    count: PageCount


def table_page(user_id: int, spec: TableSpec, query: TableQuery, *, limit: int | None = None) -> TablePage:
    """One page of a table: sorted in SQL, then LIMIT/OFFSET, so page 2 continues page 1's order.

    PageInvalid when `query.page` is past the last page (the count is known only here). `limit`
    cuts the page shorter (the revenue chart's first rows)."""
    statement = _table_statement(user_id, spec, query)
    total = reports_session().scalar(select(func.count()).select_from(statement.order_by(None).subquery()))
    count = PageCount(query.page, query.per_page, total)
    if query.page > count.pages:
        raise PageInvalid([("page", f"page {query.page} is past the last page: there are {count.pages}.")])
    size = min(query.per_page, limit) if limit else query.per_page
    rows = list(grouped_rows(statement.limit(size).offset(count.offset), query.group, money=_money(user_id, query)))
    return TablePage(rows, count)


def _money(user_id: int, query: TableQuery):
    """The table's groups' amounts per currency (the rows' money, never summed across currencies)."""
    filters = link_filters(query.video or None, query.campaign or None)
    return group_money(user_id, query.date_range, query.group, *filters)


def table_totals(user_id: int, query: TableQuery) -> Figures:
    """The filtered totals above a table (links, videos or campaigns together)."""
    rows = counter_rows(query.date_range, user_id=user_id)
    conditions, money_conditions = [], [LinkDailyRevenue.user_id == user_id]
    if query.video or query.campaign:
        filters = link_filters(query.video or None, query.campaign or None)
        links = select(CampaignLink.id).where(CampaignLink.user_id == user_id, *filters)
        conditions.append(rows.c.campaign_link_id.in_(links))
        money_conditions.append(LinkDailyRevenue.campaign_link_id.in_(links))
    return summed_figures(rows, *conditions, money=money_where(query.date_range, *money_conditions))


def filter_options(user_id: int) -> tuple[list[str], list[str]]:
    """The creator's video ids and campaign names, for the filter menus (one row per link at most)."""
    videos = (
        reports_session()
        .scalars(
            select(CampaignLink.video_id)
            .where(CampaignLink.user_id == user_id)
            .distinct()
            .order_by(CampaignLink.video_id)
        )
        .all()
    )
    campaigns = (
        reports_session()
        .scalars(
            select(CampaignLink.campaign)
            .where(CampaignLink.user_id == user_id, CampaignLink.campaign.is_not(None))
            .distinct()
            .order_by(CampaignLink.campaign)
        )
        .all()
    )
    has_unnamed = reports_session().scalar(
        select(CampaignLink.id).where(CampaignLink.user_id == user_id, CampaignLink.campaign.is_(None)).limit(1)
    )
    return list(videos), list(campaigns) + ([NO_CAMPAIGN] if has_unnamed else [])


def group_headers(group: str) -> list[str]:
    """The leading columns that name a row: link, video and campaign for links."""
    return ["link", "video", "campaign"] if group == "link" else [group]


def csv_cell(kind: str, value: Any) -> str:
    """A value as the CSV writes it: counts as integers, rates as fractions ("" for none)."""
    if value is None:
        return ""
    if kind == "rate":
        return f"{value:.4f}"
    return str(value)


def csv_currencies(totals: Figures, main_currency: str) -> list[str]:
    """The currencies a CSV has money columns for: every one in the table's totals, main first (the
    main currency alone when there is no revenue)."""
    return main_first([*totals.revenue_by_currency, main_currency], main_currency)


def csv_header(spec: TableSpec, group: str, currencies: list[str]) -> list[str]:
    """Counts and rates under their key; money once per currency (`revenue_USD`), never summed."""
    names = []
    for column in spec.columns:
        names += [f"{column.key}_{code}" for code in currencies] if column.kind == "money" else [column.key]
    return group_headers(group) + names


def csv_text(value: str | None) -> str:
    """Text a spreadsheet will not run as a formula (a name starting with =, +, - or @)."""
    value = value or ""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def csv_records(
    spec: TableSpec, query: TableQuery, rows: Iterator[GroupRow], currencies: list[str]
) -> Iterator[list[str]]:
    """The header and then one record per row: the table's columns in the page's order, a money
    column once per currency of `currencies` (csv_currencies), in that currency's minor units."""
    yield csv_header(spec, query.group, currencies)
    for row in rows:
        names = [row.label, row.video_id, row.campaign or NO_CAMPAIGN] if row.group == "link" else [row.label]
        cells = [csv_text(name) for name in names]
        for column in spec.columns:
            value = column.value(row.figures)
            if column.kind == "money":
                cells += [money(value.get(code, 0), code) if value is not None else "" for code in currencies]
            else:
                cells.append(csv_cell(column.kind, value))
        yield cells
