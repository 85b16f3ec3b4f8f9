"""The only module that knows SQLite from PostgreSQL.

Everything else asks here for what differs between the two (an upsert, a creator's day, whole days
between two timestamps, a list parameter, the engine options, which driver errors mean "not now",
how a read-then-write runs exactly) or whether a connection speaks PostgreSQL, so a branch on the
database is written once and read in one place.
"""

import sqlite3
from collections.abc import Callable

from sqlalchemy import Date, Float, Integer, Numeric, Text, bindparam, cast, func, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from .counting.days import local_day_text

POSTGRESQL = "postgresql"
SQLITE = "sqlite"

# PostgreSQL error classes that mean "not now" rather than "not this": connection exception,
# transaction rollback (deadlock, serialization), insufficient resources, operator intervention
# (shutting down, starting up, query cancelled).
_UNAVAILABLE_SQLSTATE_CLASSES = ("08", "40", "53", "57")
_UNAVAILABLE_SQLITE_ERRORS = ("SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_CANTOPEN", "SQLITE_IOERR")


def name_of(bind) -> str:
    """The dialect name of an engine, connection or session ("postgresql" or "sqlite")."""
    if hasattr(bind, "get_bind"):
        bind = bind.get_bind()
    return bind.dialect.name


def is_postgresql(bind) -> bool:
    return name_of(bind) == POSTGRESQL


def is_sqlite_url(url: str) -> bool:
    return url.startswith(SQLITE)


def is_postgresql_url(url: str) -> bool:
    return url.startswith(POSTGRESQL)


# Configuration and connections.


def normalise_database_url(url: str) -> str:
    """Accept the `postgres://` URLs that hosting platforms hand out and use psycopg 3."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def file_database_url(path: str) -> str:
    """The URL of the embedded default: a SQLite file at `path`."""
    return "sqlite:///" + path


def engine_options(url: str, options: dict, connect_timeout: float, prepared_statements: bool = True) -> dict:
    """SQLALCHEMY_ENGINE_OPTIONS fitted to the database `url` names.

    SQLite has no server to ping: pre-ping would only cost a query per checkout there. libpq waits
    for an unreachable or hung PostgreSQL server as long as TCP does (minutes): the connect is
    bounded by `connect_timeout` seconds, so the request answers 503 instead of holding a web
    worker (errors.py). psycopg prepares a statement on the server once a connection has run it
    five times; `prepared_statements` False turns that off (prepare_threshold None), for a
    transaction-mode pooler such as PgBouncer before 1.21, which hands the next transaction another
    server connection where the prepared name is unknown, or already taken by another client's. An
    explicit connect_args entry wins.
    """
    if is_sqlite_url(url):
        return {name: value for name, value in options.items() if name != "pool_pre_ping"}
    if is_postgresql_url(url):
        connect_args = {"connect_timeout": connect_timeout}
        if not prepared_statements:
            connect_args["prepare_threshold"] = None
        return {**options, "connect_args": {**connect_args, **options.get("connect_args", {})}}
    return options


def set_statement_timeout(connection: Connection, seconds: float) -> None:
    """Bound the statements of `connection`'s current transaction (PostgreSQL's statement_timeout,
    SET LOCAL: it ends with the transaction). SQLite has no server to wait on: nothing to bound."""
    if is_postgresql(connection):
        milliseconds = f"{int(seconds * 1000)}ms"
        connection.execute(text("SELECT set_config('statement_timeout', :value, true)"), {"value": milliseconds})


def prepare_connection(dbapi_connection, _record) -> None:
    """A new DBAPI connection's settings (an Engine "connect" listener, extensions.py): SQLite
    ignores ON DELETE CASCADE unless each connection asks for it, and has no time zones: local_day
    is counting/days.py's rule, registered as a function."""
    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()
        dbapi_connection.create_function(SQLITE_LOCAL_DAY, 2, local_day_text, deterministic=True)


