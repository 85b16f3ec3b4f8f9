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
def app_on(tmp_path):
    """`app_on(url, **settings)`: an app whose DATABASE_URL is `url`; every engine it made (the
    maintenance and reports binds too) is disposed after the test."""
    built = []

    def build(url: str, **overrides):
        overrides.setdefault("INSTANCE_PATH", str(tmp_path / "instance"))
        for name in ("MAINTENANCE_DATABASE_URL", "REPORTS_DATABASE_URL"):
            if overrides.get(name):
                overrides[name] = normalise_database_url(overrides[name])
        application = create_app(app_settings(normalise_database_url(url), **overrides))
        built.append(application)
        return application

    yield build
    for application in built:
        with application.app_context():
            db.session.remove()
            for engine in db.engines.values():
                engine.dispose()
