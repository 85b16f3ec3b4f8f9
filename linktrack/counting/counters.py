"""Adding raw events to the aggregates (LinkDailyStats and its LinkMonthlyStats and UserDailyStats
rollups, LinkDailyLag, LinkDailyBreakdown): the writers' upserts.

Two ways in, one arithmetic:
- `add_clicks` runs in the click writer's transaction, right after a batch is inserted: it reads
  those rows back by tracking id (is_unique is decided by the INSERT itself) and adds them.
- `add_conversions` adds conversions in batches after their commit (counting/conversions.py): each
  conversion's commit also stores an UncountedConversion row, and the batch that counts it deletes
  that row in the same transaction, so a conversion is counted once, even if its process dies.
The third, `recount_daily_stats` (counting/recount.py), corrects the rows to the raw events.

Every change to a link's day is added to its month's row and to its creator's day in the same
transaction, so the rollups are always the sums of the daily rows. Days are UTC dates: clicks by
click day, conversions by conversion day. Breakdowns count the same clicks as `clicks` (bots left
out) per referrer host, device, browser and os. Two first conversions of one visitor and type
recorded at the same instant by two processes may both count as the visitor's first; a recount
settles it.
"""

import functools
import uuid
from collections import Counter
from collections.abc import Iterable
from decimal import Decimal
from urllib.parse import urlsplit

from sqlalchemy import delete, func, select
from sqlalchemy.engine import Connection

from .. import dialect
from ..models import (
    EVENT_TYPES,
    CampaignLink,
    ClickEvent,
    LinkDailyBreakdown,
    LinkDailyLag,
    LinkDailyStats,
    LinkMonthlyStats,
    UncountedConversion,
    UserDailyStats,
)

STATS = LinkDailyStats.__table__
MONTHS = LinkMonthlyStats.__table__
USER_DAYS = UserDailyStats.__table__
LAGS = LinkDailyLag.__table__
UNCOUNTED = UncountedConversion.__table__
BREAKDOWNS = LinkDailyBreakdown.__table__
BREAKDOWN_KEYS = ["campaign_link_id", "day", "dimension", "value"]
# Every aggregate and its key, in the order every writer locks them (upsert).
AGGREGATES = [
    (STATS, ["campaign_link_id", "day"]),
    (MONTHS, ["campaign_link_id", "month"]),
    (USER_DAYS, ["user_id", "day"]),
    (LAGS, ["campaign_link_id", "day", "days_since_click"]),
    (BREAKDOWNS, BREAKDOWN_KEYS),
]
KEYS = {table.name: keys for table, keys in AGGREGATES}
# The click columns each breakdown dimension counts by ('referrer' is reduced to its host).
DIMENSIONS = {
    "referrer": ClickEvent.referrer,
    "device": ClickEvent.device_type,
    "browser": ClickEvent.browser,
    "os": ClickEvent.os,
}
VALUE_LENGTH = BREAKDOWNS.c.value.type.length
CONVERSION_COUNTERS = [
    f"{event_type}_{suffix}" for event_type in EVENT_TYPES for suffix in ("count", "visitors", "revenue")
]
COUNTERS = ["clicks", "unique_clicks", "bot_clicks", *CONVERSION_COUNTERS]


