"""Keeping the aggregates (LinkDailyStats and its LinkMonthlyStats and UserDailyStats rollups,
LinkDailyLag, LinkDailyBreakdown) equal to the raw events.

Three ways in, one arithmetic:
- `count_clicks` runs in the click writer's transaction, right after a batch is inserted: it
  reads those rows back by tracking id (is_unique is decided by the INSERT itself) and adds them.
- `count_conversions` adds conversions in batches after their commit (counting/conversions.py): each
  conversion's commit also stores an UncountedConversion row, and the batch that counts it deletes
  that row in the same transaction, so a conversion is counted once, even if its process dies.
- `recount_daily_stats` corrects rows to the raw events, for bulk loads (demo, benchmarks), after
  cleanup deletes events, and to check the other two (tests assert they agree).

A recount is exact while clicks and conversions keep arriving, without stopping them. Every
writer's transaction keeps "aggregates = counts of the raw events minus those of the uncounted
conversions" as true as it was (a click batch adds the clicks it inserts; a conversion stores its
event and its uncounted row; a count batch adds what it deletes); only deleted events, bulk loads
and the first-conversion race below make it false. A recount measures that drift (what the rows
must be minus what they are) in one snapshot and adds it, as the writers add theirs, in one
transaction: additions commute, so whatever the writers commit in between is kept, counted once.
On PostgreSQL the snapshot is a READ ONLY REPEATABLE READ transaction (it neither waits for
writers nor fails) and the addition a READ COMMITTED one that locks only the rows that drifted, in
the writers' order; an advisory lock, taken before the snapshot, runs one recount at a time (two
would add one drift twice). On SQLite, one writer at a time, it is one transaction holding the
write lock from its first read (BEGIN IMMEDIATE), so nothing commits in between: exact, as the
delete-and-rebuild it replaced already was there. Uncounted conversions are left to their batch.

Every change to a link's day is added to its month's row and to its creator's day in the same
transaction, so the rollups are always the sums of the daily rows. Days are UTC dates: clicks by click day,
conversions by conversion day. Breakdowns count the same clicks as `clicks` (bots left out) per
referrer host, device, browser and os. Two first conversions of one visitor and type recorded at
the same instant by two processes may both count as the visitor's first; a recount settles it.
"""

import functools
import uuid
from collections import Counter
from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from urllib.parse import urlsplit

