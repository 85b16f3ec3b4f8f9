"""Configuration from environment variables (DESIGN.md §3), read when the app is built."""

import os
import secrets
from pathlib import Path

from .dialect import normalise_database_url  # also imported from here by tests and bench


def _bool(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def debug_mode(environ=os.environ) -> bool:
    """FLASK_DEBUG is on: a developer's machine (`make run`), served over plain http."""
    return _bool(environ.get("FLASK_DEBUG"), False)


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
)

# Numbers settable from the environment, with the type each is read as.
NUMBER_SETTINGS = {
    "FORWARDING_CONNECT_TIMEOUT_SECONDS": float,
    "FORWARDING_READ_TIMEOUT_SECONDS": float,
    "FORWARDING_MAX_DESTINATIONS": int,
}


class Config:
    """Production-ready defaults; every value can be set from the environment."""

    TESTING = False
    SECRET_KEY = None  # filled by create_app from the environment or the dev file
    SQLALCHEMY_DATABASE_URI = None  # filled by create_app (needs the instance path)
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}
    DATABASE_CONNECT_TIMEOUT_SECONDS = 5  # PostgreSQL: give up connecting after this (libpq's minimum is 2)
    REDIS_URL = None
    LINKTRACK_BASE_URL = None
    TRUSTED_HOSTS = None  # more host names to answer besides LINKTRACK_BASE_URL's (web/hosts.py)
    ATTRIBUTION_WINDOW_DAYS = 30
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
    CONVERSION_COUNT_SECONDS = 1.0  # conversions reach the report counts this often; 0: in each request (counts.py)
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

    @classmethod
    def from_environ(cls, environ=os.environ) -> dict:
        """The settings the environment overrides, as a mapping."""
        values = {}
        if environ.get("SECRET_KEY"):
            values["SECRET_KEY"] = environ["SECRET_KEY"]
        if environ.get("DATABASE_URL"):
            values["SQLALCHEMY_DATABASE_URI"] = normalise_database_url(environ["DATABASE_URL"])
        if environ.get("REDIS_URL"):
            values["REDIS_URL"] = environ["REDIS_URL"]
        if environ.get("LINKTRACK_BASE_URL"):
            values["LINKTRACK_BASE_URL"] = environ["LINKTRACK_BASE_URL"].rstrip("/")
        if environ.get("TRUSTED_HOSTS"):
            values["TRUSTED_HOSTS"] = environ["TRUSTED_HOSTS"]
        if environ.get("ATTRIBUTION_WINDOW_DAYS"):
            values["ATTRIBUTION_WINDOW_DAYS"] = int(environ["ATTRIBUTION_WINDOW_DAYS"])
        if environ.get("TRUST_PROXY_HOPS"):
            values["TRUST_PROXY_HOPS"] = int(environ["TRUST_PROXY_HOPS"])
        for name in ("JOBS_SWEEP_SECONDS", "FORWARDING_IN_FLIGHT_PER_CREATOR", "FORWARDING_LOST_AFTER_MINUTES"):
            if environ.get(name):
                values[name] = int(environ[name])
        if environ.get("CLICK_PII_RETENTION_DAYS"):
            values["CLICK_PII_RETENTION_DAYS"] = int(environ["CLICK_PII_RETENTION_DAYS"])
        if environ.get("CLEANUP_MAX_SECONDS"):
            values["CLEANUP_MAX_SECONDS"] = float(environ["CLEANUP_MAX_SECONDS"])
        for name in ("FORWARDING_KEY", "FACEBOOK_GRAPH_URL", "GA4_MP_URL"):
            if environ.get(name):
                values[name] = environ[name]
        if "FORWARDING_ALLOW_PRIVATE_ADDRESSES" in environ:
            values["FORWARDING_ALLOW_PRIVATE_ADDRESSES"] = _bool(environ["FORWARDING_ALLOW_PRIVATE_ADDRESSES"], False)
        if environ.get("SESSION_COOKIE_SECURE"):
            values["SESSION_COOKIE_SECURE"] = _bool(environ["SESSION_COOKIE_SECURE"], True)
        for name in ("MAIL_SERVER", "MAIL_USERNAME", "MAIL_PASSWORD", "MAIL_DEFAULT_SENDER"):
            if environ.get(name):
                values[name] = environ[name]
        if environ.get("MAIL_PORT"):
            values["MAIL_PORT"] = int(environ["MAIL_PORT"])
        for name in ("MAIL_USE_TLS", "MAIL_USE_SSL"):
            if name in environ:
                values[name] = _bool(environ[name], False)
        for name in RATE_LIMIT_SETTINGS:
            if environ.get(name):
                values[name] = environ[name]
        for name, number in NUMBER_SETTINGS.items():
            if environ.get(name):
                values[name] = number(environ[name])
        if "RATELIMIT_ENABLED" in environ:
            values["RATELIMIT_ENABLED"] = _bool(environ["RATELIMIT_ENABLED"], True)
        return values


class TestConfig(Config):
    """Fast, isolated settings for the test suite; tests pass the database URL in a mapping."""

    TESTING = True
    SECRET_KEY = "test-secret-key"
    RATELIMIT_ENABLED = False
    PASSWORD_HASH_METHOD = "pbkdf2:sha256:1000"
    CLICK_FLUSH_SECONDS = 0  # a test reads the click its request made
    CONVERSION_COUNT_SECONDS = 0  # and the counts its conversion made
    FORWARDING_ALLOW_PRIVATE_ADDRESSES = True  # the local HTTP server the tests send to
