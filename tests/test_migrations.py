"""The migrations build exactly the models' schema, from empty, on SQLite and on PostgreSQL.

These tests drop and rebuild the test database's tables, and always leave it at head (empty),
as every other test expects.
"""

import uuid
from datetime import datetime, timezone
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect

from linktrack.extensions import db
from linktrack.tracking.partitions import before_partition_name, month_start, next_month, schema_filter
from linktrack.tracking.service import find_click
from tests.support.forms import form_post

# SQLAlchemy cannot read expression indexes back from SQLite (lower(short_code)); it says so and
# skips them, and alembic then leaves them out of the comparison. PostgreSQL compares them.
pytestmark = [
    pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index"),
    pytest.mark.filterwarnings("ignore:autogenerate skipping metadata-specified expression-based index"),
]

APP_TABLES = {"users", "api_keys", "campaign_links", "click_events", "conversion_events"}
MIGRATIONS = Path(__file__).resolve().parent.parent / "linktrack" / "migrations"


def schema_differences(connection) -> list:
    opts = {
        "compare_type": True,
        "compare_server_default": True,
        "include_object": schema_filter(connection.dialect.name),
    }
    context = MigrationContext.configure(connection, opts=opts)
    return compare_metadata(context, db.metadata)


def current_revision(connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


@pytest.fixture(params=["test database", "fresh SQLite file"])
def migration_app(request, make_app, tmp_path):
    """The suite's database (SQLite or TEST_DATABASE_URL), and always a brand-new SQLite file too."""
    if request.param == "test database":
        return make_app()
    return make_app(SQLALCHEMY_DATABASE_URI="sqlite:///" + str(tmp_path / "fresh.db"))


def test_there_is_one_head():
    script = ScriptDirectory(str(MIGRATIONS))
    assert len(script.get_heads()) == 1


def test_downgrade_to_base_then_upgrade_to_head_matches_the_models(migration_app):
    head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
    with migration_app.app_context():
        try:
            upgrade()  # the fresh file starts empty; the test database is already at head
            downgrade(revision="base")
            with db.engine.connect() as connection:
                assert not APP_TABLES & set(inspect(connection).get_table_names())
                assert current_revision(connection) is None

            upgrade()
            with db.engine.connect() as connection:
                assert set(inspect(connection).get_table_names()) >= APP_TABLES
                assert current_revision(connection) == head
                assert schema_differences(connection) == []
        finally:
            upgrade()  # whatever happened, leave the database at head for the rest of the suite
            db.session.remove()
            db.engine.dispose()


def test_the_design_indexes_exist_after_migrating(migration_app):
    with migration_app.app_context():
        upgrade()
        with db.engine.connect() as connection:
            inspector = inspect(connection)

            def indexed(table):
                columns = [tuple(index["column_names"]) for index in inspector.get_indexes(table)]
                columns += [tuple(unique["column_names"]) for unique in inspector.get_unique_constraints(table)]
                return set(columns)

            # PostgreSQL: a unique key of the partitioned table holds its partition key (migration 0015)
            tracking_key = (
                ("tracking_id", "clicked_at") if connection.dialect.name == "postgresql" else ("tracking_id",)
            )
            assert tracking_key in indexed("click_events")
            assert ("campaign_link_id", "clicked_at") in indexed("click_events")
            # conversions by tracking id read the unique (tracking_id, source, event_id) index: it leads with it
            assert ("tracking_id", "source", "event_id") in indexed("conversion_events")
            assert ("campaign_link_id", "converted_at") in indexed("conversion_events")
            assert ("email",) in indexed("users")
            assert ("short_code",) in indexed("campaign_links")
            assert ("key_hash",) in indexed("api_keys")
        db.engine.dispose()


def test_a_freshly_migrated_database_serves_a_creator(make_app, tmp_path):
    """The embedded default: an empty SQLite file, `flask db upgrade`, and the app works."""
    fresh = make_app(SQLALCHEMY_DATABASE_URI="sqlite:///" + str(tmp_path / "served.db"))
    with fresh.app_context():
        upgrade()
        db.engine.dispose()
    browser = fresh.test_client()
    data = {"email": "first@example.com", "password": "long enough pw", "confirm": "long enough pw"}
    assert form_post(browser, "/register", data).status_code == 302
    assert "first@example.com" in browser.get("/dashboard").get_data(as_text=True)


def test_the_0012_rebuild_of_conversions_keeps_their_rows_and_cascades_on_sqlite(make_app, tmp_path):
    """SQLite rebuilds conversion_events to change its unique key: the rows that reference it
    (uncounted conversions) must survive, and deleting a link must still delete its conversions."""
    app = make_app(SQLALCHEMY_DATABASE_URI="sqlite:///" + str(tmp_path / "rebuild.db"))
    counts = "SELECT (SELECT count(*) FROM conversion_events), (SELECT count(*) FROM uncounted_conversions)"
    with app.app_context():
        try:
            upgrade(revision="0011_drop_conversion_tracking")
            link, conversion = "a" * 32, "b" * 32
            with db.engine.begin() as connection:
                for statement in (
                    "INSERT INTO users (id, email, password_hash, created_at) VALUES (1, 'a@b.c', 'x', '2026-03-01')",
                    "INSERT INTO campaign_links (id, user_id, short_code, video_id, video_url, destination_url,"
                    " attribution_window_days, allowed_origins, created_at, updated_at) VALUES"
                    f" ('{link}', 1, 'abc', 'dQw4w9WgXcQ', 'https://youtu.be/dQw4w9WgXcQ', 'https://x.example',"
                    " 30, '[]', '2026-03-01', '2026-03-01')",
                    "INSERT INTO conversion_events (id, tracking_id, campaign_link_id, event_type, currency,"
                    f" event_id, source, converted_at) VALUES ('{conversion}', '{'c' * 32}', '{link}',"
                    " 'newsletter_signup', 'USD', 'order-1', 'browser', '2026-03-01')",
                    "INSERT INTO uncounted_conversions (conversion_id, campaign_link_id, user_id, event_type,"
                    " converted_on, days_since_click, first_of_type, recorded_at) VALUES"
                    f" ('{conversion}', '{link}', 1, 'newsletter_signup', '2026-03-01', 0, 1, '2026-03-01')",
                ):
                    connection.exec_driver_sql(statement)
            upgrade()
            with db.engine.begin() as connection:
                assert tuple(connection.exec_driver_sql(counts).one()) == (1, 1)
                assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
                connection.exec_driver_sql("DELETE FROM campaign_links")
                assert tuple(connection.exec_driver_sql(counts).one()) == (0, 0)
        finally:
            db.session.remove()
            db.engine.dispose()


@pytest.mark.postgresql
def test_0015_keeps_every_click_where_it_was_and_its_downgrade_keeps_them_too(make_app):
    """PostgreSQL: the table of today's clicks becomes the partition before next month, its rows
    untouched and found by their UUIDv4 tracking ids; new months have partitions of their own."""
    app = make_app()
    link = "a" * 32
    clicks = [(uuid.uuid4(), uuid.uuid4(), f"2026-0{month}-15 10:00:00+00") for month in (1, 5, 9)]
    rows = "SELECT id, tracking_id, clicked_at, tableoid::regclass::text FROM click_events ORDER BY clicked_at"
    with app.app_context():
        try:
            downgrade(revision="0013_sessions_that_end")
            with db.engine.begin() as connection:
                connection.exec_driver_sql(
                    "INSERT INTO users (id, email, password_hash, created_at) VALUES (1, 'a@b.c', 'x', '2026-01-01')"
                )
                connection.exec_driver_sql(
                    "INSERT INTO campaign_links (id, user_id, short_code, video_id, video_url, destination_url,"
                    " attribution_window_days, allowed_origins, created_at, updated_at) VALUES"
                    f" ('{link}', 1, 'abc', 'dQw4w9WgXcQ', 'https://youtu.be/dQw4w9WgXcQ', 'https://x.example',"
                    " 30, '[]', '2026-01-01', '2026-01-01')"
                )
                for click_id, tracking_id, clicked_at in clicks:
                    connection.exec_driver_sql(
                        "INSERT INTO click_events (id, campaign_link_id, tracking_id, is_bot, is_unique, clicked_at)"
                        f" VALUES ('{click_id}', '{link}', '{tracking_id}', false, true, '{clicked_at}')"
                    )
                before = [tuple(row[:3]) for row in connection.exec_driver_sql(rows)]

            upgrade()
            with db.engine.connect() as connection:
                migrated = connection.exec_driver_sql(rows).all()
                assert [tuple(row[:3]) for row in migrated] == before
                this_month = month_start(datetime.now(timezone.utc).date())
                assert {row[3] for row in migrated} == {before_partition_name(next_month(this_month))}
            assert all(find_click(tracking_id) for _, tracking_id, _ in clicks)
            db.session.remove()

            downgrade(revision="0013_sessions_that_end")
            with db.engine.connect() as connection:
                assert [tuple(row[:3]) for row in connection.exec_driver_sql(rows)] == before
        finally:
            upgrade()
            db.session.remove()
            with db.engine.begin() as connection:
                connection.exec_driver_sql("TRUNCATE users, campaign_links, click_events CASCADE")
            db.engine.dispose()
