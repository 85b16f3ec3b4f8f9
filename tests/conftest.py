"""Test fixtures: real SQLite or PostgreSQL (TEST_DATABASE_URL), real Redis (TEST_REDIS_URL).

Each test gets a fresh app on a database migrated once per session and emptied after every
test. No request context is pushed around a test (pytest-flask did that, and is not used): every
test request would share one app context, so `g` and Flask-Login's cached user would leak from one
request to the next and hide bugs. Tests that read the database directly open their own
`app.app_context()`. Helpers that are not fixtures live in tests/support/.
"""

import os
import uuid

import pytest
from redis import Redis
from sqlalchemy import MetaData, create_engine, text

from linktrack import create_app
from linktrack.config import normalise_database_url
from linktrack.extensions import db
from linktrack.forwarding import destinations as forwarding_destinations
from tests.support import redirect as redirect_support
from tests.support.app import app_settings
from tests.support.faults import POSTGRES_BIN, PostgresCluster
from tests.support.forms import form_post

DEFAULT_TEST_REDIS_URL = "redis://127.0.0.1:6379/15"


def _database_url(tmp_path_factory) -> str:
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        return normalise_database_url(url)
    return "sqlite:///" + str(tmp_path_factory.mktemp("db") / "linktrack-test.db")


def _database_is_postgresql() -> bool:
    return os.environ.get("TEST_DATABASE_URL", "").startswith(("postgres://", "postgresql"))


def pytest_collection_modifyitems(config, items):
    """Tests marked `postgresql` are about PostgreSQL's concurrency (writers committing while another
    transaction runs): they run when TEST_DATABASE_URL is PostgreSQL and are deselected, not
    skipped, on SQLite (one writer at a time, nothing to interleave)."""
    if _database_is_postgresql():
        return
    deselected = [item for item in items if item.get_closest_marker("postgresql")]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if not item.get_closest_marker("postgresql")]


def _drop_everything(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as connection:
        metadata = MetaData()
        metadata.reflect(connection)
        if connection.dialect.name == "postgresql":
            # Dropping a partitioned table drops its partitions, which drop_all would drop again.
            for table in metadata.sorted_tables:
                connection.execute(text(f'DROP TABLE IF EXISTS "{table.name}" CASCADE'))
        else:
            metadata.drop_all(connection)
    engine.dispose()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory) -> str:
    """A database migrated from empty to head once for the whole run."""
    from flask_migrate import upgrade

    url = _database_url(tmp_path_factory)
    _drop_everything(url)
    app = create_app(app_settings(url))
    with app.app_context():
        upgrade()
        db.engine.dispose()
    return url


@pytest.fixture(scope="session")
def redis_url() -> str:
    return os.environ.get("TEST_REDIS_URL", DEFAULT_TEST_REDIS_URL)


@pytest.fixture
def redis_client(redis_url):
    client = Redis.from_url(redis_url)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.fixture
def make_app(database_url, tmp_path):
    """Build extra apps with settings of their own (rate limits on, Redis, production mode), on the
    suite's database or on the SQLAlchemy URL `database` names."""
    built = []

    def build(database: str | None = None, **overrides):
        overrides.setdefault("INSTANCE_PATH", str(tmp_path / "instance"))
        application = create_app(app_settings(database or database_url, **overrides))
        built.append(application)
        return application

    yield build
    for application in built:
        with application.app_context():
            db.session.remove()
            for engine in db.engines.values():  # the maintenance and reports binds too
                engine.dispose()


@pytest.fixture
def app(make_app, database_url):
    application = make_app()
    yield application
    _empty_tables(application)


def _empty_tables(application) -> None:
    with application.app_context():
        db.session.remove()
        tables = [table.name for table in db.metadata.sorted_tables]
        with db.engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
            else:
                for name in reversed(tables):
                    connection.execute(text(f"DELETE FROM {name}"))


