"""the creator's time zone: users.time_zone and users.counted_time_zone; uncounted conversions
lose converted_on

Revision ID: 0017_creator_time_zone
Revises: 0015_click_partitions
Create Date: 2026-12-05 16:00:00

Every aggregate day becomes a day in its creator's zone (counting/days.py). Existing creators get
'UTC', the zone their daily counters were counted in, so every counter stays exact and no history
is lost; choosing another zone rebuilds them from the raw events. An uncounted conversion's day is
taken by the counting run from recorded_at (its converted_at) in the creator's zone, so its UTC
converted_on goes.
"""

import sqlalchemy as sa
from alembic import op

revision = "0017_creator_time_zone"
down_revision = "0015_click_partitions"
branch_labels = None
depends_on = None


def upgrade():
    # Not in batch mode: on SQLite that rebuilds `users`, and dropping the old table with foreign keys
    # on would cascade-delete every creator's links and reports. SQLite adds a column in place.
    op.add_column("users", sa.Column("time_zone", sa.String(length=64), server_default="UTC", nullable=False))
    op.add_column("users", sa.Column("counted_time_zone", sa.String(length=64), server_default="UTC", nullable=False))
    op.drop_column("uncounted_conversions", "converted_on")  # SQLite 3.35+ drops a column in place


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.add_column("uncounted_conversions", sa.Column("converted_on", sa.Date(), nullable=True))
        op.execute("UPDATE uncounted_conversions SET converted_on = (recorded_at AT TIME ZONE 'UTC')::date")
        op.alter_column("uncounted_conversions", "converted_on", existing_type=sa.Date(), nullable=False)
    else:
        # SQLite adds a NOT NULL column only with a default (batch mode would rebuild the table).
        column = sa.Column("converted_on", sa.Date(), server_default="1970-01-01", nullable=False)
        op.add_column("uncounted_conversions", column)
        op.execute("UPDATE uncounted_conversions SET converted_on = date(recorded_at)")
    op.drop_column("users", "counted_time_zone")
    op.drop_column("users", "time_zone")