from sqlalchemy import (
    Column,
    Date,
    Integer,
    MetaData,
    Numeric,
    Table,
    Text,
    and_,
    case,
    cast,
    delete,
    func,
    literal,
    or_,
    select,
    tuple_,
    union_all,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.sql import bindparam

from ..extensions import db
from ..models import (
    EVENT_TYPES,
    CampaignLink,
    ClickEvent,
    ConversionEvent,
    LinkDailyBreakdown,
    LinkDailyLag,
    LinkDailyStats,
    LinkMonthlyStats,
    UncountedConversion,
    User,
    UserDailyStats,
)

STATS = LinkDailyStats.__table__
MONTHS = LinkMonthlyStats.__table__
USER_DAYS = UserDailyStats.__table__
LAGS = LinkDailyLag.__table__
UNCOUNTED = UncountedConversion.__table__
BREAKDOWNS = LinkDailyBreakdown.__table__
BREAKDOWN_KEYS = ["campaign_link_id", "day", "dimension", "value"]
# The click columns each breakdown dimension counts by ('referrer' is reduced to its host).
DIMENSIONS = {
    "referrer": ClickEvent.referrer,
    "device": ClickEvent.device_type,
    "browser": ClickEvent.browser,
    "os": ClickEvent.os,
}
VALUE_LENGTH = LinkDailyBreakdown.__table__.c.value.type.length
CONVERSION_COUNTERS = [
    f"{event_type}_{suffix}" for event_type in EVENT_TYPES for suffix in ("count", "visitors", "revenue")
]
COUNTERS = ["clicks", "unique_clicks", "bot_clicks", *CONVERSION_COUNTERS]


def utc_day(column, dialect_name: str):
    """The UTC calendar day of a timestamp column, as SQL for this database."""
    if dialect_name == "postgresql":
        return cast(func.timezone("UTC", column), Date)
    return func.date(column)  # SQLite keeps UTC timestamps without a zone (models.UTCDateTime)


def _upsert(connection: Connection, table, keys: list[str], rows: list[dict]) -> None:
    """Add `rows` to `table`: insert new keys, add every other column to existing ones.

    Rows go in key order, and every writer upserts the tables in the same order (days, months,
    creator days, then lags or breakdowns), so two transactions touching the same rows lock them
    in the same order and never deadlock each other.
    """
    if rows:
        rows = sorted(rows, key=lambda row: tuple(str(row[name]) for name in keys))
        connection.execute(_upsert_statement(connection.dialect.name, table.name, tuple(keys), tuple(rows[0])), rows)


@functools.lru_cache(maxsize=64)
def _upsert_statement(dialect_name: str, table_name: str, keys: tuple[str, ...], columns: tuple[str, ...]):
    """Built once per shape: constructing the ON CONFLICT clause cost more than running it."""
    table = {table.name: table for table in (STATS, MONTHS, USER_DAYS, LAGS, BREAKDOWNS)}[table_name]
    statement = (postgresql.insert if dialect_name == "postgresql" else sqlite.insert)(table)
    return _adding_on_conflict(statement, table, keys, _counted(columns, keys))


def _counted(columns, keys) -> list[str]:
    """The columns an upsert adds up: all but the key and the owner (user_id)."""
    return [name for name in columns if name not in keys and name != "user_id"]


def _adding_on_conflict(statement, table, keys, counted: list[str]):
    """`statement` (an INSERT into `table`) adding `counted` to the row already there for its key."""
    return statement.on_conflict_do_update(
        index_elements=list(keys), set_={name: table.c[name] + statement.excluded[name] for name in counted}
    )


def _add_to_days_and_months(connection: Connection, rows: list[dict]) -> None:
    """Add LinkDailyStats rows to their days, and the same counters to their link's months and
    their creator's days."""
    _upsert(connection, STATS, ["campaign_link_id", "day"], rows)
    months = _folded(
        rows, lambda row: {"campaign_link_id": row["campaign_link_id"], "month": row["day"].replace(day=1)}
    )
    _upsert(connection, MONTHS, ["campaign_link_id", "month"], months)
    _upsert(connection, USER_DAYS, ["user_id", "day"], _folded(rows, lambda row: {"day": row["day"]}))


def _folded(rows: list[dict], key) -> list[dict]:
    """`rows`' counters summed per `key(row)` (a dict of the new key columns), with their user_id."""
    folded: dict[tuple, dict] = {}
    for row in rows:
        keys = key(row)
        counters = {name: row[name] for name in COUNTERS if name in row}
        entry = folded.get((row["user_id"], *keys.values()))
        if entry is None:
            folded[(row["user_id"], *keys.values())] = {**keys, "user_id": row["user_id"], **counters}
        else:
            for name, value in counters.items():
                entry[name] += value
    return list(folded.values())


def referrer_host(referrer: str | None) -> str:
    """The site a referrer names (its host, lower case), '' for none or an unreadable one.

    Only the host is kept: the page a viewer came from is private, its site is not.
    """
    if not referrer:
        return ""
    try:
        host = urlsplit(referrer).hostname
    except ValueError:
        host = None
    return (host or "")[:VALUE_LENGTH]


def _breakdown_value(dimension: str, value: str | None) -> str:
    if dimension == "referrer":
        return referrer_host(value)
    return (value or "")[:VALUE_LENGTH]


def _breakdown_rows(grouped) -> list[dict]:
    """Fold (link, day, user, referrer, device, browser, os, clicks) rows into breakdown rows."""
    folded: dict[tuple, dict] = {}
    for row in grouped:
        link_id, day, user_id, *values, clicks = row
        if isinstance(day, str):
            day = date.fromisoformat(day)
        for dimension, value in zip(DIMENSIONS, values, strict=True):
            key = (link_id, day, dimension, _breakdown_value(dimension, value))
            entry = folded.get(key)
            if entry is None:
                folded[key] = {**dict(zip(BREAKDOWN_KEYS, key, strict=True)), "user_id": user_id, "clicks": clicks}
            else:
                entry["clicks"] += clicks
    return list(folded.values())


def _grouped_clicks(dialect_name: str, *conditions, kinds: bool = False):
    """Clicks per link, day, user and every breakdown column (for _breakdown_rows): people only,
    or with `kinds` every click, grouped by is_bot and is_unique too (for count_clicks)."""
    day = utc_day(ClickEvent.clicked_at, dialect_name)
    columns = [ClickEvent.campaign_link_id, day, CampaignLink.user_id, *DIMENSIONS.values()]
    if kinds:
        columns += [ClickEvent.is_bot, ClickEvent.is_unique]
    else:
        conditions = (~ClickEvent.is_bot, *conditions)
    return (
        select(*columns, func.count())
        .join(CampaignLink, CampaignLink.id == ClickEvent.campaign_link_id)
        .where(*conditions)
        .group_by(*columns)
    )


def count_clicks(connection: Connection, tracking_ids: Iterable[uuid.UUID]) -> None:
    """Add just-inserted clicks (found by tracking id) to their links' days and breakdowns.

    One read of the batch's clicks, grouped by everything either needs; the statement is built
    once per database, and on PostgreSQL its ids are one array parameter, so the SQL text is the
    same for every batch (psycopg prepares it) instead of an IN list rendered per batch size.
    """
    tracking_ids = list(tracking_ids)
    if not tracking_ids:
        return
    grouped = connection.execute(_clicks_of_batch(connection.dialect.name), {"tracking_ids": tracking_ids}).all()
    days: dict[tuple, dict] = {}
    for link_id, day, user_id, *_, is_bot, is_unique, clicks in grouped:
        row = days.get((link_id, day))
        if row is None:
            row = days[(link_id, day)] = {
                "campaign_link_id": link_id,
                "day": day,
                "user_id": user_id,
                "clicks": 0,
                "unique_clicks": 0,
                "bot_clicks": 0,
            }
        if is_bot:
            row["bot_clicks"] += clicks
        else:
            row["clicks"] += clicks
            row["unique_clicks"] += clicks if is_unique else 0
    _add_to_days_and_months(connection, [_as_date(row) for row in days.values()])
    people = [(*row[:-3], row[-1]) for row in grouped if not row[-3]]  # (link, day, user, *dimensions, clicks)
    _upsert(connection, BREAKDOWNS, BREAKDOWN_KEYS, _breakdown_rows(people))


@functools.cache
def _clicks_of_batch(dialect_name: str):
    """_grouped_clicks with kinds, for a batch's tracking ids (the `tracking_ids` parameter)."""
    if dialect_name == "postgresql":
        ids = bindparam("tracking_ids", type_=postgresql.ARRAY(ClickEvent.tracking_id.type))
        of_batch = ClickEvent.tracking_id == func.any(ids)
    else:
        of_batch = ClickEvent.tracking_id.in_(bindparam("tracking_ids", expanding=True))
    return _grouped_clicks(dialect_name, of_batch, kinds=True)


def count_conversions(
    connection: Connection, conversion_ids: list[uuid.UUID] | None = None, *, recorded_before=None, limit: int = 500
) -> int:
    """Add uncounted conversions to their link's day and month, their creator's day and the
    days-to-convert distribution, in the caller's transaction: `conversion_ids` (the recording
    process's own batch), or up to `limit` recorded before `recorded_before` (the sweep, for a
    batch its process never wrote). Returns how many were counted.

    Each conversion is counted by the transaction that deletes its UncountedConversion row, so
    concurrent batches and sweeps never count one twice; on PostgreSQL rows another transaction
    holds are skipped, not waited for.
    """
    chosen = select(UNCOUNTED.c.conversion_id).limit(limit)
    if conversion_ids is not None:
        chosen = chosen.where(UNCOUNTED.c.conversion_id.in_(conversion_ids))
    if recorded_before is not None:
        chosen = chosen.where(UNCOUNTED.c.recorded_at < recorded_before)
    if connection.dialect.name == "postgresql":
        chosen = chosen.with_for_update(skip_locked=True)
    rows = connection.execute(
        delete(UNCOUNTED).where(UNCOUNTED.c.conversion_id.in_(chosen)).returning(*UNCOUNTED.c)
    ).all()
    if not rows:
        return 0
    days = [
        {
            "campaign_link_id": row.campaign_link_id,
            "day": row.converted_on,
            "user_id": row.user_id,
            **_conversion_counters(row.event_type, row.revenue_amount, row.first_of_type),
        }
        for row in rows
    ]
    _add_to_days_and_months(
        connection, _folded(days, lambda row: {"campaign_link_id": row["campaign_link_id"], "day": row["day"]})
    )
    lags: Counter = Counter((row.campaign_link_id, row.converted_on, row.days_since_click, row.user_id) for row in rows)
    _upsert(
        connection,
        LAGS,
        ["campaign_link_id", "day", "days_since_click"],
        [
            {"campaign_link_id": link, "day": day, "days_since_click": lag, "user_id": user_id, "conversions": count}
            for (link, day, lag, user_id), count in lags.items()
        ],
    )
    return len(rows)


def _conversion_counters(event_type: str, revenue: Decimal | None, first_of_type: bool) -> dict:
    """Every conversion counter of a daily row, for one conversion (the same shape for every type,
    so rows of different types fold and upsert together)."""
    counters = {name: Decimal("0") if name.endswith("_revenue") else 0 for name in CONVERSION_COUNTERS}
    counters[f"{event_type}_count"] = 1
    counters[f"{event_type}_visitors"] = 1 if first_of_type else 0
    counters[f"{event_type}_revenue"] = revenue or Decimal("0")
    return counters


def recount_daily_stats(link_ids: Iterable[uuid.UUID] | None = None) -> None:
    """Correct the aggregates of `link_ids` (every link when None) to equal the raw events: their
    drift is measured in one snapshot and added in one transaction (see the module docstring)."""
    link_ids = None if link_ids is None else list(link_ids)
    with db.engine.connect() as connection:
        connection.detach()  # closed at the end, not pooled: its session lock and temp tables end with it
        if connection.dialect.name != "postgresql":
            with connection.begin():
                connection.exec_driver_sql("BEGIN IMMEDIATE")  # SQLite's one writer, from the first read
                _TEMPORARY.create_all(connection, checkfirst=False)
                _measure_drift(connection, link_ids)
                _correct_drift(connection)
            return
        with connection.begin():
            connection.execute(select(func.pg_advisory_lock(RECOUNT_LOCK)))  # before the snapshot below
            _TEMPORARY.create_all(connection, checkfirst=False)
        with connection.begin():
            connection.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            _measure_drift(connection, link_ids)
        with connection.begin():
            connection.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL READ COMMITTED")
            _correct_drift(connection)


RECOUNT_LOCK = 0x6C74_7263_6F75_6E74  # PostgreSQL advisory lock key ("ltrcount"): one recount at a time
RECOUNT_BATCH = 10_000
# Every aggregate and its key, in the order every writer locks them (_upsert).
AGGREGATES = [
    (STATS, ["campaign_link_id", "day"]),
    (MONTHS, ["campaign_link_id", "month"]),
    (USER_DAYS, ["user_id", "day"]),
    (LAGS, ["campaign_link_id", "day", "days_since_click"]),
    (BREAKDOWNS, BREAKDOWN_KEYS),
]
_TEMPORARY = MetaData()


def _temporary_copy(table, name: str) -> Table:
    columns = [Column(column.name, column.type) for column in table.columns]
    return Table(name, _TEMPORARY, *columns, prefixes=["TEMPORARY"])


# What each aggregate must be minus what it is, per key, for the keys where they differ.
DRIFT = {table.name: _temporary_copy(table, f"recount_drift_{table.name}") for table, _ in AGGREGATES}
# The daily rows as they must be (the months and creator days are their sums), and the breakdowns.
DAYS_DUE = _temporary_copy(STATS, "recount_days_due")
BREAKDOWNS_DUE = _temporary_copy(BREAKDOWNS, "recount_breakdowns_due")


def _measure_drift(connection: Connection, link_ids) -> None:
    """Fill the DRIFT tables, reading everything in the caller's one snapshot.

    What an aggregate must hold is the raw events' counts minus the uncounted conversions' (their
    batch adds those later); what it holds is read in the same snapshot.
    """
    dialect_name = connection.dialect.name
    users = None  # a creator's days sum all their links: rebuilt whole, for the creators owning link_ids
    if link_ids is not None:
        users = connection.scalars(select(CampaignLink.user_id).where(CampaignLink.id.in_(link_ids)).distinct()).all()
    connection.execute(
        DAYS_DUE.insert().from_select(
            ["campaign_link_id", "day", "user_id", *COUNTERS], _stats_from_events(dialect_name, link_ids)
        )
    )
    due = DAYS_DUE.c
    counters = [due[name] for name in COUNTERS]
    _insert_drift(connection, STATS, [select(*due)], _only(STATS.c.campaign_link_id, link_ids))
    month = first_of_month(due.day, dialect_name).label("month")
    months = select(due.campaign_link_id, month, due.user_id, *counters)
    _insert_drift(connection, MONTHS, [months], _only(MONTHS.c.campaign_link_id, link_ids))
    user_days = [select(due.user_id, due.day, *counters)]
    if link_ids is not None:  # the creators' other links count as they are
        others = STATS.c.user_id.in_(users) & STATS.c.campaign_link_id.not_in(link_ids)
        user_days.append(select(STATS.c.user_id, STATS.c.day, *[STATS.c[name] for name in COUNTERS]).where(others))
    _insert_drift(connection, USER_DAYS, user_days, _only(USER_DAYS.c.user_id, users))
    _insert_drift(connection, LAGS, _lags_from_events(dialect_name, link_ids), _only(LAGS.c.campaign_link_id, link_ids))
    _breakdowns_due(connection, link_ids)
    breakdowns = [select(*BREAKDOWNS_DUE.c)]
    _insert_drift(connection, BREAKDOWNS, breakdowns, _only(BREAKDOWNS.c.campaign_link_id, link_ids))


def _insert_drift(connection: Connection, table, due: list, current) -> None:
    """DRIFT[table] = the rows of the `due` selects (the table's columns, in its order, several per
    key allowed) minus the table's rows matching `current`, summed per key; only keys where that is
    not zero."""
    keys = dict(AGGREGATES)[table]
    counted = _counted(table.columns.keys(), keys)
    columns = [*keys, *([] if "user_id" in keys else ["user_id"]), *counted]
    now = select(*[table.c[name] if name not in counted else (-table.c[name]).label(name) for name in columns])
    rows = union_all(*due, now.where(current)).subquery()
    sums = {name: _money_rounded(table.c[name], func.sum(rows.c[name])) for name in counted}
    user = [] if "user_id" in keys else [func.max(rows.c.user_id)]
    connection.execute(
        DRIFT[table.name]
        .insert()
        .from_select(
            columns,
            select(*[rows.c[name] for name in keys], *user, *sums.values())
            .group_by(*[rows.c[name] for name in keys])
            .having(or_(*[total != 0 for total in sums.values()])),
        )
    )


def _money_rounded(column, value):
    """SQLite sums money as floats: rounded to cents, a difference of 1e-14 is none."""
    return func.round(value, 2) if isinstance(column.type, Numeric) else value


def _correct_drift(connection: Connection) -> None:
    """Add DRIFT to the aggregates, as every writer adds to them, and delete the rows left at zero.

    Rows are locked in the order writers lock them (_upsert: tables in AGGREGATES order, keys
    as text), so this transaction and a click or count batch never deadlock.
    """
    postgres = connection.dialect.name == "postgresql"
    for table, keys in AGGREGATES:
        drift = DRIFT[table.name].c
        counted = _counted(table.columns.keys(), keys)
        owner = (
            drift.user_id.in_(select(User.id))
            if "user_id" in keys
            else drift.campaign_link_id.in_(select(CampaignLink.id))
        )
        rows = select(*drift).where(owner)  # a link deleted since the snapshot keeps no counts
        if postgres:
            rows = rows.order_by(*[cast(drift[name], Text).collate("C") for name in keys])
        statement = (postgresql.insert if postgres else sqlite.insert)(table).from_select(list(drift.keys()), rows)
        connection.execute(_adding_on_conflict(statement, table, keys, counted))
        zero = [_money_rounded(table.c[name], table.c[name]) == 0 for name in counted]
        touched = tuple_(*[table.c[name] for name in keys]).in_(select(*[drift[name] for name in keys]))
        connection.execute(delete(table).where(touched, *zero))


def _breakdowns_due(connection: Connection, link_ids) -> None:
    """Breakdown rows from the raw clicks, one link at a time (referrers are folded to hosts here)."""
    if link_ids is None:
        link_ids = connection.scalars(select(CampaignLink.id).order_by(CampaignLink.id)).all()
    for link_id in link_ids:
        grouped = connection.execute(
            _grouped_clicks(connection.dialect.name, ClickEvent.campaign_link_id == link_id)
        ).all()
        rows = _breakdown_rows(grouped)
        for start in range(0, len(rows), RECOUNT_BATCH):
            connection.execute(BREAKDOWNS_DUE.insert(), rows[start : start + RECOUNT_BATCH])


def _only(column, link_ids):
    return column.in_(link_ids) if link_ids is not None else literal(True)


def _counter_columns(click_values, per_type) -> list:
    """The COUNTERS columns in their order: the three click counts, then per event type the
    (count, visitors, revenue) that `per_type(event_type)` gives."""
    values = [*click_values, *(value for event_type in EVENT_TYPES for value in per_type(event_type))]
    return [value.label(name) for value, name in zip(values, COUNTERS, strict=True)]


def _stats_from_events(dialect_name: str, link_ids):
    """One row per link and day: clicks, conversions and first conversions, summed from a UNION ALL."""
    zero, money_zero = literal(0, Integer), literal(Decimal("0"))
    no_clicks = (zero, zero, zero)

    clicks = select(
        ClickEvent.campaign_link_id.label("link_id"),
        utc_day(ClickEvent.clicked_at, dialect_name).label("day"),
        *_counter_columns(
            (
                case((~ClickEvent.is_bot, 1), else_=0),
                case((and_(~ClickEvent.is_bot, ClickEvent.is_unique), 1), else_=0),
                case((ClickEvent.is_bot, 1), else_=0),
            ),
            lambda event_type: (zero, zero, money_zero),
        ),
    ).where(_only(ClickEvent.campaign_link_id, link_ids))

    def conversion_values(event_type):
        is_type = ConversionEvent.event_type == event_type
        revenue = func.coalesce(ConversionEvent.revenue_amount, 0)
        return case((is_type, 1), else_=0), zero, case((is_type, revenue), else_=money_zero)

    conversions = select(
        ConversionEvent.campaign_link_id.label("link_id"),
        utc_day(ConversionEvent.converted_at, dialect_name).label("day"),
        *_counter_columns(no_clicks, conversion_values),
    ).where(_only(ConversionEvent.campaign_link_id, link_ids))

    first = (
        select(
            ConversionEvent.campaign_link_id.label("link_id"),
            ConversionEvent.event_type.label("event_type"),
            func.min(ConversionEvent.converted_at).label("first_at"),
        )
        .where(_only(ConversionEvent.campaign_link_id, link_ids))
        .group_by(ConversionEvent.campaign_link_id, ConversionEvent.tracking_id, ConversionEvent.event_type)
        .subquery()
    )
    firsts = select(
        first.c.link_id,
        utc_day(first.c.first_at, dialect_name).label("day"),
        *_counter_columns(
            no_clicks,
            lambda event_type: (zero, case((first.c.event_type == event_type, 1), else_=0), money_zero),
        ),
    )

    def not_yet_counted(event_type):
        is_type = UNCOUNTED.c.event_type == event_type
        revenue = -func.coalesce(UNCOUNTED.c.revenue_amount, 0)
        first = and_(is_type, UNCOUNTED.c.first_of_type)
        return case((is_type, -1), else_=0), case((first, -1), else_=0), case((is_type, revenue), else_=money_zero)

    uncounted = select(
        UNCOUNTED.c.campaign_link_id.label("link_id"),
        UNCOUNTED.c.converted_on.label("day"),
        *_counter_columns(no_clicks, not_yet_counted),
    ).where(_only(UNCOUNTED.c.campaign_link_id, link_ids))
    events = union_all(clicks, conversions, firsts, uncounted).subquery()
    return (
        select(
            events.c.link_id.label("campaign_link_id"),
            events.c.day,
            CampaignLink.user_id,
            *[func.sum(events.c[name]).label(name) for name in COUNTERS],
        )
        .join(CampaignLink, CampaignLink.id == events.c.link_id)
        .group_by(events.c.link_id, events.c.day, CampaignLink.user_id)
    )


def first_of_month(day_column, dialect_name: str):
    """The first day of a Date column's month, as SQL for this database."""
    if dialect_name == "postgresql":
        return cast(func.date_trunc("month", day_column), Date)
    return func.date(day_column, "start of month")


def _lags_from_events(dialect_name: str, link_ids):
    """Conversions per link, conversion day and whole days since their click, and the uncounted ones
    as -1 each: two selects, for the caller to sum per key."""
    day = utc_day(ConversionEvent.converted_at, dialect_name).label("day")
    lag = _whole_days_between(ClickEvent.clicked_at, ConversionEvent.converted_at, dialect_name).label(
        "days_since_click"
    )
    counted = (
        select(ConversionEvent.campaign_link_id, day, lag, CampaignLink.user_id, func.count().label("conversions"))
        .join(ClickEvent, ClickEvent.tracking_id == ConversionEvent.tracking_id)
        .join(CampaignLink, CampaignLink.id == ConversionEvent.campaign_link_id)
        .where(_only(ConversionEvent.campaign_link_id, link_ids))
        .group_by(ConversionEvent.campaign_link_id, day, lag, CampaignLink.user_id)
    )
    uncounted = select(
        UNCOUNTED.c.campaign_link_id,
        UNCOUNTED.c.converted_on,
        UNCOUNTED.c.days_since_click,
        UNCOUNTED.c.user_id,
        literal(-1),
    ).where(_only(UNCOUNTED.c.campaign_link_id, link_ids))
    return [counted, uncounted]


def _whole_days_between(start, end, dialect_name: str):
    """floor((end - start) / 1 day) in SQL, the same rule as tracking.service.days_since_click."""
    if dialect_name == "postgresql":
        return cast(func.floor(func.extract("epoch", end - start) / 86400), Integer)
    # Whole milliseconds first: a float difference of julian days can land a hair under a whole day.
    milliseconds = cast(func.round((func.julianday(end) - func.julianday(start)) * 86_400_000), Integer)
    return milliseconds // 86_400_000


def _as_date(row: dict) -> dict:
    """SQLite answers date() as text; the Date column wants a date."""
    if isinstance(row["day"], str):
        row["day"] = date.fromisoformat(row["day"])
    return row
