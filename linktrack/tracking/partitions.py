"""Monthly partitions of click_events on PostgreSQL (DESIGN.md §4); SQLite keeps one table.

The layout migration 0015 leaves, and this module keeps:
- `click_events` is partitioned BY RANGE (clicked_at); its primary key is (clicked_at, id) and a
  tracking id is unique with its clicked_at (a unique index on a partitioned table must hold the
  partition key). Tracking ids are UUIDv7s of their click's time, so two clicks cannot share one
  by chance, and a lookup by tracking id bounds clicked_at from the id (models.events).
- `click_events_yYYYYmMM`: one partition per UTC calendar month [first day, first of next).
- `click_events_before_yYYYYmMM`: the table as it was before the migration, attached whole as the
  partition of everything before that month (its rows keep their UUIDv4 tracking ids).
- `click_events_default`: the DEFAULT partition, so a click whose month has no partition yet is
  still stored. It is meant to stay empty: `create_click_partitions` (cron, nightly and before
  each cleanup) creates the current month and MONTHS_AHEAD more, and moves any rows the default
  holds into partitions of their own months, so retention finds every row in its month.

Creating a partition takes only the locks ATTACH PARTITION takes (SHARE UPDATE EXCLUSIVE on
click_events: clicks go on being inserted), plus a scan of the default partition, which is empty
unless the cron job was down for months. Why not pg_partman: these few statements run on any
PostgreSQL the app can reach, the tests make them on a plain cluster, and no extension needs
installing (or superuser rights) on a managed database.
"""

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

from sqlalchemy import text
from sqlalchemy.engine import Connection

from .. import dialect
from ..extensions import db
from ..models import utcnow

TABLE = "click_events"
DEFAULT_PARTITION = "click_events_default"
MONTHS_AHEAD = 2  # partitions exist for the current month and this many after it
_MONTHLY = re.compile(r"^click_events_(before_)?y(\d{4})m(\d{2})$")
_LOCK_KEY = 0x6C74_7063  # pg_advisory_xact_lock: one partition maker at a time across hosts


@dataclass(frozen=True)
class Partition:
    """One partition of click_events: clicked_at in [lower, upper); lower None for the partition of
    everything before the migration."""

    name: str
    lower: datetime | None
    upper: datetime


def month_start(day: date) -> date:
    return day.replace(day=1)


def next_month(month: date) -> date:
    return (month.replace(day=28) + timedelta(days=4)).replace(day=1)


def as_utc(month: date) -> datetime:
    return datetime.combine(month, time(), timezone.utc)


def partition_name(month: date) -> str:
    return f"{TABLE}_y{month.year:04d}m{month.month:02d}"


def before_partition_name(month: date) -> str:
    """The name of the partition that holds every click before `month` (migration 0015)."""
    return f"{TABLE}_before_y{month.year:04d}m{month.month:02d}"


def click_partitions(connection: Connection) -> list[Partition]:
    """click_events' ranged partitions in clicked_at order (the default partition is not one);
    none on SQLite. Read from the catalogue; bounds from the names this module gives them."""
    if not dialect.is_postgresql(connection):
        return []
    names = connection.scalars(
        text("SELECT inhrelid::regclass::text FROM pg_inherits WHERE inhparent = CAST(:table AS regclass)"),
        {"table": TABLE},
    )
    found = []
    for name in names:
        matched = _MONTHLY.match(name)
        if matched is None:
            continue
        before, year, month = matched.groups()
        first = date(int(year), int(month), 1)
        if before:
            found.append(Partition(name, None, as_utc(first)))
        else:
            found.append(Partition(name, as_utc(first), as_utc(next_month(first))))
    return sorted(found, key=lambda partition: partition.upper)


_STRAY_MONTHS = (
    f"SELECT DISTINCT CAST(date_trunc('month', clicked_at AT TIME ZONE 'UTC') AS date) FROM {DEFAULT_PARTITION}"
)


def create_click_partitions(now: datetime | None = None, months_ahead: int = MONTHS_AHEAD) -> list[str]:
    """Make sure click_events has a partition for the current month and `months_ahead` more, and for
    every month the default partition holds rows of (moving them there). Returns the partitions
    created. PostgreSQL only: on SQLite there is nothing to do. Safe to run on several hosts at
    once and again and again (one transaction per partition, under an advisory lock)."""
    engine = db.engine
    if not dialect.is_postgresql(engine):
        return []
    month = month_start((now or utcnow()).date())
    wanted = [month]
    for _ in range(months_ahead):
        wanted.append(next_month(wanted[-1]))
    with engine.connect() as connection:
        stray = connection.scalars(text(_STRAY_MONTHS)).all()
        connection.rollback()
        created = []
        for first in sorted(set(wanted) | set(stray)):
            with connection.begin():
                if _create_month(connection, first):
                    created.append(partition_name(first))
    return created


def _create_month(connection: Connection, first: date) -> bool:
    """One month's partition, with the rows the default partition holds for it, in the caller's
    transaction; False when it exists already (or an older partition covers the month)."""
    connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
    lower, upper = as_utc(first), as_utc(next_month(first))
    if any(p.upper > lower and (p.lower is None or p.lower < upper) for p in click_partitions(connection)):
        return False
    name = partition_name(first)
    in_month = f"clicked_at >= {_literal(lower)} AND clicked_at < {_literal(upper)}"
    connection.execute(text(f"CREATE TABLE {name} (LIKE {TABLE} INCLUDING DEFAULTS)"))
    # A valid CHECK lets ATTACH skip scanning the new table; the moved rows are few (see the module).
    connection.execute(text(f"ALTER TABLE {name} ADD CONSTRAINT {name}_bound CHECK ({in_month})"))
    connection.execute(text(f"INSERT INTO {name} SELECT * FROM {DEFAULT_PARTITION} WHERE {in_month}"))
    connection.execute(text(f"DELETE FROM {DEFAULT_PARTITION} WHERE {in_month}"))
    connection.execute(
        text(f"ALTER TABLE {TABLE} ATTACH PARTITION {name} FOR VALUES FROM ({_literal(lower)}) TO ({_literal(upper)})")
    )
    connection.execute(text(f"ALTER TABLE {name} DROP CONSTRAINT {name}_bound"))
    return True


def _literal(moment: datetime) -> str:
    """A timestamptz literal for DDL (partition bounds take no parameters)."""
    return f"'{moment.isoformat()}'::timestamptz"


def schema_filter(dialect_name: str):
    """alembic's include_object for comparing the models with a database (env.py's autogenerate,
    tests/test_migrations.py): on PostgreSQL the partitions are not tables of the model, and the
    partitioned table's unique key on tracking ids holds clicked_at too (the model states SQLite's
    (tracking_id)); everything else is compared as usual."""

    def include(object_, name, type_, reflected, compare_to) -> bool:
        if dialect_name != dialect.POSTGRESQL:
            return True
        if type_ in ("table", "index") and name and _is_partition_object(name):
            return False
        table = getattr(getattr(object_, "table", None), "name", None)
        if type_ == "index" and table and _is_partition_object(table):
            return False
        is_tracking_key = type_ == "unique_constraint" and table == TABLE
        return not (is_tracking_key and {c.name for c in object_.columns} <= {"tracking_id", "clicked_at"})

    return include


def _is_partition_object(name: str) -> bool:
    return (
        name == DEFAULT_PARTITION
        or name.startswith(DEFAULT_PARTITION + "_")
        or bool(re.match(r"^click_events_(before_)?y\d{4}m\d{2}($|_)", name))
    )
