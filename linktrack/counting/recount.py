"""Correcting the aggregates to the raw events: `recount_daily_stats`, for bulk loads (demo,
benchmarks), after cleanup deletes events, and to check the writers (tests assert they agree).

A recount is exact while clicks and conversions keep arriving, without stopping them. Every
writer's transaction keeps "aggregates = counts of the raw events minus those of the uncounted
conversions" as true as it was (a click batch adds the clicks it inserts; a conversion stores its
event and its uncounted row; a count batch adds what it deletes); only deleted events, bulk loads
and the first-conversion race (counters.py) make it false. A recount measures that drift (what the
rows must be minus what they are) in one snapshot and adds it, as the writers add theirs, in one
transaction: additions commute, so whatever the writers commit in between is kept, counted once.
The drift is added locking only the rows that drifted, in the writers' order, and one recount
runs at a time (two would add one drift twice): dialect.snapshot_then_write says how each
database does that. Uncounted conversions are left to their batch.
"""

import uuid
from collections.abc import Iterable
from decimal import Decimal

from sqlalchemy import (
    Column,
    Integer,
    MetaData,
    Table,
    and_,
    case,
    delete,
    func,
    literal,
    or_,
    select,
    tuple_,
    union_all,
)
from sqlalchemy.engine import Connection

from .. import dialect
from ..extensions import maintenance_engine
from ..models import EVENT_TYPES, CampaignLink, ClickEvent, ConversionEvent, User
from ..tracking.rules import days_since_click_sql
from .counters import (
    AGGREGATES,
    BREAKDOWNS,
    COUNTERS,
    KEYS,
    LAGS,
    MONTHS,
    STATS,
    UNCOUNTED,
    USER_DAYS,
    adding_on_conflict,
    breakdown_rows,
    counted_columns,
    grouped_clicks,
)

RECOUNT_LOCK = 0x6C74_7263_6F75_6E74  # the key that runs one recount at a time ("ltrcount")
RECOUNT_BATCH = 10_000
_TEMPORARY = MetaData()


def _temporary_copy(table, name: str) -> Table:
    columns = [Column(column.name, column.type) for column in table.columns]
    return Table(name, _TEMPORARY, *columns, prefixes=["TEMPORARY"])


# What each aggregate must be minus what it is, per key, for the keys where they differ.
DRIFT = {table.name: _temporary_copy(table, f"recount_drift_{table.name}") for table, _ in AGGREGATES}
# The daily rows as they must be (the months and creator days are their sums), and the breakdowns.
DAYS_DUE = _temporary_copy(STATS, "recount_days_due")
BREAKDOWNS_DUE = _temporary_copy(BREAKDOWNS, "recount_breakdowns_due")


def recount_daily_stats(link_ids: Iterable[uuid.UUID] | None = None) -> None:
    """Correct the aggregates of `link_ids` (every link when None) to equal the raw events: their
    drift is measured in one snapshot and added in one transaction (see the module docstring)."""
    link_ids = None if link_ids is None else list(link_ids)
    with maintenance_engine().connect() as connection:  # session state: no transaction-mode pooler
        connection.detach()  # closed at the end, not pooled: its session lock and temp tables end with it
        dialect.snapshot_then_write(
            connection,
            RECOUNT_LOCK,
            setup=lambda connection: _TEMPORARY.create_all(connection, checkfirst=False),
            read=lambda connection: _measure_drift(connection, link_ids),
            write=_correct_drift,
        )


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
    month = dialect.first_of_month(due.day, dialect_name).label("month")
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
    keys = KEYS[table.name]
    counted = counted_columns(table)
    columns = [*keys, *([] if "user_id" in keys else ["user_id"]), *counted]
    now = select(*[table.c[name] if name not in counted else (-table.c[name]).label(name) for name in columns])
    rows = union_all(*due, now.where(current)).subquery()
    sums = {name: dialect.money(table.c[name], func.sum(rows.c[name])) for name in counted}
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


def _correct_drift(connection: Connection) -> None:
    """Add DRIFT to the aggregates, as every writer adds to them, and delete the rows left at zero.

    Rows are locked in the order writers lock them (counters.upsert: tables in AGGREGATES order,
    keys as text), so this transaction and a click or count batch never deadlock.
    """
    dialect_name = connection.dialect.name
    for table, keys in AGGREGATES:
        drift = DRIFT[table.name].c
        owner = (
            drift.user_id.in_(select(User.id))
            if "user_id" in keys
            else drift.campaign_link_id.in_(select(CampaignLink.id))
        )
        rows = select(*drift).where(owner)  # a link deleted since the snapshot keeps no counts
        rows = rows.order_by(*dialect.lock_order([drift[name] for name in keys], dialect_name))
        statement = dialect.insert(table, dialect_name).from_select(list(drift.keys()), rows)
        connection.execute(adding_on_conflict(statement, table))
        zero = [dialect.money(table.c[name], table.c[name]) == 0 for name in counted_columns(table)]
        touched = tuple_(*[table.c[name] for name in keys]).in_(select(*[drift[name] for name in keys]))
        connection.execute(delete(table).where(touched, *zero))


def _breakdowns_due(connection: Connection, link_ids) -> None:
    """Breakdown rows from the raw clicks, one link at a time (referrers are folded to hosts here)."""
    if link_ids is None:
        link_ids = connection.scalars(select(CampaignLink.id).order_by(CampaignLink.id)).all()
    for link_id in link_ids:
        grouped = connection.execute(
            grouped_clicks(connection.dialect.name, ClickEvent.campaign_link_id == link_id)
        ).all()
        rows = breakdown_rows(grouped)
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
        dialect.utc_day(ClickEvent.clicked_at, dialect_name).label("day"),
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
        dialect.utc_day(ConversionEvent.converted_at, dialect_name).label("day"),
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
        dialect.utc_day(first.c.first_at, dialect_name).label("day"),
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


def _lags_from_events(dialect_name: str, link_ids):
    """Conversions per link, conversion day and whole days since their click (the window's own
    days_since_click), and the uncounted ones as -1 each: two selects, for the caller to sum per key."""
    day = dialect.utc_day(ConversionEvent.converted_at, dialect_name).label("day")
    lag = days_since_click_sql(ClickEvent.clicked_at, ConversionEvent.converted_at, dialect_name).label(
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
