"""create_app and configuration: the defaults of DESIGN.md §3 and how env, classes and mappings combine."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from flask import request
from flask_migrate import upgrade

import linktrack
from linktrack import create_app
from linktrack.config import Config, TestConfig, normalise_database_url
from linktrack.extensions import db
from tests.support.forms import form_post

REPO_ROOT = Path(__file__).resolve().parent.parent
ENV_SETTINGS = (
    "DATABASE_URL",
    "REDIS_URL",
    "SECRET_KEY",
    "FLASK_DEBUG",
    "LINKTRACK_BASE_URL",
    "ATTRIBUTION_WINDOW_DAYS",
    "TRUST_PROXY_HOPS",
    "RATELIMIT_ENABLED",
    "DATABASE_PREPARED_STATEMENTS",
    "MAINTENANCE_DATABASE_URL",
    "REPORTS_DATABASE_URL",
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    """Each test states the environment it runs in; nothing leaks in from the shell running pytest."""
    for name in ENV_SETTINGS:
        monkeypatch.delenv(name, raising=False)


def build_testing_app(tmp_path, **settings):
    """An app built from the environment plus only the settings given (no test database)."""
    return create_app({"TESTING": True, "INSTANCE_PATH": str(tmp_path / "instance"), **settings})


# ---- database ---------------------------------------------------------------------------------


def test_default_database_is_a_sqlite_file_in_the_instance_folder_that_the_app_uses(tmp_path):
    app = build_testing_app(tmp_path)
    database_file = tmp_path / "instance" / "linktrack.db"
    assert app.config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{database_file}"
    assert not database_file.exists(), "building the app must not create the database"

    with app.app_context():
        upgrade()
    client = app.test_client()
    response = form_post(
        client, "/register", {"email": "first@example.com", "password": "long enough pw", "confirm": "long enough pw"}
    )
    assert response.status_code == 302
    assert client.get("/dashboard").status_code == 200
    with app.app_context():
        db.engine.dispose()
    assert database_file.exists()
    assert b"first@example.com" in database_file.read_bytes()


@pytest.mark.parametrize(
    ("given", "used"),
    [
        (
            "postgres://user:pw@db.example.com:5432/linktrack",
            "postgresql+psycopg://user:pw@db.example.com:5432/linktrack",
        ),
        ("postgresql://user@db.example.com/linktrack", "postgresql+psycopg://user@db.example.com/linktrack"),
        ("postgresql+psycopg://user@db.example.com/linktrack", "postgresql+psycopg://user@db.example.com/linktrack"),
        ("sqlite:////srv/linktrack/data.db", "sqlite:////srv/linktrack/data.db"),
    ],
)
def test_database_url_from_the_environment_is_used_with_psycopg_3(monkeypatch, tmp_path, given, used):
    monkeypatch.setenv("DATABASE_URL", given)
    app = build_testing_app(tmp_path)
    assert app.config["SQLALCHEMY_DATABASE_URI"] == used
    with app.app_context():
        # The engine is built without connecting; its driver must be the installed psycopg 3.
        assert db.engine.url.render_as_string(hide_password=False) == used
        if used.startswith("postgresql"):
            assert db.engine.dialect.driver == "psycopg"
        db.engine.dispose()


def test_normalise_database_url_leaves_other_schemes_alone():
    assert normalise_database_url("mysql://x@y/z") == "mysql://x@y/z"
    assert normalise_database_url("postgres://a@b/c") == "postgresql+psycopg://a@b/c"


# ---- other defaults ---------------------------------------------------------------------------


def test_defaults_without_environment(tmp_path):
    app = build_testing_app(tmp_path)
    assert app.config["REDIS_URL"] is None
    assert app.config["ATTRIBUTION_WINDOW_DAYS"] == 30
    assert app.config["TRUST_PROXY_HOPS"] == 0
    assert app.config["LINKTRACK_BASE_URL"] is None
    assert app.config["RATELIMIT_ENABLED"] is True
    # Without Redis, rate limits live in the process.
    assert app.config["RATELIMIT_STORAGE_URI"] == "memory://"


def test_environment_settings_are_read(monkeypatch, tmp_path):
    monkeypatch.setenv("REDIS_URL", "redis://cache.example.com:6379/2")
    monkeypatch.setenv("ATTRIBUTION_WINDOW_DAYS", "14")
    monkeypatch.setenv("LINKTRACK_BASE_URL", "https://lt.example.com/")
    monkeypatch.setenv("RATELIMIT_ENABLED", "false")
    app = build_testing_app(tmp_path)
    assert app.config["REDIS_URL"] == "redis://cache.example.com:6379/2"
    assert app.config["RATELIMIT_STORAGE_URI"] == "redis://cache.example.com:6379/2"
    assert app.config["ATTRIBUTION_WINDOW_DAYS"] == 14
    assert app.config["LINKTRACK_BASE_URL"] == "https://lt.example.com"
    assert app.config["RATELIMIT_ENABLED"] is False


def test_pooler_maintenance_and_replica_urls_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("DATABASE_URL", "postgres://app@pgbouncer.example.com:6432/linktrack")
    monkeypatch.setenv("DATABASE_PREPARED_STATEMENTS", "false")
    monkeypatch.setenv("MAINTENANCE_DATABASE_URL", "postgres://app@db.example.com/linktrack")
    monkeypatch.setenv("REPORTS_DATABASE_URL", "postgres://app@replica.example.com/linktrack")
    app = build_testing_app(tmp_path)
    with app.app_context():  # engines are made, nothing is connected
        hosts = {key: engine.url.host for key, engine in db.engines.items()}
        assert hosts == {
            None: "pgbouncer.example.com",
            "maintenance": "db.example.com",
            "reports": "replica.example.com",
        }
        assert all(engine.url.drivername == "postgresql+psycopg" for engine in db.engines.values())
    binds = app.config["SQLALCHEMY_BINDS"]
    assert app.config["SQLALCHEMY_ENGINE_OPTIONS"]["connect_args"]["prepare_threshold"] is None
    assert binds["reports"]["connect_args"]["prepare_threshold"] is None  # the replica's pool, likewise
    assert "prepare_threshold" not in binds["maintenance"]["connect_args"]  # direct or session mode: they work


def test_without_those_urls_there_is_one_engine_and_psycopg_prepares(monkeypatch, tmp_path):
    monkeypatch.setenv("DATABASE_URL", "postgres://app@db.example.com/linktrack")
    app = build_testing_app(tmp_path)
    with app.app_context():
        assert list(db.engines) == [None]
    assert "prepare_threshold" not in app.config["SQLALCHEMY_ENGINE_OPTIONS"]["connect_args"]


def test_a_mapping_overrides_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("ATTRIBUTION_WINDOW_DAYS", "14")
    monkeypatch.setenv("DATABASE_URL", "postgres://env@db.example.com/env")
    app = build_testing_app(tmp_path, ATTRIBUTION_WINDOW_DAYS=45, SQLALCHEMY_DATABASE_URI="sqlite:///:memory:")
    assert app.config["ATTRIBUTION_WINDOW_DAYS"] == 45
    assert app.config["SQLALCHEMY_DATABASE_URI"] == "sqlite:///:memory:"


def test_a_config_class_keeps_the_environment_for_what_it_does_not_set(monkeypatch, tmp_path):
    """A production config class must not silently drop DATABASE_URL for the SQLite default."""

    class SecureCookies(Config):
        SESSION_COOKIE_SECURE = True

    monkeypatch.setenv("DATABASE_URL", "postgres://env@db.example.com/linktrack")
    monkeypatch.setenv("REDIS_URL", "redis://cache.example.com:6379/0")
    monkeypatch.setenv("SECRET_KEY", "from-the-environment")
    app = create_app(SecureCookies)
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://env@db.example.com/linktrack"
    assert app.config["REDIS_URL"] == "redis://cache.example.com:6379/0"
    assert app.secret_key == "from-the-environment"


def test_what_a_config_class_sets_itself_wins_over_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("SECRET_KEY", "from-the-environment")
    monkeypatch.setenv("ATTRIBUTION_WINDOW_DAYS", "14")

    class Settings(TestConfig):
        ATTRIBUTION_WINDOW_DAYS = 7
        SQLALCHEMY_DATABASE_URI = "sqlite:///" + str(tmp_path / "class.db")

    app = create_app(Settings)
    assert app.testing is True
    assert app.secret_key == TestConfig.SECRET_KEY
    assert app.config["ATTRIBUTION_WINDOW_DAYS"] == 7
    assert app.config["SQLALCHEMY_DATABASE_URI"].endswith("class.db")


# ---- secret key -------------------------------------------------------------------------------


def test_secret_key_is_required_in_production(tmp_path):
    with pytest.raises(RuntimeError, match=r"SECRET_KEY is required in production.*SECRET_KEY environment variable"):
        create_app({"INSTANCE_PATH": str(tmp_path / "instance")})
    assert not (tmp_path / "instance" / "secret_key").exists()


def test_secret_key_from_the_environment_in_production(monkeypatch, tmp_path):
    monkeypatch.setenv("SECRET_KEY", "a-long-random-production-secret")
    app = create_app({"INSTANCE_PATH": str(tmp_path / "instance")})
    assert app.secret_key == "a-long-random-production-secret"
    assert not (tmp_path / "instance" / "secret_key").exists()


def test_debug_mode_generates_a_dev_key_once_into_the_instance_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("FLASK_DEBUG", "1")
    first = create_app({"INSTANCE_PATH": str(tmp_path / "instance")})
    second = create_app({"INSTANCE_PATH": str(tmp_path / "instance")})
    key_file = tmp_path / "instance" / "secret_key"
    assert key_file.exists()
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    assert len(first.secret_key) >= 32
    assert first.secret_key == second.secret_key == key_file.read_text().strip()

    other = create_app({"INSTANCE_PATH": str(tmp_path / "other-instance")})
    assert other.secret_key != first.secret_key


def test_a_session_from_one_dev_app_is_valid_in_the_next(monkeypatch, make_app, app, creator):
    """Restarting the dev server keeps creators signed in: the generated key is reused."""
    _, email, password = creator()
    monkeypatch.setenv("FLASK_DEBUG", "1")
    before = make_app(TESTING=False, SECRET_KEY=None)
    after = make_app(TESTING=False, SECRET_KEY=None)

    browser = before.test_client()
    assert form_post(browser, "/login", {"email": email, "password": password}).status_code == 302
    session_cookie = browser.get_cookie("session")
    assert session_cookie is not None

    restarted = after.test_client()
    restarted.set_cookie("session", session_cookie.value)
    page = restarted.get("/dashboard")
    assert page.status_code == 200
    assert email in page.get_data(as_text=True)


# ---- proxies ----------------------------------------------------------------------------------


def _remote_addr_app(make_app, **settings):
    application = make_app(**settings)

    @application.get("/_test/remote-addr")
    def remote_addr():
        return {"remote_addr": request.remote_addr, "scheme": request.scheme}

    return application


def test_forwarded_headers_are_ignored_without_trusted_proxies(make_app):
    client = _remote_addr_app(make_app).test_client()
    response = client.get(
        "/_test/remote-addr",
        headers={"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"},
        environ_base={"REMOTE_ADDR": "10.0.0.2"},
    )
    assert response.get_json() == {"remote_addr": "10.0.0.2", "scheme": "http"}


def test_trust_proxy_hops_installs_proxyfix(make_app):
    client = _remote_addr_app(make_app, TRUST_PROXY_HOPS=1).test_client()
    response = client.get(
        "/_test/remote-addr",
        headers={"X-Forwarded-For": "198.51.100.1, 203.0.113.9", "X-Forwarded-Proto": "https"},
        environ_base={"REMOTE_ADDR": "10.0.0.2"},
    )
    # One trusted hop: the address the proxy saw is the last one it appended.
    assert response.get_json() == {"remote_addr": "203.0.113.9", "scheme": "https"}


def test_trust_proxy_hops_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("TRUST_PROXY_HOPS", "1")
    application = build_testing_app(tmp_path)

    @application.get("/_test/remote-addr")
    def remote_addr():
        return {"remote_addr": request.remote_addr}

    response = application.test_client().get(
        "/_test/remote-addr", headers={"X-Forwarded-For": "203.0.113.9"}, environ_base={"REMOTE_ADDR": "10.0.0.2"}
    )
    assert response.get_json() == {"remote_addr": "203.0.113.9"}


# ---- no import-time side effects --------------------------------------------------------------


def test_importing_the_package_builds_no_app_and_opens_no_connection(tmp_path):
    """Importing (as jobs and tools do) must not build an app or touch a database or Redis.

    The environment points at servers that do not exist and at a SQLite file that must not appear:
    any connection attempt at import would either fail or create the file.
    """
    sqlite_file = tmp_path / "must-not-exist.db"
    script = textwrap.dedent(
        """
        import gc, socket, sys

        def refuse(*args, **kwargs):
            raise AssertionError(f"network connection attempted at import: {args}")

        socket.socket.connect = refuse
        socket.create_connection = refuse

        import flask
        import linktrack
        import linktrack.models
        import linktrack.extensions
        import linktrack.jobs
        import linktrack.cron
        import linktrack.queue

        apps = [obj for obj in gc.get_objects() if isinstance(obj, flask.Flask)]
        assert not apps, apps
        print("imported", sorted(linktrack.extensions.db.metadata.tables))
        """
    )
    environment = {
        **{k: v for k, v in os.environ.items() if k not in ENV_SETTINGS},
        "DATABASE_URL": "sqlite:///" + str(sqlite_file),
        "REDIS_URL": "redis://127.0.0.1:1/0",
    }
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO_ROOT, env=environment, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert (
        "imported ['api_keys', 'campaign_links', 'cleanup_cursors', 'click_events', 'conversion_events'"
        in result.stdout
    )
    assert not sqlite_file.exists()


def test_templates_static_files_and_migrations_are_found_inside_the_package(app):
    """An installed linktrack (`pip install .`) has only its package folder: everything the app
    reads at run time must live there, not beside it in the repository."""
    package = Path(linktrack.__file__).resolve().parent
    assert Path(app.jinja_loader.searchpath[0]).resolve() == package / "templates"
    assert Path(app.static_folder).resolve() == package / "static"
    assert Path(app.extensions["migrate"].directory).resolve() == package / "migrations"
    assert (package / "migrations" / "env.py").exists() and (package / "static" / "css" / "app.css").exists()
