"""Adding raw events to the aggregates (LinkDailyStats and its LinkMonthlyStats and UserDailyStats
rollups, LinkDailyLag, LinkDailyBreakdown, LinkDailyRevenue): the writers' upserts.

Events reach the aggregates in two steps, so the transactions that update a link's count rows do
not grow with the processes that take its clicks and conversions:
- `hold_clicks` runs in the click writer's transaction, right after a batch is inserted: it copies
  the batch's rows (is_unique is decided by the INSERT itself) into UncountedClick rows. A
  conversion's own transaction stores its UncountedConversion row (tracking/store.py).
- `count_uncounted` runs in the counting consumer's transaction (counting/consumer.py, one at a
  time across every process and host): it deletes uncounted rows and adds them, in that one
  transaction, so an event is counted once, whatever happens to the process that stored it. The
  same transaction counts a converting visitor's bot click as a person's (converted.py).
The third, `recount_daily_stats` (counting/recount.py), corrects the rows to the raw events.

Every change to a link's day is added to its month's row and to its creator's day in the same
transaction, so the rollups are always the sums of the daily rows. Days are the creator's days
(days.local_day, in users.time_zone as the run reads it): clicks by click day, conversions by
conversion day. Breakdowns count the same clicks as `clicks` (bots left
out) per referrer host, device, browser and os. A conversion's amount is added to its currency's
LinkDailyRevenue row of the same day as its daily row (`<type>_revenue` there sums every
currency, so reports never show it). Two first conversions of one visitor and type
recorded at the same instant by two processes may both count as the visitor's first; a recount
settles it.
"""

import functools
from collections import Counter
from decimal import Decimal
from urllib.parse import urlsplit

from sqlalchemy import bindparam, delete, func, select
from sqlalchemy.engine import Connection

from .. import dialect
from ..models import (
    EVENT_TYPES,
    CampaignLink,
    ClickEvent,
    LinkDailyBreakdown,
    LinkDailyLag,
    LinkDailyRevenue,
    LinkDailyStats,
    LinkMonthlyStats,
    UncountedClick,
    UncountedConversion,
    User,
    UserDailyStats,
)
from .converted import clear_converted_bots
from .days import local_day

STATS = LinkDailyStats.__table__
MONTHS = LinkMonthlyStats.__table__
USER_DAYS = UserDailyStats.__table__
LAGS = LinkDailyLag.__table__
UNCOUNTED = UncountedConversion.__table__
UNCOUNTED_CLICKS = UncountedClick.__table__
CLICKS = ClickEvent.__table__
BREAKDOWNS = LinkDailyBreakdown.__table__
REVENUE = LinkDailyRevenue.__table__
BREAKDOWN_KEYS = ["campaign_link_id", "day", "dimension", "value"]
# Every aggregate and its key, in the order every writer locks them (upsert).
AGGREGATES = [
    (STATS, ["campaign_link_id", "day"]),
    (MONTHS, ["campaign_link_id", "month"]),
    (USER_DAYS, ["user_id", "day"]),
    (LAGS, ["campaign_link_id", "day", "days_since_click"]),
    (BREAKDOWNS, BREAKDOWN_KEYS),
    (REVENUE, ["campaign_link_id", "day", "event_type", "currency"]),
]
KEYS = {table.name: keys for table, keys in AGGREGATES}
# The click column each breakdown dimension counts by ('referrer' is reduced to its host); an
# UncountedClick has the same column names.
DIMENSIONS = {"referrer": "referrer", "device": "device_type", "browser": "browser", "os": "os"}
# What an UncountedClick copies of its click (besides the click's id).
HELD_COLUMNS = ["campaign_link_id", "clicked_at", "is_bot", "is_unique", *DIMENSIONS.values()]
VALUE_LENGTH = BREAKDOWNS.c.value.type.length
CONVERSION_COUNTERS = [
    f"{event_type}_{suffix}" for event_type in EVENT_TYPES for suffix in ("count", "visitors", "revenue")
]
COUNTERS = ["clicks", "unique_clicks", "bot_clicks", *CONVERSION_COUNTERS]


