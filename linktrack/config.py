"""Configuration from environment variables (DESIGN.md §3), read when the app is built.

Every variable is read through one table, ENVIRONMENT (its name and the parser for its type), by
`read_setting`, which gunicorn.conf.py uses too: an empty variable means unset, and a value the
parser refuses stops the app with a SettingError naming the variable and what it takes. README's
configuration table lists every variable; tests/test_settings.py reads that table and checks each
row against ENVIRONMENT, so a setting documented but not read fails there.
"""

import os
import secrets
from collections.abc import Callable
from pathlib import Path

from .dialect import normalise_database_url  # also imported from here by tests and bench


class SettingError(ValueError):
    """An environment variable whose value cannot be read; the message names it and what it takes."""


def flag(value: str) -> bool:
    """true or false (1/0, yes/no, on/off)"""
    word = value.strip().lower()
    if word in {"1", "true", "yes", "on"}:
        return True
    if word in {"0", "false", "no", "off"}:
        return False
    raise ValueError(value)


def whole_number(value: str) -> int:
    """a whole number, 0 or more"""
    number = int(value.strip())
    if number < 0:
        raise ValueError(value)
    return number


def seconds(value: str) -> float:
    """a number of seconds, 0 or more (2.5)"""
    number = float(value.strip())
    if not number >= 0 or number == float("inf"):  # also refuses nan
        raise ValueError(value)
    return number


def rate_limit(value: str) -> str:
    """a Flask-Limiter rate limit ("10 per minute", "120/minute;1200/hour")"""
    from limits import parse_many

    parse_many(value)
    return value


def text(value: str) -> str:
    """any text"""
    return value


def choice(*choices: str) -> Callable[[str], str]:
    def parse(value: str) -> str:
        word = value.strip().lower()
        if word not in choices:
            raise ValueError(value)
        return word

    parse.__doc__ = "one of " + ", ".join(choices)
    return parse


def read_setting(name: str, parse: Callable[[str], object], environ=os.environ):
    """The environment variable `name` read with `parse`, or None when unset or empty (empty means
    unset, so `REDIS_URL=` keeps the default). A value `parse` refuses raises SettingError naming
    the variable and what it takes (the parser's docstring), so a bad deploy fails at start."""
    raw = environ.get(name, "")
    if raw == "":
        return None
    try:
        return parse(raw)
    except (ValueError, TypeError) as exc:
        wanted = (parse.__doc__ or parse.__name__).strip().splitlines()[0]
        raise SettingError(f"environment variable {name}={raw!r} is not valid: expected {wanted}") from exc


def debug_mode(environ=os.environ) -> bool:
    """FLASK_DEBUG is on: a developer's machine (`make run`), served over plain http."""
    return bool(read_setting("FLASK_DEBUG", flag, environ))


def dev_secret_key(instance_path: str) -> str:
    """A development secret generated once into instance/, so sessions survive restarts."""
    path = Path(instance_path) / "secret_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


# Flask-Limiter strings ("10 per minute"), each settable from the environment.
RATE_LIMIT_SETTINGS = (
    "LOGIN_RATE_LIMIT",
    "REGISTER_RATE_LIMIT",
    "CONVERSION_RATE_LIMIT_PER_IP",
    "CONVERSION_RATE_LIMIT_PER_TRACKING_ID",
    "LINK_API_RATE_LIMIT",
    "PASSWORD_RESET_RATE_LIMIT_PER_IP",
    "PASSWORD_RESET_RATE_LIMIT_PER_EMAIL",
    "SHORT_LINK_RATE_LIMIT_PER_IP",
    "SHORT_LINK_MISS_RATE_LIMIT_PER_IP",
)

