"""A PostgreSQL of these tests' own, migrated once, and apps built on it through whichever URLs a
test names (PgBouncer, a replica, the cluster itself)."""

import pytest
from flask_migrate import upgrade

from linktrack import create_app
from linktrack.config import normalise_database_url
from linktrack.extensions import db
from tests.support.app import app_settings
from tests.support.faults import POSTGRES_BIN, PgBouncer, PostgresCluster


@pytest.fixture(scope="package")
def primary():
    """The primary: a throwaway cluster migrated to head (shared by this package's tests, which
    each make a creator of their own)."""
    if POSTGRES_BIN is None:
        pytest.fail("the PostgreSQL server binaries (initdb, pg_ctl) are needed: apt-get install postgresql")
    cluster = PostgresCluster().create()
    app = create_app(app_settings(normalise_database_url(cluster.url)))
    with app.app_context():
        upgrade()
        db.engine.dispose()
    yield cluster
    cluster.destroy()


@pytest.fixture
def bouncer(primary):
    """PgBouncer in transaction mode with ONE server connection: every client's transactions
    share it, so any session state or prepared statement one client leaves there meets the next."""
    pooler = PgBouncer(primary, pool_mode="transaction", pool_size=1).start()
    yield pooler
    pooler.stop()


@pytest.fixture
def app_on(make_app):
    """`app_on(url, **settings)`: an app whose DATABASE_URL (and any *_DATABASE_URL given) is a
    libpq URL such as a cluster's or a pooler's."""

    def build(url: str, **overrides):
        urls = {name: normalise_database_url(value) for name, value in overrides.items() if name.endswith("_URL")}
        return make_app(database=normalise_database_url(url), **{**overrides, **urls})

    return build