def is_unavailable_error(driver_error) -> bool:
    """Whether a driver's OperationalError (`exc.orig`) means "not now" (busy, locked, unreachable,
    shutting down, deadlock) rather than "not this" (a bad query, a missing table).

    psycopg gives no SQLSTATE when the server could not be reached at all: that is "not now" too.
    """
    sqlite_error = getattr(driver_error, "sqlite_errorname", None)
    if sqlite_error is not None:
        return sqlite_error.startswith(_UNAVAILABLE_SQLITE_ERRORS)
    sqlstate = getattr(driver_error, "sqlstate", None)
    return not sqlstate or sqlstate[:2] in _UNAVAILABLE_SQLSTATE_CLASSES


# SQL that is spelled differently.


def insert(table, dialect_name: str):
    """An INSERT for `table` that can take ON CONFLICT (both databases spell it the same)."""
    return (postgresql.insert if dialect_name == POSTGRESQL else sqlite.insert)(table)


SQLITE_LOCAL_DAY = "linktrack_local_day"


def local_day(column, zone: str, dialect_name: str):
    """The calendar day of a timestamp column in the IANA time zone `zone` (one bound parameter, so
    the name is looked up once per statement, not per row), read back as a date on both databases:
    counting/days.local_day in SQL. SQLite keeps UTC timestamps without a zone (models.UTCDateTime)
    and calls that very function (registered by prepare_connection)."""
    name = bindparam(None, zone, type_=Text)
    if dialect_name == POSTGRESQL:
        return cast(func.timezone(name, column), Date)
    return getattr(func, SQLITE_LOCAL_DAY)(column, name, type_=Date)


def database_now(app_now, dialect_name: str):
    """The time by the database's clock, for a statement that decides by it (the attribution
    window): PostgreSQL's statement_timestamp(), one value all through the statement, whichever
    host sends it. SQLite runs inside the app's process, so its clock is the app host's: `app_now`
    (the caller's bind parameter) is the database's time there, and time-machine still moves it."""
    if dialect_name == POSTGRESQL:
        return func.statement_timestamp(type_=app_now.type)
    return app_now


def database_time_before(app_time, period, dialect_name: str):
    """database_now() minus `period` (an Interval parameter), or on SQLite the app's `app_time`:
    a look-back ("the last minute") on the same clock as database_now."""
    if dialect_name == POSTGRESQL:
        return func.statement_timestamp(type_=app_time.type) - period
    return app_time


def first_of_month(day_column, dialect_name: str):
    """The first day of a Date column's month."""
    if dialect_name == POSTGRESQL:
        return cast(func.date_trunc("month", day_column), Date)
    return func.date(day_column, "start of month", type_=Date)


def whole_units_between(start, end, unit_seconds: int, dialect_name: str):
    """floor((end - start) / unit_seconds) in SQL, as an integer.

    SQLite counts whole milliseconds first (a float difference of julian days can land a hair
    under a whole day), then floors by hand: its integer division truncates toward zero, which
    made a conversion one second before its click (clock skew) day 0 instead of day -1.
    """
    if dialect_name == POSTGRESQL:
        return cast(func.floor(func.extract("epoch", end - start) / unit_seconds), Integer)
    milliseconds = cast(func.round((func.julianday(end) - func.julianday(start)) * 86_400_000), Integer)
    unit = unit_seconds * 1000
    remainder = (milliseconds % unit + unit) % unit  # in [0, unit) whatever the sign
    return (milliseconds - remainder) // unit  # exact: the remainder is gone


def text_after(column, separator: str, dialect_name: str):
    """What follows the first `separator` in a text column (meaningless when there is none: the
    caller checks for it first)."""
    if dialect_name == POSTGRESQL:
        return func.split_part(column, separator, 2)
    return func.substr(column, func.instr(column, separator) + len(separator))


def in_list_parameter(column, name: str, dialect_name: str):
    """`column` IN the list bound as parameter `name`, as SQL text that is the same whatever the
    list's length: on PostgreSQL one array parameter (= ANY), so psycopg can prepare the statement;
    SQLite expands the list when the statement runs."""
    if dialect_name == POSTGRESQL:
        return column == func.any(bindparam(name, type_=postgresql.ARRAY(column.type)))
    return column.in_(bindparam(name, expanding=True))