@pytest.fixture
def register(client):
    def do(email: str | None = None, password: str = "correct horse battery"):
        email = email or f"creator-{uuid.uuid4().hex[:8]}@example.com"
        response = form_post(client, "/register", {"email": email, "password": password, "confirm": password})
        assert response.status_code == 302, response.get_data(as_text=True)
        return email

    return do


@pytest.fixture
def creator(app):
    """A second way in: a creator made directly through the service, returned as (id, email, password)."""

    def make(email: str | None = None, password: str = "correct horse battery"):
        from linktrack.auth.service import register_user

        email = email or f"creator-{uuid.uuid4().hex[:8]}@example.com"
        with app.app_context():
            user = register_user(email, password)
            return user.id, user.email, password

    return make


@pytest.fixture
def api_key_for(app):
    def make(user_id: int, name: str = "test") -> str:
        from linktrack.auth.service import create_api_key
        from linktrack.models import User

        with app.app_context():
            _, key = create_api_key(db.session.get(User, user_id), name)
            return key

    return make


@pytest.fixture
def make_link(app):
    """A campaign link stored directly (bypassing the links service); returns its id as a string."""

    def make(user_id: int, **fields) -> str:
        from linktrack.links.service import generate_short_code
        from linktrack.models import CampaignLink

        values = {
            "short_code": generate_short_code(),
            "video_id": "dQw4w9WgXcQ",
            "video_url": "https://www.youtube.com/watch?v=dQw4w9WgXcQ",
            "destination_url": "https://landing.example.com/offer",
            "campaign": "launch",
            "allowed_origins": ["https://landing.example.com"],
        }
        values.update(fields)
        with app.app_context():
            link = CampaignLink(user_id=user_id, **values)
            db.session.add(link)
            db.session.commit()
            return str(link.id)

    return make


@pytest.fixture
def make_click(app):
    """A click on a link stored directly, held for counting and counted like a real one; returns
    its tracking id as a string."""

    def make(link_id: str, **fields) -> str:
        from linktrack.counting.consumer import count_now
        from linktrack.counting.counters import hold_clicks
        from linktrack.models import ClickEvent

        with app.app_context():
            click = ClickEvent(campaign_link_id=uuid.UUID(link_id), **fields)
            db.session.add(click)
            db.session.flush()
            hold_clicks(db.session.connection(), [{"tracking_id": click.tracking_id, "clicked_at": click.clicked_at}])
            db.session.commit()
            count_now()
            return str(click.tracking_id)

    return make


@pytest.fixture
def client(app):
    """A test client that pushes no context between requests (not `with app.test_client()`).

    A client opened with `with` keeps each request's contexts pushed until its next request, so any other client
    of the same app (a second creator, a Bearer-only caller) would run inside that request's app
    context and see its `g`, including Flask-Login's cached user: a revoked key would still pass and
    one creator would be served as another. Here every request gets a context of its own.
    """
    return app.test_client()


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium under Playwright, one per test module (Playwright cannot download a browser
    here); each test opens its own context, so nothing is shared between tests."""
    from playwright.sync_api import sync_playwright

    from tests.support.live import CHROMIUM, CHROMIUM_ARGS

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def redis_setup(make_app, redis_client, redis_url, httpserver, creator):
    """An app on Redis, a creator with a link and a webhook destination (forwarding and worker tests);
    returns (build, app, link): `build(redis_url)` makes another app on a Redis of the caller's."""

    def build(redis=redis_url):
        application = make_app(REDIS_URL=redis)
        return application

    user_id = creator()[0]
    up = build()
    link = redirect_support.create_link(up, user_id)
    with up.app_context():
        forwarding_destinations.create_destination(
            user_id, "webhook", "hook", {"url": httpserver.url_for("/hook")}, ["purchase"]
        )
    return build, up, link


@pytest.fixture
def cluster():
    """A PostgreSQL cluster of the test's own on a free port, for tests that stop and start it."""
    if POSTGRES_BIN is None:
        pytest.fail("the PostgreSQL server binaries (initdb, pg_ctl) are needed: apt-get install postgresql")
    cluster = PostgresCluster().create()
    yield cluster
    cluster.destroy()
