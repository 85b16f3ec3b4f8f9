"""Every Flask extension lives here, created unbound and registered by create_app()."""

from flask import current_app
from flask_limiter import Limiter
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from redis import Redis
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase

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

    from .redirect.clicks import hash_ip

    day = datetime.now(timezone.utc).date()
    return "address:" + hash_ip(get_remote_address() or "", day, current_app.config["SECRET_KEY"])[:32]


limiter = Limiter(key_func=hashed_remote_address)


# Every new connection gets the settings its database needs (SQLite: foreign keys on).
event.listen(Engine, "connect", dialect.prepare_connection)


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
