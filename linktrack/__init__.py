"""linktrack: campaign links for YouTube creators, click logging and conversion attribution."""

import logging
import os
from collections.abc import Mapping

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from . import dialect
from .config import Config, debug_mode, dev_secret_key
from .web.hosts import trusted_hosts

__all__ = ["create_app"]

# The signed-in navigation: (endpoint, label).
NAV_ITEMS = [
    ("reports.dashboard", "Dashboard"),
    ("links.index", "Links"),
    ("reports.funnel", "Funnel"),
    ("reports.revenue", "Revenue"),
    ("auth.settings", "Settings"),
]


def create_app(config: type | Mapping | None = None) -> Flask:
    """Build the app. `config` is a Config subclass or a mapping laid over the environment's settings
    (a class only with what it sets itself; a mapping may also name an INSTANCE_PATH, where the
    SQLite file and the dev secret live).

    Nothing is connected here: databases and Redis are opened lazily on first use.
    """
    instance_path = config.get("INSTANCE_PATH") if isinstance(config, Mapping) else None
    app = Flask(
        __name__,
        instance_path=instance_path,
        instance_relative_config=True,
    )
    app.config.from_object(Config)
    app.config.update(Config.from_environ())
    if isinstance(config, Mapping):
        app.config.update(config)
    elif config is not None:
        app.config.update(_declared_settings(config))

    _finish_config(app)
    _register_extensions(app)
    _register_blueprints(app)
    _register_error_handlers(app)
    _register_cli(app)
    _register_template_helpers(app)
    _register_security(app)
    _wrap_wsgi(app)
    _configure_logging(app)
    return app


def _wrap_wsgi(app: Flask) -> None:
    """The short-link and conversion fast paths in front of Flask, the trusted-hosts check in front
    of them (web/hosts.py), ProxyFix in front of that (the fast paths need the viewer's address, and
    the check the host, as the proxies reported them), then with METRICS_TOKEN set the request
    metrics (web/metrics.py), so they count what the client got, and with LOG_FORMAT=json the
    request id outermost (logs.py), so every line a request logs carries it."""
    from .logs import RequestId
    from .redirect.fast_path import ShortLinkFastPath
    from .tracking.fast_path import ConversionFastPath
    from .web.hosts import TrustedHosts
    from .web.metrics import RequestMetrics

    app.wsgi_app = ShortLinkFastPath(app, ConversionFastPath(app, app.wsgi_app))
    if app.config.get("TRUSTED_HOSTS"):
        app.wsgi_app = TrustedHosts(app.config["TRUSTED_HOSTS"], app.wsgi_app)
    if app.config["TRUST_PROXY_HOPS"]:
        hops = app.config["TRUST_PROXY_HOPS"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops)
    if app.config.get("METRICS_TOKEN"):
        app.wsgi_app = RequestMetrics(app, app.wsgi_app)
    if app.config["LOG_FORMAT"] == "json":
        app.wsgi_app = RequestId(app.wsgi_app)


def _configure_logging(app: Flask) -> None:
    """INFO to stderr in production (gunicorn collects it), as text or JSON lines (LOG_FORMAT,
    logs.py); tests and the debugger keep their own."""
    if app.debug or app.testing:
        return
    if app.config["LOG_FORMAT"] == "json":
        from .logs import use_json_lines

        use_json_lines(logging.INFO)
    else:
        logging.basicConfig(level=logging.INFO)


def _declared_settings(config: type) -> dict:
    """The settings a config class sets itself, subclasses winning over their bases.

    What it merely inherits from Config (the None placeholders for DATABASE_URL, REDIS_URL,
    SECRET_KEY...) is left to the environment: `create_app(ProductionConfig)` must not trade
    DATABASE_URL for the SQLite default.
    """
    settings = {}
    for klass in reversed(config.__mro__):
        if klass in Config.__mro__:
            continue
        settings.update({name: value for name, value in vars(klass).items() if name.isupper()})
    return settings


