"""click_events partitioned by month on PostgreSQL; cleanup cursors on both databases

Revision ID: 0015_click_partitions
Revises: 0014_uncounted_clicks
Create Date: 2026-12-04 20:15:00

PostgreSQL, runnable on a live database (clicks go on being written; no step holds a lock that
blocks them for longer than a catalogue change):
1. without a transaction: the old table gets the unique indexes a partition needs, (clicked_at,
   id) and (tracking_id, clicked_at), built CONCURRENTLY, and a CHECK (clicked_at < the first day
   of next month) added NOT VALID and then VALIDATEd (a scan that takes SHARE UPDATE EXCLUSIVE,
   so inserts and updates go on);
2. one short transaction (lock_timeout 5 s: it fails rather than queue clicks behind a long
   query; run the migration again, step 1 is redone): the old table is renamed
   click_events_before_yYYYYmMM, its primary key and unique constraint swapped for the indexes of
   step 1 (no scan: the columns are NOT NULL), the partitioned click_events created like it, the
   old table attached as the partition of everything before next month (no scan: the CHECK
   proves it), the next two months' partitions and the DEFAULT partition created empty.
Every row stays where it is: nothing is copied. The old rows keep their UUIDv4 tracking ids
(found without partition pruning); new clicks get UUIDv7 ids. Timings: bench/README.md.

Downgrade (PostgreSQL) copies every row back into one plain table, in one transaction: it is
meant for a test or a fresh install, not a live database of millions of rows.

SQLite: one table stays; only cleanup_cursors is added (tracking/cleanup.py).
"""

from datetime import date, datetime, timedelta, timezone

import sqlalchemy as sa
from alembic import op

revision = "0015_click_partitions"
down_revision = "0014_uncounted_clicks"
branch_labels = None
depends_on = None

MONTHS_AHEAD = 2


def _next_month(month: date) -> date:
    return (month.replace(day=28) + timedelta(days=4)).replace(day=1)


def _bound(month: date) -> str:
    return f"'{month.isoformat()} 00:00:00+00'::timestamptz"


def upgrade():
    op.create_table(
        "cleanup_cursors",
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("clicked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("click_id", sa.Uuid(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    if op.get_bind().dialect.name != "postgresql":
        return
    first = _next_month(datetime.now(timezone.utc).date().replace(day=1))
    before = f"click_events_before_y{first.year:04d}m{first.month:02d}"
    with op.get_context().autocommit_block():
        for name, columns in (("click_events_clicked_at_id", "clicked_at, id"), ("click_events_tracking_id_clicked_at", "tracking_id, clicked_at")):
            op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")  # a build a failed run left INVALID
            op.execute(f"CREATE UNIQUE INDEX CONCURRENTLY {name} ON click_events ({columns})")
        op.execute("ALTER TABLE click_events DROP CONSTRAINT IF EXISTS click_events_partition_bound")
        op.execute(f"ALTER TABLE click_events ADD CONSTRAINT click_events_partition_bound CHECK (clicked_at < {_bound(first)}) NOT VALID")
        op.execute("ALTER TABLE click_events VALIDATE CONSTRAINT click_events_partition_bound")
    op.execute("SET LOCAL lock_timeout = '5s'")
    op.execute("LOCK TABLE click_events IN ACCESS EXCLUSIVE MODE")
    op.execute(f"ALTER TABLE click_events RENAME TO {before}")
    op.execute(f"ALTER INDEX ix_click_events_link_clicked_at RENAME TO {before}_link_clicked_at")
    op.execute(f"ALTER INDEX ix_click_events_link_visitor RENAME TO {before}_link_visitor")
    op.execute(f"ALTER TABLE {before} DROP CONSTRAINT click_events_pkey")
    op.execute(f"ALTER TABLE {before} ADD CONSTRAINT {before}_pkey PRIMARY KEY USING INDEX click_events_clicked_at_id")
    op.execute(f"ALTER TABLE {before} DROP CONSTRAINT click_events_tracking_id_key")
    op.execute(
        f"ALTER TABLE {before} ADD CONSTRAINT {before}_tracking_id_clicked_at_key "
        "UNIQUE USING INDEX click_events_tracking_id_clicked_at"
    )
    op.execute(f"CREATE TABLE click_events (LIKE {before} INCLUDING DEFAULTS) PARTITION BY RANGE (clicked_at)")
    op.execute("ALTER TABLE click_events ADD CONSTRAINT click_events_pkey PRIMARY KEY (clicked_at, id)")
    op.execute("ALTER TABLE click_events ADD CONSTRAINT click_events_tracking_id_clicked_at_key UNIQUE (tracking_id, clicked_at)")
    op.execute(
        "ALTER TABLE click_events ADD CONSTRAINT click_events_campaign_link_id_fkey FOREIGN KEY (campaign_link_id) "
        "REFERENCES campaign_links (id) ON DELETE CASCADE"
    )
    op.execute("CREATE INDEX ix_click_events_link_clicked_at ON click_events (campaign_link_id, clicked_at)")
    op.execute("CREATE INDEX ix_click_events_link_visitor ON click_events (campaign_link_id, ip_hash, clicked_at)")
    op.execute(f"ALTER TABLE click_events ATTACH PARTITION {before} FOR VALUES FROM (MINVALUE) TO ({_bound(first)})")
    op.execute(f"ALTER TABLE {before} DROP CONSTRAINT click_events_partition_bound")
    month = first
    for _ in range(MONTHS_AHEAD):
        following = _next_month(month)
        op.execute(
            f"CREATE TABLE click_events_y{month.year:04d}m{month.month:02d} PARTITION OF click_events "
            f"FOR VALUES FROM ({_bound(month)}) TO ({_bound(following)})"
        )
        month = following
    op.execute("CREATE TABLE click_events_default PARTITION OF click_events DEFAULT")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE TABLE click_events_unpartitioned (LIKE click_events INCLUDING DEFAULTS)")
        op.execute("INSERT INTO click_events_unpartitioned SELECT * FROM click_events")
        op.execute("DROP TABLE click_events")
        op.execute("ALTER TABLE click_events_unpartitioned RENAME TO click_events")
        op.execute("ALTER TABLE click_events ADD CONSTRAINT click_events_pkey PRIMARY KEY (id)")
        op.execute("ALTER TABLE click_events ADD CONSTRAINT click_events_tracking_id_key UNIQUE (tracking_id)")
        op.execute(
            "ALTER TABLE click_events ADD CONSTRAINT click_events_campaign_link_id_fkey FOREIGN KEY (campaign_link_id) "
            "REFERENCES campaign_links (id) ON DELETE CASCADE"
        )
        op.execute("CREATE INDEX ix_click_events_link_clicked_at ON click_events (campaign_link_id, clicked_at)")
        op.execute("CREATE INDEX ix_click_events_link_visitor ON click_events (campaign_link_id, ip_hash, clicked_at)")
    op.drop_table("cleanup_cursors")
