"""drop conversion_events' tracking_id index: the unique (tracking_id, event_id) index serves it

Revision ID: 0011_drop_conversion_tracking
Revises: 0010_short_code_lower_unique
Create Date: 2026-11-22 23:25:00

Every conversion paid for two indexes on the same leading column; lookups by tracking_id alone
(the visitor's earlier conversions, the attribution endpoint) read the unique one.
"""

from alembic import op

revision = "0011_drop_conversion_tracking"
down_revision = "0010_short_code_lower_unique"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("conversion_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_conversion_events_tracking_id"))


def downgrade():
    with op.batch_alter_table("conversion_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_conversion_events_tracking_id"), ["tracking_id"], unique=False)
