"""event ids unique per source; a per-link cap on browser revenue

Revision ID: 0012_idempotency_per_source
Revises: 0011_drop_conversion_tracking
Create Date: 2026-12-02 13:50:00

conversion_events: the unique (tracking_id, event_id) becomes (tracking_id, source, event_id), so
a browser call can no longer claim an event id before the creator's server sends it (issue 13).
campaign_links: max_browser_revenue, the most a browser conversion may report (NULL: no cap).

SQLite cannot change a unique constraint in place: the table is rebuilt (copied, dropped,
renamed). With foreign keys on, dropping the old table would delete what references it
(uncounted_conversions, forwarding_deliveries: ON DELETE CASCADE), so the rebuild runs with
them off and checks them before turning them on again. Downgrading fails if a browser and a
server conversion of one click share an event id; change one of them first.
"""

import warnings

import sqlalchemy as sa
from alembic import op

revision = "0012_idempotency_per_source"
down_revision = "0011_drop_conversion_tracking"
branch_labels = None
depends_on = None

OLD_KEY = ("uq_conversion_events_tracking_event_id", ["tracking_id", "event_id"])
NEW_KEY = ("uq_conversion_events_tracking_source_event_id", ["tracking_id", "source", "event_id"])


def upgrade():
    op.add_column("campaign_links", sa.Column("max_browser_revenue", sa.Numeric(precision=10, scale=2), nullable=True))
    _replace_unique_key(OLD_KEY, NEW_KEY)


def downgrade():
    _replace_unique_key(NEW_KEY, OLD_KEY)
    # ALTER TABLE … DROP COLUMN (SQLite 3.35+): a batch rebuild of campaign_links would lose its
    # lower(short_code) index, which SQLite cannot reflect.
    op.drop_column("campaign_links", "max_browser_revenue")


def _replace_unique_key(old, new):
    bind = op.get_bind()
    sqlite = bind.dialect.name == "sqlite"
    if sqlite:
        _sqlite_foreign_keys(bind, "OFF")
    with warnings.catch_warnings():
        # Reflecting conversion_events reflects campaign_links (its foreign key), whose
        # lower(short_code) index SQLite cannot read back; campaign_links itself is not rebuilt.
        warnings.filterwarnings("ignore", "Skipped unsupported reflection of expression-based index")
        with op.batch_alter_table("conversion_events", schema=None) as batch_op:
            batch_op.drop_constraint(old[0], type_="unique")
            batch_op.create_unique_constraint(*new)
    if sqlite:
        broken = bind.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
        if broken:
            raise RuntimeError(f"foreign keys broken by the rebuild of conversion_events: {broken}")
        _sqlite_foreign_keys(bind, "ON")


def _sqlite_foreign_keys(bind, state: str) -> None:
    """PRAGMA foreign_keys does nothing inside a transaction: end the one the migration run has open
    (the driver opens the next one at the next write)."""
    driver = bind.connection.driver_connection
    driver.commit()
    driver.execute(f"PRAGMA foreign_keys={state}")
