"""The statements that record a conversion, and two ways to run them.

- `SessionStore` (the Flask view: server calls with an API key, and anything the fast path hands
  on; every database): one SELECT reads the click, its link, the visitor's earlier conversions and
  whether the creator forwards anywhere; one INSERT stores the conversion (nothing on a replay of
  its event_id) and, on PostgreSQL in the same statement, its UncountedConversion (SQLite cannot
  put an INSERT in a WITH: two statements there), in the session's transaction.
- `PsycopgStore` (the conversion fast path on PostgreSQL): one statement does both, storing only
  what the rules let in (record_if_allowed), compiled once by SQLAlchemy and run straight on a
  psycopg connection each thread keeps, in autocommit. Measured, SQLAlchemy's per-statement work
  (execution context, result objects, pool checkout and pre-ping) cost more CPU than PostgreSQL
  spent running the statements, and each round trip more than either.
"""

import functools
import threading
import weakref
from contextlib import contextmanager
from datetime import datetime

from psycopg.types.json import Jsonb
from sqlalchemy import (
    Integer,
    Interval,
    String,
    Uuid,
    and_,
    bindparam,
    event,
    func,
    select,
    true,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Engine

from .. import dialect
from ..dialect import POSTGRESQL
from ..errors import ApiError
from ..extensions import db
from ..models import CampaignLink, ClickEvent, ConversionEvent, UncountedConversion
from ..models.events import tracking_time_bounds
from ..models.forwarding import ForwardingDestination
from . import rules

# Constants are written into the statement, not sent with every call as parameters.
NO_LIMIT = 2**31 - 1  # what the statement compares with when rate limits are off
CONVERSIONS = ConversionEvent.__table__
CONVERSION_COLUMNS = [column.name for column in CONVERSIONS.columns]
UNCOUNTED = UncountedConversion.__table__
UNCOUNTED_COLUMNS = [column.name for column in UNCOUNTED.columns]
# An event_id is unique per click and per source (models.events.ConversionEvent).
IDEMPOTENCY_KEY = ["tracking_id", "source", "event_id"]
# What the INSERT needs besides the conversion's own columns (uncounted_conversions' other columns).
UNCOUNTED_PARAMS = {name: f"uncounted_{name}" for name in UNCOUNTED_COLUMNS if name != "conversion_id"}


# The click's clicked_at bounds, from its tracking id (models.events.tracking_time_bounds): with them
# PostgreSQL runs the statement on the one monthly partition that can hold the click.
CLICKED_BETWEEN = (
    bindparam("clicked_since", type_=ClickEvent.clicked_at.type),
    bindparam("clicked_until", type_=ClickEvent.clicked_at.type),
)


def click_bounds(tracking_id) -> dict:
    """The CLICKED_BETWEEN parameters for `tracking_id`."""
    since, until = tracking_time_bounds(tracking_id)
    return {"clicked_since": since, "clicked_until": until}


@functools.cache
def click_context_query(dialect_name: str = POSTGRESQL, database_clock: bool = False):
    """(clicked_at, link id, creator id, allowed origins, window days, first of its type, forwards,
    the visitor's conversions since `recent_since` and the first of them, the link's cap on browser
    revenue, now): one query. `now` is the database's clock with `database_clock` (dialect.database_now:
    every host decides the window by one clock), else the caller's `converted_at`."""
    tracking_id = bindparam("tracking_id", type_=Uuid)
    now = bindparam("converted_at", type_=CONVERSIONS.c.converted_at.type)
    since = bindparam("recent_since", type_=ConversionEvent.converted_at.type)
    if database_clock:
        now = dialect.database_now(now, dialect_name)
        since = dialect.database_time_before(since, bindparam("recent_period", type_=Interval), dialect_name)
    has_type = (
        select(ConversionEvent.id)
        .where(ConversionEvent.tracking_id == tracking_id, ConversionEvent.event_type == bindparam("event_type"))
        .exists()
    )
    forwards = (
        select(ForwardingDestination.id)
        .where(
            ForwardingDestination.user_id == CampaignLink.user_id,
            ForwardingDestination.enabled.is_(True),
            ForwardingDestination.paused_at.is_(None),
        )
        .exists()
    )
    recent = (ConversionEvent.tracking_id == tracking_id, ConversionEvent.converted_at > since)
    return (
        select(
            ClickEvent.clicked_at.label("clicked_at"),
            CampaignLink.id.label("link_id"),
            CampaignLink.user_id.label("user_id"),
            CampaignLink.allowed_origins.label("allowed_origins"),
            CampaignLink.attribution_window_days.label("window_days"),
            (~has_type).label("first_of_type"),
            forwards.label("forwards"),
            select(func.count()).where(*recent).scalar_subquery().label("recent"),
            select(func.min(ConversionEvent.converted_at)).where(*recent).scalar_subquery().label("first_recent"),
            CampaignLink.max_browser_revenue.label("max_browser_revenue"),
            now.label("now"),
        )
        .join(CampaignLink, CampaignLink.id == ClickEvent.campaign_link_id)
        .where(ClickEvent.with_tracking_id_between(tracking_id, *CLICKED_BETWEEN))
    )


@functools.cache
def insert_conversion(dialect_name: str):
    """Stores nothing when (tracking_id, source, event_id) is already stored: a replay. Returns the id stored.

    On PostgreSQL the UncountedConversion is inserted by the same statement, from the conversion
    it returns; elsewhere `insert_uncounted()` follows it.
    """
    conversion = (
        dialect.insert(CONVERSIONS, dialect_name)
        .values({name: bindparam(name, type_=CONVERSIONS.c[name].type) for name in CONVERSION_COLUMNS})
        .on_conflict_do_nothing(index_elements=IDEMPOTENCY_KEY)
        .returning(CONVERSIONS.c.id)
    )
    if not dialect.inserts_in_cte(dialect_name):
        return conversion
    stored = conversion.cte("stored")
    values = [bindparam(param, type_=UNCOUNTED.c[name].type) for name, param in UNCOUNTED_PARAMS.items()]
    return (
        postgresql.insert(UNCOUNTED)
        .from_select(UNCOUNTED_COLUMNS, select(stored.c.id, *values))
        .returning(UNCOUNTED.c.conversion_id)
    )


@functools.cache
def record_if_allowed(database_clock: bool = False):
    """PostgreSQL, one statement: the click's context (as click_context_query), and the conversion
    and its UncountedConversion stored only if the rules let it in: the click belongs to
    `campaign_link_id`, `origin` is allowed, the amount is within the link's browser cap, the click
    is within its window (the same rules.within_window_sql the rules module gives, so one formula),
    the visitor is under
    `limit_amount` recent conversions, and the event id is new. Returns the context row and the
    stored id, or NULL: then the caller applies the same rules to the context, in Python, to say
    which one refused (service.record_conversion; those rules are the authority and are tested at
    their edges on both databases)."""
    click = click_context_query(POSTGRESQL, database_clock).cte("click")
    now = click.c.now  # the conversion's time, by the clock click_context_query was told to read
    origin = bindparam("origin", type_=String)
    values = {name: bindparam(name, type_=CONVERSIONS.c[name].type) for name in CONVERSION_COLUMNS}
    values["converted_at"] = now
    allowed = and_(
        click.c.link_id == bindparam("campaign_link_id", type_=Uuid),
        click.c.allowed_origins.op("@>")(func.jsonb_build_array(origin)),  # a NULL origin matches nothing
        rules.within_browser_revenue_sql(values["revenue_amount"], click.c.max_browser_revenue),
        rules.within_window_sql(click.c.clicked_at, click.c.window_days, now, POSTGRESQL, rules.day_length_sql()),
        click.c.recent < bindparam("limit_amount", type_=Integer),
    )
    stored = (
        postgresql.insert(CONVERSIONS)
        .from_select(CONVERSION_COLUMNS, select(*values.values()).select_from(click).where(allowed))
        .on_conflict_do_nothing(index_elements=IDEMPOTENCY_KEY)
        .returning(CONVERSIONS.c.id)
        .cte("stored")
    )
    days = rules.days_since_click_sql(click.c.clicked_at, now, POSTGRESQL, rules.day_length_sql())
    uncounted = postgresql.insert(UNCOUNTED).from_select(
        UNCOUNTED_COLUMNS,
        select(
            stored.c.id,
            click.c.link_id,
            click.c.user_id,
            values["event_type"],
            values["revenue_amount"],
            values["currency"],
            days,
            click.c.first_of_type,
            now,
        ).select_from(stored.join(click, true())),
    )
    return select(click, select(stored.c.id).scalar_subquery()).add_cte(uncounted.cte("uncounted"))


@functools.cache
def insert_uncounted():
    return UNCOUNTED.insert().values(
        conversion_id=bindparam("id", type_=Uuid),
        **{name: bindparam(param, type_=UNCOUNTED.c[name].type) for name, param in UNCOUNTED_PARAMS.items()},
    )


class SessionStore:
    """The statements on the SQLAlchemy session, in its transaction; `commit` ends it."""

    def __init__(self):
        self.connection = db.session.connection()
        self.dialect_name = self.connection.dialect.name
        self.committed = False  # whether this request's conversion is stored for good

    def read_or_record(self, conversion: dict, *, origin, owner_id, limit_amount, since: datetime, database_clock):
        """(the click's context row or None, None): the rules are applied in Python, then `insert`."""
        params = {
            "tracking_id": conversion["tracking_id"],
            "event_type": conversion["event_type"],
            "recent_since": since,
            "recent_period": conversion["converted_at"] - since,
            "converted_at": conversion["converted_at"],
            **click_bounds(conversion["tracking_id"]),
        }
        query = click_context_query(self.dialect_name, database_clock)
        return self.connection.execute(query, params).first(), None

    def insert(self, params: dict) -> bool:
        stored = self.connection.execute(insert_conversion(self.dialect_name), params).first()
        if stored is not None and not dialect.inserts_in_cte(self.dialect_name):
            self.connection.execute(insert_uncounted(), params)
        return stored is not None

    def commit(self) -> None:
        db.session.commit()
        self.committed = True

    def rollback(self) -> None:
        db.session.rollback()


class PsycopgStore:
    """A landing page's conversion on a psycopg connection in autocommit (PostgreSQL only): one
    statement, its own transaction (record_if_allowed)."""

    dialect_name = POSTGRESQL

    def __init__(self, connection):
        self.cursor = connection.cursor()  # one per connection, reused: it only runs record_if_allowed
        self.committed = False  # whether the last statement stored a conversion (autocommit)

    def read_or_record(self, conversion: dict, *, origin, owner_id, limit_amount, since: datetime, database_clock):
        """(the click's context row or None, whether the conversion was stored): one round trip."""
        if owner_id is not None:
            raise ValueError("PsycopgStore records browser conversions only: its statement checks no owner")
        params = {
            **conversion,
            "origin": origin,
            "limit_amount": NO_LIMIT if limit_amount is None else limit_amount,
            "recent_since": since,
            "recent_period": conversion["converted_at"] - since,
            **click_bounds(conversion["tracking_id"]),
        }
        sql, defaults = _compiled(record_if_allowed(database_clock))
        data = params["event_data"]
        self.committed = False
        self.cursor.execute(sql, {**defaults, **params, "event_data": None if data is None else Jsonb(data)})
        row = self.cursor.fetchone()
        self.committed = row is not None and row[-1] is not None
        return (None, False) if row is None else (row[:-1], self.committed)

    def commit(self) -> None:
        """Autocommit: every statement already committed."""

    def rollback(self) -> None:
        """Autocommit: nothing is open."""


@contextmanager
def psycopg_store():
    """A PsycopgStore on this thread's own connection, borrowed from the app's pool once and kept.

    Kept, not checked out per conversion: the pool pings a connection on every checkout (a round
    trip of its own). A connection that fails is thrown away, and the caller answers the request
    some other way (the fast path hands it to Flask, whose pool pings); the next conversion
    borrows a fresh one. Disposing the engine (tests, a forked worker) closes the kept ones.
    """
    engine = db.engine
    lent = _kept_connection(engine)
    store = lent.info.get(_STORE_KEY)
    if store is None or store.cursor.connection is not lent.driver_connection:
        store = lent.info[_STORE_KEY] = PsycopgStore(lent.driver_connection)
    try:
        yield store
    except ApiError:
        raise
    except BaseException:
        _forget(engine, lent)
        raise


_STORE_KEY = "linktrack_psycopg_store"  # the kept connection's PsycopgStore, and so its cursor
_kept = threading.local()  # this thread's {engine: lent connection}
_kept_everywhere: "weakref.WeakKeyDictionary[Engine, list]" = weakref.WeakKeyDictionary()


def _kept_connection(engine: Engine):
    kept = getattr(_kept, "connections", None)
    if kept is None:
        kept = _kept.connections = weakref.WeakKeyDictionary()
    lent = kept.get(engine)
    if lent is None:
        lent = engine.raw_connection()
        lent.driver_connection.autocommit = True  # never handed back, so the pool never sees it so
        kept[engine] = lent
        if engine not in _kept_everywhere:
            _kept_everywhere[engine] = []
            event.listen(engine, "engine_disposed", _close_kept)
        _kept_everywhere[engine].append(lent)
    return lent


def _forget(engine: Engine, lent) -> None:
    getattr(_kept, "connections", {}).pop(engine, None)
    if lent in _kept_everywhere.get(engine, []):
        _kept_everywhere[engine].remove(lent)
    lent.invalidate()


def _close_kept(engine: Engine) -> None:
    """engine.dispose(): close every thread's kept connection (a thread using one gets an error and
    hands its request on, as for any failed connection)."""
    for lent in _kept_everywhere.pop(engine, []):
        lent.invalidate()
    connections = getattr(_kept, "connections", None)
    if connections is not None:
        connections.pop(engine, None)


@functools.cache
def _compiled(statement) -> tuple[str, dict]:
    """The SQL text psycopg runs for `statement`, and the values of its own literals."""
    compiled = statement.compile(dialect=postgresql.psycopg.dialect())
    return str(compiled), dict(compiled.params)