def add_clicks(connection: Connection, tracking_ids: Iterable[uuid.UUID]) -> None:
    """Add just-inserted clicks (found by tracking id) to their links' days and breakdowns.

    One read of the batch's clicks, grouped by everything either needs; the statement is built
    once per database, with the ids as one list parameter whose SQL text is the same for every
    batch (dialect.in_list_parameter) instead of an IN list rendered per batch size.
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
    _add_to_days_and_months(connection, list(days.values()))
    people = [(*row[:-3], row[-1]) for row in grouped if not row[-3]]  # (link, day, user, *dimensions, clicks)
    upsert(connection, BREAKDOWNS, breakdown_rows(people))


def add_conversions(
    connection: Connection, conversion_ids: list[uuid.UUID] | None = None, *, recorded_before=None, limit: int = 500
) -> int:
    """Add uncounted conversions to their link's day and month, their creator's day and the
    days-to-convert distribution, in the caller's transaction: `conversion_ids` (the recording
    process's own batch), or up to `limit` recorded before `recorded_before` (the sweep, for a
    batch its process never wrote). Returns how many were counted.

    Each conversion is counted by the transaction that deletes its UncountedConversion row, so
    concurrent batches and sweeps never count one twice; rows another transaction holds are
    skipped, not waited for.
    """
    chosen = select(UNCOUNTED.c.conversion_id).limit(limit)
    if conversion_ids is not None:
        chosen = chosen.where(UNCOUNTED.c.conversion_id.in_(conversion_ids))
    if recorded_before is not None:
        chosen = chosen.where(UNCOUNTED.c.recorded_at < recorded_before)
    chosen = dialect.skip_locked(chosen, connection.dialect.name)
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
    upsert(
        connection,
        LAGS,
        [
            {"campaign_link_id": link, "day": day, "days_since_click": lag, "user_id": user_id, "conversions": count}
            for (link, day, lag, user_id), count in lags.items()
        ],
    )
    return len(rows)


def upsert(connection: Connection, table, rows: list[dict]) -> None:
    """Add `rows` to `table`: insert new keys, add every other column to existing ones.

    Rows go in key order, and every writer upserts the tables in the same order (AGGREGATES:
    days, months, creator days, then lags or breakdowns), so two transactions touching the same
    rows lock them in the same order and never deadlock each other.
    """
    if rows:
        keys = KEYS[table.name]
        rows = sorted(rows, key=lambda row: tuple(str(row[name]) for name in keys))
        connection.execute(_upsert_statement(connection.dialect.name, table.name, tuple(rows[0])), rows)


@functools.lru_cache(maxsize=64)
def _upsert_statement(dialect_name: str, table_name: str, columns: tuple[str, ...]):
    """Built once per shape: constructing the ON CONFLICT clause cost more than running it."""
    table = next(table for table, _ in AGGREGATES if table.name == table_name)
    return adding_on_conflict(dialect.insert(table, dialect_name), table, columns)


def counted_columns(table, columns=None) -> list[str]:
    """The columns of `table` (or of `columns`) an upsert adds up: all but the key and the owner."""
    keys = KEYS[table.name]
    return [name for name in (columns or table.columns.keys()) if name not in keys and name != "user_id"]


def adding_on_conflict(statement, table, columns=None):
    """`statement` (an INSERT into `table`) adding its counted columns to the row already there
    for its key."""
    return statement.on_conflict_do_update(
        index_elements=KEYS[table.name],
        set_={name: table.c[name] + statement.excluded[name] for name in counted_columns(table, columns)},
    )


def _add_to_days_and_months(connection: Connection, rows: list[dict]) -> None:
    """Add LinkDailyStats rows to their days, and the same counters to their link's months and
    their creator's days."""
    upsert(connection, STATS, rows)
    months = _folded(
        rows, lambda row: {"campaign_link_id": row["campaign_link_id"], "month": row["day"].replace(day=1)}
    )
    upsert(connection, MONTHS, months)
    upsert(connection, USER_DAYS, _folded(rows, lambda row: {"day": row["day"]}))


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


def _conversion_counters(event_type: str, revenue: Decimal | None, first_of_type: bool) -> dict:
    """Every conversion counter of a daily row, for one conversion (the same shape for every type,
    so rows of different types fold and upsert together)."""
    counters = {name: Decimal("0") if name.endswith("_revenue") else 0 for name in CONVERSION_COUNTERS}
    counters[f"{event_type}_count"] = 1
    counters[f"{event_type}_visitors"] = 1 if first_of_type else 0
    counters[f"{event_type}_revenue"] = revenue or Decimal("0")
    return counters


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


def breakdown_rows(grouped) -> list[dict]:
    """Fold (link, day, user, referrer, device, browser, os, clicks) rows into breakdown rows."""
    folded: dict[tuple, dict] = {}
    for row in grouped:
        link_id, day, user_id, *values, clicks = row
        for dimension, value in zip(DIMENSIONS, values, strict=True):
            key = (link_id, day, dimension, _breakdown_value(dimension, value))
            entry = folded.get(key)
            if entry is None:
                folded[key] = {**dict(zip(BREAKDOWN_KEYS, key, strict=True)), "user_id": user_id, "clicks": clicks}
            else:
                entry["clicks"] += clicks
    return list(folded.values())


def grouped_clicks(dialect_name: str, *conditions, kinds: bool = False):
    """Clicks per link, day, user and every breakdown column (for breakdown_rows): people only,
    or with `kinds` every click, grouped by is_bot and is_unique too (for add_clicks)."""
    day = dialect.utc_day(ClickEvent.clicked_at, dialect_name)
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


@functools.cache
def _clicks_of_batch(dialect_name: str):
    """grouped_clicks with kinds, for a batch's tracking ids (the `tracking_ids` parameter)."""
    of_batch = dialect.in_list_parameter(ClickEvent.tracking_id, "tracking_ids", dialect_name)
    return grouped_clicks(dialect_name, of_batch, kinds=True)
