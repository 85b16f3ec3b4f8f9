"""Correcting the aggregates to the raw events: `recount_daily_stats`, for bulk loads (demo,
benchmarks), after cleanup deletes events, and to check the writers (tests assert they agree).

What it compares: the aggregates hold the events the counting consumer has counted, so a recount
makes them equal the raw events minus the uncounted ones (UncountedClick, UncountedConversion),
and leaves those to the consumer. Aggregates + uncounted = raw events is what the reports show once
the consumer has run (within a second); a recount never counts an uncounted event itself, so the
consumer cannot count it a second time.

A recount is exact while clicks and conversions keep arriving, without stopping them. Every
writer's transaction keeps "aggregates = raw events minus uncounted ones" as true as it was (a
click batch stores its clicks and their uncounted rows; a conversion its event and its uncounted
row; a counting run adds what it deletes); only deleted events, bulk loads and the
first-conversion race (counters.py) make it false. A recount measures that drift (what the rows
must be minus what they are) and adds it, as the writers add theirs: additions commute, so
whatever the writers commit in between is kept, counted once.

It works a batch of RECOUNT_LINKS_PER_SNAPSHOT links at a time: each batch's drift is measured in
a snapshot of its own and added right after, so no snapshot spans the whole history and vacuum of
the busy count rows is held back for one batch at most. A creator's days are the sum of their
links' days: each batch adds its links' day drift to them too, and a last pass per batch of
creators adds what still differs (the days of links deleted since). The drift is added locking only
the rows that drifted, in the writers' order, and one recount runs at a time (two would add one
drift twice): dialect.snapshots_then_writes says how each database does that.
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
    update,
)
from sqlalchemy.engine import Connection

from .. import dialect
from ..extensions import db, maintenance_engine
from ..models import EVENT_TYPES, CampaignLink, ClickEvent, ConversionEvent, User
from ..tracking.rules import days_since_click_sql
from .counters import (
    AGGREGATES,
    BREAKDOWNS,
    CLICKS,
    COUNTERS,
    KEYS,
    LAGS,
    MONTHS,
    REVENUE,
    STATS,
    UNCOUNTED,
    UNCOUNTED_CLICKS,
    USER_DAYS,
    adding_on_conflict,
    breakdown_rows,
    counted_columns,
    grouped_clicks,
)

RECOUNT_LOCK = 0x6C74_7263_6F75_6E74  # the key that runs one recount at a time ("ltrcount")
RECOUNT_BATCH = 10_000
# Links measured in one snapshot: a snapshot lasts as long as reading their events takes.
RECOUNT_LINKS_PER_SNAPSHOT = 50
RECOUNT_CREATORS_PER_SNAPSHOT = 500
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
    """Correct the aggregates of `link_ids` (every link when None) and of their creators' days to
    equal the raw events minus the uncounted ones, a batch of links at a time (see the module
    docstring)."""
    link_ids = None if link_ids is None else list(link_ids)
    with maintenance_engine().connect() as connection:  # session state: no transaction-mode pooler
        connection.detach()  # closed at the end, not pooled: its session lock and temp tables end with it
        dialect.snapshots_then_writes(connection, RECOUNT_LOCK, setup=lambda connection: _steps(connection, link_ids))


def rebuild_creator_days(user_id: int) -> bool:
    """After a creator chose another time zone (auth/service.set_time_zone): recount their links'
    days in it, then mark their aggregates as counted in that zone (pages stop saying "recounting").
    The consumer counts in the new zone since the change committed, so the recount is exact while
    it counts. Returns False when the creator is gone."""
    user = db.session.get(User, user_id)
    if user is None:
        return False
    zone = user.time_zone
    link_ids = db.session.scalars(select(CampaignLink.id).where(CampaignLink.user_id == user_id)).all()
    db.session.commit()  # no transaction stays open while the recount runs on its own connection
    recount_daily_stats(link_ids)
    db.session.execute(
        update(User).where(User.id == user_id, User.time_zone == zone).values(counted_time_zone=zone)
    )  # a zone chosen again meanwhile has its own rebuild queued
    db.session.commit()
    return True


def _steps(connection: Connection, link_ids) -> list:
    """Create the temporary tables; the (measure, correct) steps: per batch of links, then per
    batch of their creators (every creator for a whole recount)."""
    _TEMPORARY.create_all(connection, checkfirst=False)
    links = select(CampaignLink.id, User.time_zone).join(User, User.id == CampaignLink.user_id)
    if link_ids is None:
        users = connection.scalars(select(User.id).order_by(User.id)).all()
    else:
        links = links.where(CampaignLink.id.in_(link_ids))
        owners = select(CampaignLink.user_id).where(CampaignLink.id.in_(link_ids)).distinct()
        users = connection.scalars(owners.order_by(CampaignLink.user_id)).all()
    by_zone: dict[str, list] = {}
    for link_id, zone in connection.execute(links.order_by(CampaignLink.id)):
        by_zone.setdefault(zone, []).append(link_id)
    steps = [
        (lambda connection, batch=batch, zone=zone: _measure_link_drift(connection, batch, zone), _correct_drift)
        for zone, zone_links in sorted(by_zone.items())
        for batch in _batches(zone_links, RECOUNT_LINKS_PER_SNAPSHOT)
    ]
    steps += [
        (lambda connection, batch=batch: _measure_creator_drift(connection, batch), _correct_drift)
        for batch in _batches(users, RECOUNT_CREATORS_PER_SNAPSHOT)
    ]
    return steps


def _batches(values: list, size: int) -> list[list]:
    return [values[start : start + size] for start in range(0, len(values), size)]


def _forget_last_step(connection: Connection) -> None:
    for table in [*DRIFT.values(), DAYS_DUE, BREAKDOWNS_DUE]:
        connection.execute(delete(table))


def _measure_link_drift(connection: Connection, link_ids: list, zone: str) -> None:
    """Fill the DRIFT tables for these links' rows (their creators' days are in `zone`: each batch
    is of one zone, so the zone is one parameter, not a lookup per row), reading everything in the
    caller's one snapshot: what an aggregate must hold is the raw events' counts minus the uncounted
    ones; what it holds is read in the same snapshot. Their creators' days get the sum of the links'
    day drift."""
    _forget_last_step(connection)
    dialect_name = connection.dialect.name
    connection.execute(
        DAYS_DUE.insert().from_select(
            ["campaign_link_id", "day", "user_id", *COUNTERS], _stats_from_events(dialect_name, link_ids, zone)
        )
    )
    due = DAYS_DUE.c
    counters = [due[name] for name in COUNTERS]
    _insert_drift(connection, STATS, [select(*due)], STATS.c.campaign_link_id.in_(link_ids))
    month = dialect.first_of_month(due.day, dialect_name).label("month")
    months = select(due.campaign_link_id, month, due.user_id, *counters)
    _insert_drift(connection, MONTHS, [months], MONTHS.c.campaign_link_id.in_(link_ids))
    days = DRIFT[STATS.name].c
    per_creator = [dialect.money(days[name], func.sum(days[name])) for name in COUNTERS]
    connection.execute(
        DRIFT[USER_DAYS.name]
        .insert()
        .from_select(
            ["user_id", "day", *COUNTERS],
            select(days.user_id, days.day, *per_creator).group_by(days.user_id, days.day),
        )
    )
    lags = _lags_from_events(dialect_name, link_ids, zone)
    _insert_drift(connection, LAGS, lags, LAGS.c.campaign_link_id.in_(link_ids))
    _breakdowns_due(connection, link_ids, zone)
    breakdowns = [select(*BREAKDOWNS_DUE.c)]
    _insert_drift(connection, BREAKDOWNS, breakdowns, BREAKDOWNS.c.campaign_link_id.in_(link_ids))
    revenue = _revenue_from_events(dialect_name, link_ids, zone)
    _insert_drift(connection, REVENUE, revenue, REVENUE.c.campaign_link_id.in_(link_ids))


def _measure_creator_drift(connection: Connection, users: list) -> None:
    """Fill DRIFT for these creators' days: the sum of their links' days as they are now (each batch
    of links has corrected those) minus their days, in the caller's one snapshot. Writers change
    both together, so what differs stays as it is until corrected: the days of links deleted since."""
    _forget_last_step(connection)
    days = [
        select(STATS.c.user_id, STATS.c.day, *[STATS.c[name] for name in COUNTERS]).where(STATS.c.user_id.in_(users))
    ]
    _insert_drift(connection, USER_DAYS, days, USER_DAYS.c.user_id.in_(users))


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


def _breakdowns_due(connection: Connection, link_ids, zone: str) -> None:
    """Breakdown rows from the raw clicks minus the uncounted ones, one link at a time (referrers are
    folded to hosts here)."""
    dialect_name = connection.dialect.name
    for link_id in link_ids:
        of_link = CLICKS.c.campaign_link_id == link_id
        grouped = connection.execute(grouped_clicks(dialect_name, zone, CLICKS, of_link)).all()
        of_link = UNCOUNTED_CLICKS.c.campaign_link_id == link_id
        uncounted = grouped_clicks(dialect_name, zone, UNCOUNTED_CLICKS, of_link)
        grouped += [(*row[:-1], -row[-1]) for row in connection.execute(uncounted)]
        rows = breakdown_rows(grouped)
        for start in range(0, len(rows), RECOUNT_BATCH):
            connection.execute(BREAKDOWNS_DUE.insert(), rows[start : start + RECOUNT_BATCH])


def _counter_columns(click_values, per_type) -> list:
    """The COUNTERS columns in their order: the three click counts, then per event type the
    (count, visitors, revenue) that `per_type(event_type)` gives."""
    values = [*click_values, *(value for event_type in EVENT_TYPES for value in per_type(event_type))]
    return [value.label(name) for value, name in zip(values, COUNTERS, strict=True)]


def _stats_from_events(dialect_name: str, link_ids, zone: str):
    """One row per link and day in `zone`: clicks, conversions and first conversions, less the
    uncounted ones, summed from a UNION ALL."""
    zero, money_zero = literal(0, Integer), literal(Decimal("0"))

    def day(column):
        return dialect.local_day(column, zone, dialect_name).label("day")

    no_clicks = (zero, zero, zero)

    def click_counts(table, sign: int):
        """Clicks of click_events (+1 each) or of uncounted_clicks (-1 each: not counted yet)."""
        person = ~table.c.is_bot
        return select(
            table.c.campaign_link_id.label("link_id"),
            day(table.c.clicked_at),
            *_counter_columns(
                (
                    case((person, sign), else_=0),
                    case((and_(person, table.c.is_unique), sign), else_=0),
                    case((table.c.is_bot, sign), else_=0),
                ),
                lambda event_type: (zero, zero, money_zero),
            ),
        ).where(table.c.campaign_link_id.in_(link_ids))

    def conversion_values(event_type):
        is_type = ConversionEvent.event_type == event_type
        revenue = func.coalesce(ConversionEvent.revenue_amount, 0)
        return case((is_type, 1), else_=0), zero, case((is_type, revenue), else_=money_zero)

    conversions = select(
        ConversionEvent.campaign_link_id.label("link_id"),
        day(ConversionEvent.converted_at),
        *_counter_columns(no_clicks, conversion_values),
    ).where(ConversionEvent.campaign_link_id.in_(link_ids))

    first = (
        select(
            ConversionEvent.campaign_link_id.label("link_id"),
            ConversionEvent.event_type.label("event_type"),
            func.min(ConversionEvent.converted_at).label("first_at"),
        )
        .where(ConversionEvent.campaign_link_id.in_(link_ids))
        .group_by(ConversionEvent.campaign_link_id, ConversionEvent.tracking_id, ConversionEvent.event_type)
        .subquery()
    )
    firsts = select(
        first.c.link_id,
        day(first.c.first_at),
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
        day(UNCOUNTED.c.recorded_at),
        *_counter_columns(no_clicks, not_yet_counted),
    ).where(UNCOUNTED.c.campaign_link_id.in_(link_ids))
    events = union_all(
        click_counts(CLICKS, 1), conversions, firsts, uncounted, click_counts(UNCOUNTED_CLICKS, -1)
    ).subquery()
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


def _revenue_from_events(dialect_name: str, link_ids, zone: str):
    """Conversions with an amount per link, day (the daily rows' conversion day), type and
    currency, and the uncounted ones subtracted: two selects, for the caller to sum per key."""
    day = dialect.local_day(ConversionEvent.converted_at, zone, dialect_name).label("day")
    keys = [ConversionEvent.campaign_link_id, day, ConversionEvent.event_type, ConversionEvent.currency]
    counted = (
        select(
            *keys,
            CampaignLink.user_id,
            func.count().label("conversions"),
            func.sum(ConversionEvent.revenue_amount).label("revenue"),
        )
        .join(CampaignLink, CampaignLink.id == ConversionEvent.campaign_link_id)
        .where(ConversionEvent.campaign_link_id.in_(link_ids), ConversionEvent.revenue_amount.is_not(None))
        .group_by(*keys, CampaignLink.user_id)
    )
    uncounted = select(
        UNCOUNTED.c.campaign_link_id,
        dialect.local_day(UNCOUNTED.c.recorded_at, zone, dialect_name),
        UNCOUNTED.c.event_type,
        UNCOUNTED.c.currency,
        UNCOUNTED.c.user_id,
        literal(-1),
        -UNCOUNTED.c.revenue_amount,
    ).where(UNCOUNTED.c.campaign_link_id.in_(link_ids), UNCOUNTED.c.revenue_amount.is_not(None))
    return [counted, uncounted]


def _lags_from_events(dialect_name: str, link_ids, zone: str):
    """Conversions per link, conversion day in `zone` and whole days since their click (the window's
    own days_since_click), and the uncounted ones as -1 each: two selects, for the caller to sum per key."""
    day = dialect.local_day(ConversionEvent.converted_at, zone, dialect_name).label("day")
    lag = days_since_click_sql(ClickEvent.clicked_at, ConversionEvent.converted_at, dialect_name).label(
        "days_since_click"
    )
    counted = (
        select(ConversionEvent.campaign_link_id, day, lag, CampaignLink.user_id, func.count().label("conversions"))
        .join(ClickEvent, ClickEvent.tracking_id == ConversionEvent.tracking_id)
        .join(CampaignLink, CampaignLink.id == ConversionEvent.campaign_link_id)
        .where(ConversionEvent.campaign_link_id.in_(link_ids))
        .group_by(ConversionEvent.campaign_link_id, day, lag, CampaignLink.user_id)
    )
    uncounted = select(
        UNCOUNTED.c.campaign_link_id,
        dialect.local_day(UNCOUNTED.c.recorded_at, zone, dialect_name),
        UNCOUNTED.c.days_since_click,
        UNCOUNTED.c.user_id,
        literal(-1),
    ).where(UNCOUNTED.c.campaign_link_id.in_(link_ids))
    return [counted, uncounted]
