"""Every setting README's configuration table names is read from the environment (config.py's
ENVIRONMENT), with its type, and a value it cannot take stops the app with a message naming it.

The table is read from README.md itself: a row added there without an environment variable
behind it fails here."""

import re

import pytest

from linktrack import create_app
from linktrack.config import ENVIRONMENT, Config, SettingError, debug_mode, flag, rate_limit, seconds, whole_number
from tests.support.paths import REPO_ROOT


def readme_settings() -> list[str]:
    """The names in the first column of README's table under "## Configuration"."""
    section = REPO_ROOT.joinpath("README.md").read_text().split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    names = []
    for line in section.splitlines():
        if line.startswith("| `"):
            names += re.findall(r"`([A-Z][A-Z0-9_]+)`", line.split("|")[1])
    return names


SETTINGS = readme_settings()

# A value to set for each setting and what app.config must then hold, by the parser that reads it
# (the opposite of the default for a flag, so the test sees the environment win).
SAMPLES = {
    whole_number: ("7", 7),
    seconds: ("2.5", 2.5),
    rate_limit: ("7 per minute", "7 per minute"),
}
# Settings whose value create_app builds on, or that need a value of their own shape.
SPECIAL = {
    "DATABASE_URL": ("postgres://u@db.example/x", "postgresql+psycopg://u@db.example/x"),
    "LINKTRACK_BASE_URL": ("https://go.example.com/", "https://go.example.com"),
    "REDIS_URL": ("redis://127.0.0.1:6379/5", "redis://127.0.0.1:6379/5"),
    "LOG_FORMAT": ("json", "json"),
    "CONVERSION_CLOCK": ("app", "app"),
    "MAINTENANCE_DATABASE_URL": ("postgres://u@db.example/x", "postgresql+psycopg://u@db.example/x"),
    "REPORTS_DATABASE_URL": ("postgres://u@replica.example/x", "postgresql+psycopg://u@replica.example/x"),
}
CONFIG_KEYS = {"DATABASE_URL": "SQLALCHEMY_DATABASE_URI"}


def test_the_readme_table_was_read():
    assert len(SETTINGS) > 40
    assert {"DATABASE_URL", "METRICS_TOKEN", "CONVERSION_COUNT_SECONDS", "DATABASE_POOL_SIZE"} <= set(SETTINGS)


@pytest.fixture
def clean_environment(monkeypatch):
    for name in [*ENVIRONMENT, "FLASK_DEBUG"]:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def built(tmp_path):
    """An app built from the environment (no test database)."""
    return create_app({"TESTING": True, "INSTANCE_PATH": str(tmp_path / "instance")})


def sample(name: str):
    if name in SPECIAL:
        return SPECIAL[name]
    parse = ENVIRONMENT[name]
    if parse is flag:
        default = getattr(Config, name)
        return ("0", False) if default else ("1", True)
    return SAMPLES.get(parse, ("from-the-environment", "from-the-environment"))


@pytest.mark.parametrize("name", SETTINGS)
def test_every_readme_setting_is_honoured_from_the_environment(name, clean_environment, tmp_path):
    if name == "FLASK_DEBUG":  # not an app.config key: it decides the run mode (config.debug_mode)
        clean_environment.setenv(name, "1")
        assert debug_mode() is True
        return
    assert name in ENVIRONMENT, f"README names {name}, but config.py does not read it from the environment"
    raw, expected = sample(name)
    clean_environment.setenv(name, raw)
    app = built(tmp_path)
    got = app.config[CONFIG_KEYS.get(name, name)]
    if name == "TRUSTED_HOSTS":  # create_app turns it into the list of hosts answered
        assert expected in got
    else:
        assert got == expected


@pytest.mark.parametrize(
    "name, value, message",
    [
        ("ATTRIBUTION_WINDOW_DAYS", "thirty", "expected a whole number, 0 or more"),
        ("DATABASE_POOL_SIZE", "-1", "expected a whole number, 0 or more"),
        ("CONVERSION_COUNT_SECONDS", "1s", "expected a number of seconds, 0 or more"),
        ("DATABASE_CONNECT_TIMEOUT_SECONDS", "nan", "expected a number of seconds, 0 or more"),
        ("RATELIMIT_ENABLED", "maybe", "expected true or false (1/0, yes/no, on/off)"),
        ("LOGIN_RATE_LIMIT", "lots", "expected a Flask-Limiter rate limit"),
        ("LOG_FORMAT", "xml", "expected one of text, json"),
    ],
)
def test_a_bad_value_stops_the_app_naming_the_variable(name, value, message, clean_environment, tmp_path):
    clean_environment.setenv(name, value)
    with pytest.raises(SettingError) as raised:
        built(tmp_path)
    assert str(raised.value).startswith(f"environment variable {name}={value!r} is not valid: {message}")


def test_an_empty_variable_keeps_the_default(clean_environment, tmp_path):
    clean_environment.setenv("REDIS_URL", "")
    clean_environment.setenv("ATTRIBUTION_WINDOW_DAYS", "")
    app = built(tmp_path)
    assert app.config["REDIS_URL"] is None
    assert app.config["ATTRIBUTION_WINDOW_DAYS"] == 30


def test_pool_sizes_reach_the_postgresql_engine(clean_environment, tmp_path):
    clean_environment.setenv("DATABASE_URL", "postgresql://u@127.0.0.1:1/x")
    clean_environment.setenv("DATABASE_POOL_SIZE", "3")
    clean_environment.setenv("DATABASE_MAX_OVERFLOW", "0")
    app = built(tmp_path)
    with app.app_context():
        from linktrack.extensions import db

        assert db.engine.pool.size() == 3
    assert app.config["SQLALCHEMY_ENGINE_OPTIONS"]["max_overflow"] == 0