# Numbers settable from the environment, with the parser each is read with.
NUMBER_SETTINGS = {
    "FORWARDING_CONNECT_TIMEOUT_SECONDS": seconds,
    "FORWARDING_READ_TIMEOUT_SECONDS": seconds,
    "FORWARDING_MAX_DESTINATIONS": whole_number,
    "DATABASE_CONNECT_TIMEOUT_SECONDS": seconds,
    "DATABASE_POOL_SIZE": whole_number,
    "DATABASE_MAX_OVERFLOW": whole_number,
    "ATTRIBUTION_WINDOW_DAYS": whole_number,
    "TRUST_PROXY_HOPS": whole_number,
    "CLICK_FLUSH_SECONDS": seconds,
    "CLICK_COUNT_SECONDS": seconds,
    "CLEANUP_MAX_SECONDS": seconds,
    "CONVERSION_COUNT_SECONDS": seconds,
    "JOBS_SWEEP_SECONDS": whole_number,
    "CLICK_PII_RETENTION_DAYS": whole_number,
    "IDEMPOTENCY_KEY_MARGIN_DAYS": whole_number,
    "CLEANUP_BATCH_SIZE": whole_number,
    "FORWARDING_MAX_ATTEMPTS": whole_number,
    "FORWARDING_RETRY_BASE_SECONDS": whole_number,
    "FORWARDING_IN_FLIGHT_PER_CREATOR": whole_number,
    "FORWARDING_LOST_AFTER_MINUTES": whole_number,
    "FORWARDING_LOST_LOOKBACK_HOURS": whole_number,
    "FORWARDING_PAUSE_AFTER_FAILURES": whole_number,
    "MAX_CONTENT_LENGTH": whole_number,
    "PASSWORD_RESET_VALID_MINUTES": whole_number,
    "MAIL_PORT": whole_number,
    "MAIL_TIMEOUT_SECONDS": seconds,
}

# Every environment variable the app reads (README's configuration table lists each one), with the
# parser that reads it; a new setting is one line here. The app.config key is the variable's name
# except where CONFIG_KEYS says otherwise. FLASK_DEBUG is read by debug_mode().
ENVIRONMENT: dict[str, Callable[[str], object]] = {
    "SECRET_KEY": text,
    "DATABASE_URL": normalise_database_url,
    "MAINTENANCE_DATABASE_URL": normalise_database_url,
    "REPORTS_DATABASE_URL": normalise_database_url,
    "DATABASE_PREPARED_STATEMENTS": flag,
    "REDIS_URL": text,
    "LINKTRACK_BASE_URL": lambda value: value.rstrip("/"),
    "TRUSTED_HOSTS": text,
    "RATELIMIT_ENABLED": flag,
    "SESSION_COOKIE_SECURE": flag,
    "MAIL_SERVER": text,
    "MAIL_USERNAME": text,
    "MAIL_PASSWORD": text,
    "MAIL_DEFAULT_SENDER": text,
    "MAIL_USE_TLS": flag,
    "MAIL_USE_SSL": flag,
    "FORWARDING_KEY": text,
    "FACEBOOK_GRAPH_URL": text,
    "GA4_MP_URL": text,
    "FORWARDING_ALLOW_PRIVATE_ADDRESSES": flag,
    "METRICS_TOKEN": text,
    "LOG_FORMAT": choice("text", "json"),
    "CONVERSION_CLOCK": choice("database", "app"),
    "ACCESS_LOG": flag,
    **dict.fromkeys(RATE_LIMIT_SETTINGS, rate_limit),
    **NUMBER_SETTINGS,
}
CONFIG_KEYS = {"DATABASE_URL": "SQLALCHEMY_DATABASE_URI"}


