"""bot clicks counted as people once their visitor converts: why and when the bot flag was cleared

Revision ID: 0019_converted_clicks
Revises: 0018_revenue_by_currency
Create Date: 2026-12-05 16:00:00

Two nullable columns on click_events (on PostgreSQL on the partitioned parent: every partition
gets them; a catalogue change, no rewrite). From now on the counting run that counts a conversion
clears its click's bot flag (counting/converted.py). Clicks that converted before this migration
stay bots until something clears them; nothing is rewritten here.
"""

import sqlalchemy as sa
from alembic import op

revision = "0019_converted_clicks"
down_revision = "0018_revenue_by_currency"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("click_events", sa.Column("bot_cleared_reason", sa.String(length=16), nullable=True))
    op.add_column("click_events", sa.Column("bot_cleared_at", sa.DateTime(timezone=True), nullable=True))


def downgrade():
    # The cleared clicks stay people (is_bot false): only the record of why is lost. In place
    # (SQLite 3.35+), not in batch mode: a rebuild of click_events would cascade through its keys.
    op.drop_column("click_events", "bot_cleared_at")
    op.drop_column("click_events", "bot_cleared_reason")
