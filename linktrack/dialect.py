"""The only module that knows SQLite from PostgreSQL.

Everything else asks here for the SQL that differs between the two (an upsert, a UTC day, whole
days between two timestamps) or whether a connection speaks PostgreSQL, so a branch on the
database is written once and read in one place.
"""

from sqlalchemy import Integer, cast, func
from sqlalchemy.dialects import postgresql, sqlite

POSTGRESQL = "postgresql"
SQLITE = "sqlite"


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


def insert(table, dialect_name: str):
    """An INSERT for `table` that can take ON CONFLICT (both databases spell it the same)."""
    return (postgresql.insert if dialect_name == POSTGRESQL else sqlite.insert)(table)


def whole_units_between(start, end, unit_seconds: int, dialect_name: str):
    """floor((end - start) / unit_seconds) in SQL, as an integer.

    SQLite counts whole milliseconds first: a float difference of julian days can land a hair
    under a whole day.
    """
    if dialect_name == POSTGRESQL:
        return cast(func.floor(func.extract("epoch", end - start) / unit_seconds), Integer)
    milliseconds = cast(func.round((func.julianday(end) - func.julianday(start)) * 86_400_000), Integer)
    return milliseconds // (unit_seconds * 1000)