def hold_clicks(connection: Connection, clicks: list[dict]) -> None:
    """Store an UncountedClick for each just-inserted click of `clicks` (their tracking_id and
    clicked_at), in the caller's (the click batch's) transaction: the counting consumer adds it later.

    One INSERT ... SELECT built once per database, with the ids as one list parameter whose SQL
    text is the same for every batch (dialect.in_list_parameter). The batch's time span bounds the
    read too, so on a click_events partitioned by month it reads the batch's partition only.
    """
    if clicks:
        times = [click["clicked_at"] for click in clicks]
        parameters = {
            "tracking_ids": [click["tracking_id"] for click in clicks],
            "since": min(times),
            "until": max(times),
        }
        connection.execute(_hold_statement(connection.dialect.name), parameters)


@functools.cache
def _hold_statement(dialect_name: str):
    of_batch = dialect.in_list_parameter(CLICKS.c.tracking_id, "tracking_ids", dialect_name)
    within = CLICKS.c.clicked_at.between(bindparam("since"), bindparam("until"))
    copied = select(CLICKS.c.id, *[CLICKS.c[name] for name in HELD_COLUMNS]).where(of_batch, within)
    return UNCOUNTED_CLICKS.insert().from_select(["click_id", *HELD_COLUMNS], copied)


def count_uncounted(connection: Connection, limit: int) -> tuple[int, int]:
    """Delete up to `limit` uncounted clicks and up to `limit` uncounted conversions and add them to
    the aggregates, in the caller's transaction. Returns how many (clicks, conversions).

    Each event is counted by the transaction that deletes its uncounted row; rows another
    transaction holds are skipped, not waited for. Clicks of a link deleted meanwhile are deleted
    without counting (their click rows went with the link). Clicks and conversions are added in one
    upsert per table, in AGGREGATES order, as every writer locks them.
    """
    clicks = _taken(connection, UNCOUNTED_CLICKS, UNCOUNTED_CLICKS.c.click_id, limit)
    conversions = _taken(connection, UNCOUNTED, UNCOUNTED.c.conversion_id, limit)
    if not clicks and not conversions:
        return 0, 0
    # A converting visitor is a person: their bot click is cleared here, counted as a person if it
    # is one of `clicks`, moved from bot_clicks if it was counted before (converted.py).
    clicks, moved = clear_converted_bots(connection, [row.conversion_id for row in conversions], clicks)
    owners = _owners(connection, {row.campaign_link_id for row in [*clicks, *moved]})
    zones = _zones(connection, owners, {row.user_id for row in conversions})
    clicks_counted = [row for row in clicks if row.campaign_link_id in owners]
    moved = [row for row in moved if row.campaign_link_id in owners]
    people_clicks = [*clicks_counted, *moved]
    click_days = [local_day(row.clicked_at, zones[owners[row.campaign_link_id]]) for row in people_clicks]
    conversion_days = [local_day(row.recorded_at, zones[row.user_id]) for row in conversions]
    days = [
        _click_counters(row, owners[row.campaign_link_id], day, moved_from_bots=index >= len(clicks_counted))
        for index, (row, day) in enumerate(zip(people_clicks, click_days, strict=True))
    ]
    days += [
        {
            "campaign_link_id": row.campaign_link_id,
            "day": day,
            "user_id": row.user_id,
            **_no_counts(),
            **_conversion_counters(row.event_type, row.revenue_amount, row.first_of_type),
        }
        for row, day in zip(conversions, conversion_days, strict=True)
    ]
    _add_to_days_and_months(
        connection, _folded(days, lambda row: {"campaign_link_id": row["campaign_link_id"], "day": row["day"]})
    )
    lags: Counter = Counter(
        (row.campaign_link_id, day, row.days_since_click, row.user_id)
        for row, day in zip(conversions, conversion_days, strict=True)
    )
    upsert(
        connection,
        LAGS,
        [
            {"campaign_link_id": link, "day": day, "days_since_click": lag, "user_id": user_id, "conversions": count}
            for (link, day, lag, user_id), count in lags.items()
        ],
    )
    people: Counter = Counter(
        (row.campaign_link_id, day, owners[row.campaign_link_id], *_dimensions(row))
        for row, day in zip(people_clicks, click_days, strict=True)
        if not row.is_bot
    )
    upsert(connection, BREAKDOWNS, breakdown_rows((*key, count) for key, count in people.items()))
    upsert(connection, REVENUE, revenue_rows(conversions, conversion_days))
    return len(clicks), len(conversions)