class Config:
    """Production-ready defaults; every value can be set from the environment."""

    TESTING = False
    SECRET_KEY = None  # filled by create_app from the environment or the dev file
    SQLALCHEMY_DATABASE_URI = None  # filled by create_app (needs the instance path)
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}
    DATABASE_CONNECT_TIMEOUT_SECONDS = 5  # PostgreSQL: give up connecting after this (libpq's minimum is 2)
    DATABASE_POOL_SIZE = 5  # PostgreSQL: connections each process keeps open (SQLAlchemy's pool_size)
    DATABASE_MAX_OVERFLOW = 10  # and opens on top of them at a peak, closed once returned
    # False behind a transaction-mode pooler that cannot keep them (PgBouncer before 1.21; dialect.engine_options).
    DATABASE_PREPARED_STATEMENTS = True
    MAINTENANCE_DATABASE_URL = None  # recount and cleanup (session state): direct or session-mode; unset: DATABASE_URL
    REPORTS_DATABASE_URL = None  # report pages read here (a streaming replica); unset: DATABASE_URL
    REDIS_URL = None
    LINKTRACK_BASE_URL = None
    TRUSTED_HOSTS = None  # more host names to answer besides LINKTRACK_BASE_URL's (web/hosts.py)
    ATTRIBUTION_WINDOW_DAYS = 30
    # Whose clock decides a conversion's window: "database" (PostgreSQL's, one clock for every
    # host) or "app" (this host's; the test suite's, which moves time with time-machine). SQLite
    # runs in the app's process: its clock is the app's either way.
    CONVERSION_CLOCK = "database"
    TRUST_PROXY_HOPS = 0
    RATELIMIT_ENABLED = True
    RATELIMIT_HEADERS_ENABLED = True
    # Redis away (limits are stored there when REDIS_URL is set): each process counts in its own
    # memory meanwhile instead of failing the request, and looks for Redis again after 1, 2, 4... 32 s.
    RATELIMIT_IN_MEMORY_FALLBACK_ENABLED = True
    # A hung Redis costs a request one short timeout, not a hang (redis-py waits forever by default).
    RATELIMIT_STORAGE_OPTIONS = {"socket_connect_timeout": 0.5, "socket_timeout": 0.5}
    LOGIN_RATE_LIMIT = "10 per minute"
    REGISTER_RATE_LIMIT = "20 per hour"
    CONVERSION_RATE_LIMIT_PER_IP = "120 per minute"
    CONVERSION_RATE_LIMIT_PER_TRACKING_ID = "30 per minute"
    SHORT_LINK_RATE_LIMIT_PER_IP = (
        "120/minute;1200/hour"  # per link and address; over it: no tracking (redirect/limit.py)
    )
    # Unknown short codes one address may look up (each a query); past it: 429 without a query (redirect/limit.py)
    SHORT_LINK_MISS_RATE_LIMIT_PER_IP = "60/minute"
    LINK_API_RATE_LIMIT = "120 per minute"  # /api/links*, per creator (all their keys and their session)
    PASSWORD_RESET_RATE_LIMIT_PER_IP = "10 per hour"  # "Forgot password?" requests from one address
    PASSWORD_RESET_RATE_LIMIT_PER_EMAIL = "3 per hour"  # reset emails to one address, asked by anyone
    PASSWORD_RESET_VALID_MINUTES = 60
    MAIL_SERVER = None  # unset: no mail; the forgot-password page explains `flask users set-password`
    MAIL_PORT = 25
    MAIL_USERNAME = None
    MAIL_PASSWORD = None
    MAIL_USE_TLS = False  # STARTTLS after connecting (usually port 587)
    MAIL_USE_SSL = False  # TLS from the first byte (usually port 465)
    MAIL_DEFAULT_SENDER = "linktrack <no-reply@localhost>"
    MAIL_TIMEOUT_SECONDS = 10
    MAX_CONTENT_LENGTH = 1024 * 1024  # no request body needs more; conversions allow far less
    PASSWORD_HASH_METHOD = "scrypt"
    SESSION_COOKIE_SECURE = None  # None: secure unless FLASK_DEBUG or testing (create_app decides)
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    WTF_CSRF_TIME_LIMIT = None  # a token lives as long as the session
    CLICK_FLUSH_SECONDS = 0.1  # clicks are written in batches this often; 0: in each request (click_writer.py)
    # The counting consumer (counting/consumer.py): one run at a time across all hosts, at most this
    # often; a click batch is counted within this. 0: inside the call that stored it (the tests).
    CLICK_COUNT_SECONDS = 0.5
    CONVERSION_COUNT_SECONDS = 1.0  # a conversion reaches the report counts within this; 0: in its request
    JOBS_SWEEP_SECONDS = 60  # the sweep's period: `flask cron`'s interval; no Redis: at most this often, at an enqueue
    CLICK_PII_RETENTION_DAYS = 90  # cleanup strips user agent, referrer path and ip hash from older clicks
    IDEMPOTENCY_KEY_MARGIN_DAYS = 7  # event_id kept this long after a click's window closes (replays)
    CLEANUP_BATCH_SIZE = 1000  # rows per cleanup transaction, so no lock is held for long
    CLEANUP_MAX_SECONDS = 300  # a cleanup run starts no batch after this; the next run resumes (cleanup.py)
    FORWARDING_KEY = None  # encrypts destination credentials; derived from SECRET_KEY when unset
    FACEBOOK_GRAPH_URL = "https://graph.facebook.com/v21.0"
    GA4_MP_URL = "https://www.google-analytics.com/mp/collect"
    FORWARDING_CONNECT_TIMEOUT_SECONDS = 3  # one try waits this long for the receiver's connection
    FORWARDING_READ_TIMEOUT_SECONDS = 5  # and then this long for each read of its answer
    FORWARDING_MAX_DESTINATIONS = 10  # per creator: one creator's destinations cannot crowd the workers
    FORWARDING_MAX_ATTEMPTS = 6  # the first try and 5 retries: 1, 2, 4, 8, 16 minutes apart
    FORWARDING_RETRY_BASE_SECONDS = 60
    FORWARDING_IN_FLIGHT_PER_CREATOR = 2  # a creator's delivery jobs on the shared queue at once (fairness)
    FORWARDING_LOST_AFTER_MINUTES = 10  # the sweep re-runs forwarding that has no job after this long
    FORWARDING_LOST_LOOKBACK_HOURS = 24  # and looks this far back for conversions never fanned out
    FORWARDING_PAUSE_AFTER_FAILURES = 10  # consecutive deliveries that finally failed before a pause
    FORWARDING_ALLOW_PRIVATE_ADDRESSES = False  # webhooks to loopback/private networks (tests, on-premises)
    METRICS_TOKEN = None  # unset: GET /metrics is 404 and nothing is measured; set: the scraper's bearer token
    LOG_FORMAT = "text"  # or "json": one JSON object a line, with the request id (linktrack/logs.py)
    ACCESS_LOG = False  # gunicorn's access log (gunicorn.conf.py); the proxy in front usually keeps one

    @classmethod
    def from_environ(cls, environ=os.environ) -> dict:
        """The settings the environment sets (ENVIRONMENT), as a mapping; SettingError for a bad value."""
        values = {}
        for name, parse in ENVIRONMENT.items():
            value = read_setting(name, parse, environ)
            if value is not None:
                values[CONFIG_KEYS.get(name, name)] = value
        return values


class TestConfig(Config):
    """Fast, isolated settings for the test suite; tests pass the database URL in a mapping."""

    TESTING = True
    SECRET_KEY = "test-secret-key"
    RATELIMIT_ENABLED = False
    PASSWORD_HASH_METHOD = "pbkdf2:sha256:1000"
    CLICK_FLUSH_SECONDS = 0  # a test reads the click its request made
    CLICK_COUNT_SECONDS = 0  # and the counts of that click
    CONVERSION_COUNT_SECONDS = 0  # and the counts its conversion made
    FORWARDING_ALLOW_PRIVATE_ADDRESSES = True  # the local HTTP server the tests send to
    CONVERSION_CLOCK = "app"  # time-machine moves the app's clock, not PostgreSQL's (tests/tracking/test_clock.py)