def _finish_config(app: Flask) -> None:
    """Fill the defaults that depend on the instance path or the run mode."""
    os.makedirs(app.instance_path, exist_ok=True)
    if not app.config.get("SQLALCHEMY_DATABASE_URI"):
        database_file = os.path.join(app.instance_path, "linktrack.db")
        app.config["SQLALCHEMY_DATABASE_URI"] = dialect.file_database_url(database_file)
    if not app.config.get("SECRET_KEY"):
        if not (debug_mode() or app.config["TESTING"]):
            raise RuntimeError(
                "SECRET_KEY is required in production: set the SECRET_KEY environment variable "
                "(or FLASK_DEBUG=1 for a local development key kept in instance/)."
            )
        app.config["SECRET_KEY"] = dev_secret_key(app.instance_path)
    if app.config.get("SESSION_COOKIE_SECURE") is None:
        # Secure cookies unless running locally over plain http (`make run` sets FLASK_DEBUG=1) or testing.
        app.config["SESSION_COOKIE_SECURE"] = not (debug_mode() or app.config["TESTING"])
    app.config.setdefault("REMEMBER_COOKIE_SECURE", app.config["SESSION_COOKIE_SECURE"])
    # Flask checks request.host against this list too; web/hosts.py checks before the fast paths.
    app.config["TRUSTED_HOSTS"] = trusted_hosts(app.config.get("LINKTRACK_BASE_URL"), app.config.get("TRUSTED_HOSTS"))
    redis_url = app.config.get("REDIS_URL")
    app.config.setdefault("RATELIMIT_STORAGE_URI", redis_url or "memory://")
    _finish_engines(app)


def _finish_engines(app: Flask) -> None:
    """The engine options fitted to each URL, and the maintenance and reports engines as binds
    (extensions.maintenance_engine, extensions.reports_session) when their URLs are set and differ
    from DATABASE_URL. The maintenance URL is direct or session-mode, where prepared statements work."""
    from .extensions import MAINTENANCE_BIND, REPORTS_BIND

    config = app.config
    primary, options = config["SQLALCHEMY_DATABASE_URI"], config["SQLALCHEMY_ENGINE_OPTIONS"]

    def fitted(url: str, prepared_statements: bool) -> dict:
        timeout = config["DATABASE_CONNECT_TIMEOUT_SECONDS"]
        fitted_options = dialect.engine_options(url, options, timeout, prepared_statements)
        if dialect.is_postgresql_url(url):  # SQLite keeps Flask-SQLAlchemy's pool
            pool = {"pool_size": config["DATABASE_POOL_SIZE"], "max_overflow": config["DATABASE_MAX_OVERFLOW"]}
            fitted_options = {**pool, **fitted_options}
        return fitted_options

    config["SQLALCHEMY_ENGINE_OPTIONS"] = fitted(primary, config["DATABASE_PREPARED_STATEMENTS"])
    binds = dict(config.get("SQLALCHEMY_BINDS") or {})
    for key, url, prepared_statements in (
        (MAINTENANCE_BIND, config.get("MAINTENANCE_DATABASE_URL"), True),
        (REPORTS_BIND, config.get("REPORTS_DATABASE_URL"), config["DATABASE_PREPARED_STATEMENTS"]),
    ):
        if url and url != primary:
            binds[key] = {"url": url, **fitted(url, prepared_statements)}
    config["SQLALCHEMY_BINDS"] = binds


def _register_extensions(app: Flask) -> None:
    from . import models  # noqa: F401  (tables must be known to Flask-Migrate)
    from .auth.service import install_login
    from .extensions import csrf, db, install_reports_session, limiter, migrate
    from .web.api import StrictJSONProvider
    from .web.sessions import SessionInterface

    app.json = StrictJSONProvider(app)
    db.init_app(app)
    install_reports_session(app)
    migrate.init_app(app, db, directory=os.path.join(os.path.dirname(__file__), "migrations"))
    csrf.init_app(app)
    limiter.init_app(app)
    install_login(app)
    app.session_interface = SessionInterface()


def _register_blueprints(app: Flask) -> None:
    from .auth.views import api as auth_api
    from .auth.views import bp as auth_bp
    from .forwarding.views import bp as forwarding_bp
    from .links.api import api as links_api
    from .links.views import bp as links_bp
    from .openapi import bp as openapi_bp
    from .reports.api import bp as reports_api
    from .reports.views import bp as reports_bp
    from .tracking.views import bp as tracking_bp
    from .web.health import bp as health_bp
    from .web.metrics import bp as metrics_bp

    for blueprint in (
        health_bp,
        metrics_bp,
        auth_bp,
        auth_api,
        reports_bp,
        reports_api,
        tracking_bp,
        links_bp,
        links_api,
        forwarding_bp,
        openapi_bp,
    ):
        app.register_blueprint(blueprint)

    # Last: GET /<short_code> is the catch-all for one-segment paths; every named route comes first.
    from .redirect.views import bp as redirect_bp

    app.register_blueprint(redirect_bp)


def _register_error_handlers(app: Flask) -> None:
    from .errors import register_error_handlers

    register_error_handlers(app)


def _register_cli(app: Flask) -> None:
    from .cli import register_cli

    register_cli(app)


def _register_security(app: Flask) -> None:
    from .web import security

    security.install(app)


def _register_template_helpers(app: Flask) -> None:
    from .web.formatting import register_filters

    register_filters(app)
    app.add_template_global(lambda: NAV_ITEMS, "nav_items")
