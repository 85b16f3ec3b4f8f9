"""Every Flask extension lives here, created unbound and registered by create_app()."""

from contextlib import contextmanager

from flask import Flask, current_app, g
from flask_limiter import Limiter
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from redis import Redis
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session

from . import dialect


class Base(DeclarativeBase):
    pass


# Objects stay readable after commit: views answer with what they just stored, and a reload
# of every attribute after each commit would cost a query per object for nothing.
db = SQLAlchemy(model_class=Base, session_options={"expire_on_commit": False})
migrate = Migrate(render_as_batch=True, compare_type=True)
login_manager = LoginManager()
csrf = CSRFProtect()


def hashed_remote_address() -> str:
    """Flask-Limiter's key for a caller: its address's daily keyed hash (redirect/clicks.hash_ip),
    so the limiter's Redis keys never hold a raw IP. Imported when first called: clicks.py imports
    this module."""
    from datetime import datetime, timezone

    from flask_limiter.util import get_remote_address

    from .redirect.clicks import address_key

    day = datetime.now(timezone.utc).date()
    return "address:" + address_key(get_remote_address() or "", day, current_app.config["SECRET_KEY"])


limiter = Limiter(key_func=hashed_remote_address)


# Every new connection gets the settings its database needs (SQLite: foreign keys on).
event.listen(Engine, "connect", dialect.prepare_connection)

# Engines besides DATABASE_URL's, as Flask-SQLAlchemy binds no model is mapped to (create_app makes
# them only when their URL is set and differs): nothing reaches them unless it asks below.
MAINTENANCE_BIND = "maintenance"
REPORTS_BIND = "reports"
_REPORTS_SESSION = "linktrack_reports_session"


def maintenance_engine() -> Engine:
    """The engine for work that keeps session state across transactions (the recount's advisory
    lock and temporary tables): MAINTENANCE_DATABASE_URL's, a direct or session-mode connection,
    else the app's own. Behind a transaction-mode pooler, session state stays on a server
    connection the pooler then hands to other clients: the lock is never released and the next
    recount there finds its temporary tables already made."""
    return db.engines.get(MAINTENANCE_BIND) or db.engine


@contextmanager
def maintenance_session():
    """`db.session` is a session on maintenance_engine() inside the block (also a decorator), so a
    service written against db.session (the cleanup) moves whole, without a parameter threaded
    through it. The caller's own session is put back afterwards, untouched; what was loaded
    inside belongs to the maintenance session, closed at the end (still readable: no expiry on
    commit). Without MAINTENANCE_DATABASE_URL nothing changes."""
    engine = db.engines.get(MAINTENANCE_BIND)
    if engine is None:
        yield
        return
    caller = db.session.registry()
    session = Session(bind=engine, expire_on_commit=False)
    db.session.registry.set(session)
    try:
        yield
    finally:
        session.close()
        db.session.registry.set(caller)


def reports_session():
    """The session report pages read through: one on REPORTS_DATABASE_URL (a streaming replica)
    when set, one per app context, else db.session. A replica may trail the primary (by its replay
    lag), so only what a creator reads goes here; whatever decides or guards a write (an owner
    check, a conversion, the link cache, the counters) reads db.session, the primary."""
    engine = db.engines.get(REPORTS_BIND)
    if engine is None:
        return db.session
    session = g.get(_REPORTS_SESSION)
    if session is None:
        session = Session(bind=engine)
        setattr(g, _REPORTS_SESSION, session)
    return session


def install_reports_session(app: Flask) -> None:
    """Close the app context's reports session with the context (its connection goes back to the pool)."""

    @app.teardown_appcontext
    def close_reports_session(_exc):
        session = g.pop(_REPORTS_SESSION, None)
        if session is not None:
            session.close()


def redis_connection() -> Redis | None:
    """The app's Redis client, or None when REDIS_URL is unset (embedded mode).

    One client per app, created on first use, so importing this module opens nothing.
    """
    url = current_app.config.get("REDIS_URL")
    if not url:
        return None
    client = current_app.extensions.get("linktrack_redis")
    if client is None:
        client = Redis.from_url(url, socket_connect_timeout=1, socket_timeout=2)
        current_app.extensions["linktrack_redis"] = client
    return client