def skip_locked(query, dialect_name: str):
    """`query` taking row locks and skipping rows another transaction holds. SQLite has one writer
    at a time, so no other transaction holds any: the query stays as it is."""
    if dialect_name == POSTGRESQL:
        return query.with_for_update(skip_locked=True)
    return query


def lock_order(columns, dialect_name: str) -> list:
    """ORDER BY terms that take row locks in the order of the columns' text (byte order, as Python
    sorts str), the order every writer locks in, so two transactions never deadlock. SQLite locks
    the whole database, not rows: no order is needed."""
    if dialect_name == POSTGRESQL:
        return [cast(column, Text).collate("C") for column in columns]
    return []


def money(column, value):
    """`value` rounded to cents when `column` holds money: SQLite computes Numeric as floats, so
    a sum can differ from zero by 1e-14. Both databases get the same SQL."""
    return func.round(value, 2) if isinstance(column.type, Numeric) else value


# Transactions.


def snapshots_then_writes(
    connection: Connection,
    lock_key: int,
    setup: Callable[[Connection], list[tuple[Callable[[Connection], None], Callable[[Connection], None]]]],
) -> None:
    """Run `setup`, which returns steps (read, write); then each step's `read` in a snapshot of its
    own and its `write` right after, one run per `lock_key` at a time, such that what each `write`
    adds commutes with whatever other writers commit in between.

    PostgreSQL: an advisory lock on `lock_key` is taken (with `setup`) before the first snapshot and
    held by the session until the connection closes (the caller detaches it from the pool); each
    snapshot is a READ ONLY REPEATABLE READ transaction (it neither waits for writers nor fails),
    each write a READ COMMITTED one. No snapshot outlives its step, so none holds back vacuum for
    the whole run. SQLite, one writer at a time: each step is one transaction holding the write lock
    from its first statement (BEGIN IMMEDIATE), so nothing commits between its read and its write.
    """
    if not is_postgresql(connection):
        with connection.begin():
            connection.exec_driver_sql("BEGIN IMMEDIATE")
            steps = setup(connection)
        for read, write in steps:
            with connection.begin():
                connection.exec_driver_sql("BEGIN IMMEDIATE")
                read(connection)
                write(connection)
        return
    with connection.begin():
        connection.execute(select(func.pg_advisory_lock(lock_key)))
        steps = setup(connection)
    for read, write in steps:
        with connection.begin():
            connection.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            read(connection)
        with connection.begin():
            connection.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL READ COMMITTED")
            write(connection)


def lock_for_transaction(connection: Connection, lock_key: int, wait: bool) -> bool:
    """Take the lock `lock_key` until the current transaction ends, or with `wait` False say False
    at once when another transaction holds it (PostgreSQL's transaction-level advisory locks: one
    holder across every process and host, released by commit, rollback or a dropped connection).
    SQLite serialises writing transactions itself: there is nothing to take."""
    if not is_postgresql(connection):
        return True
    if wait:
        connection.execute(select(func.pg_advisory_xact_lock(lock_key)))
        return True
    return bool(connection.scalar(select(func.pg_try_advisory_xact_lock(lock_key))))


def epoch_now(dialect_name: str):
    """The database's time as seconds since 1970 (PostgreSQL: the transaction's start), so hosts
    comparing times they did not take themselves do not depend on their own clocks."""
    if dialect_name == POSTGRESQL:
        return cast(func.extract("epoch", func.now()), Float)
    return (func.julianday("now") - 2440587.5) * 86400.0  # the Unix epoch is julian day 2440587.5


def inserts_in_cte(dialect_name: str) -> bool:
    """Whether an INSERT ... RETURNING can stand in a WITH for another statement to read (SQLite: no)."""
    return dialect_name == POSTGRESQL