def revenue_rows(conversions, days: list) -> list[dict]:
    """LinkDailyRevenue rows for the conversions that have an amount: per link, day (`days`, the
    creator's days their daily rows count them on), type and currency, how many and how much."""
    folded: dict[tuple, dict] = {}
    for row, day in zip(conversions, days, strict=True):
        if row.revenue_amount is None:
            continue
        key = (row.campaign_link_id, day, row.event_type, row.currency)
        entry = folded.get(key)
        if entry is None:
            folded[key] = entry = {
                **dict(zip(KEYS[REVENUE.name], key, strict=True)),
                "user_id": row.user_id,
                "conversions": 0,
                "revenue": Decimal("0"),
            }
        entry["conversions"] += 1
        entry["revenue"] += row.revenue_amount
    return list(folded.values())


def _taken(connection: Connection, table, key, limit: int) -> list:
    """Delete up to `limit` rows of an uncounted table (skipping rows another transaction holds),
    returning them."""
    chosen = dialect.skip_locked(select(key).limit(limit), connection.dialect.name)
    return connection.execute(delete(table).where(key.in_(chosen)).returning(*table.c)).all()


def _owners(connection: Connection, link_ids: set) -> dict:
    """{link id: its creator's id} for the links that still exist, share-locked so none is deleted
    before this transaction has added to its rows."""
    if not link_ids:
        return {}
    query = select(CampaignLink.id, CampaignLink.user_id).where(CampaignLink.id.in_(link_ids))
    return dict(connection.execute(query.with_for_update(key_share=True)).all())


def _zones(connection: Connection, owners: dict, user_ids: set) -> dict:
    """{creator id: time zone name} for the links' creators and `user_ids`: one query per run, the
    zone as this transaction reads it (a change of zone waits for the run: days.change_time_zone)."""
    wanted = set(owners.values()) | user_ids
    if not wanted:
        return {}
    return dict(connection.execute(select(User.id, User.time_zone).where(User.id.in_(wanted))).all())


def _dimensions(row) -> list:
    return [getattr(row, name) for name in DIMENSIONS.values()]


def _no_counts() -> dict:
    return {name: Decimal("0") if name.endswith("_revenue") else 0 for name in COUNTERS}


def _click_counters(row, user_id: int, day, moved_from_bots: bool = False) -> dict:
    """A daily row counting one click on `day` (every counter present, so it folds with conversions');
    `moved_from_bots`: a person's click counted before as a bot's, taken off bot_clicks."""
    counters = _no_counts()
    if row.is_bot:
        counters["bot_clicks"] = 1
    else:
        counters["clicks"] = 1
        counters["unique_clicks"] = 1 if row.is_unique else 0
        counters["bot_clicks"] = -1 if moved_from_bots else 0
    return {"campaign_link_id": row.campaign_link_id, "day": day, "user_id": user_id, **counters}


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


def grouped_clicks(dialect_name: str, zone: str, table, *conditions):
    """People's clicks (bots left out) of `table` (click_events, or uncounted_clicks: the same column
    names) per link, day in `zone` (the links' creators'), user and every breakdown column, for
    breakdown_rows."""
    day = dialect.local_day(table.c.clicked_at, zone, dialect_name)
    columns = [table.c.campaign_link_id, day, CampaignLink.user_id, *[table.c[name] for name in DIMENSIONS.values()]]
    return (
        select(*columns, func.count())
        .join(CampaignLink, CampaignLink.id == table.c.campaign_link_id)
        .where(~table.c.is_bot, *conditions)
        .group_by(*columns)
    )
