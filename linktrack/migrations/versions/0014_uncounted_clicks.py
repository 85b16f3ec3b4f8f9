"""clicks counted by one consumer: the clicks whose report counts are still to be added, and when
the consumer last ran

Revision ID: 0014_uncounted_clicks
Revises: 0013_sessions_that_end
Create Date: 2026-12-04 20:30:00

Every existing click is already counted, so uncounted_clicks starts empty. Like
uncounted_conversions it holds about the last second's clicks, so it has no index but its key, and
no foreign key to click_events (partitioned on PostgreSQL, see the model). Safe while older
processes still run: they count their clicks inside their batch, as before, and store no
uncounted rows; the new ones store uncounted rows and leave the counting to the consumer.
"""

import sqlalchemy as sa
from alembic import op

revision = "0014_uncounted_clicks"
down_revision = "0013_sessions_that_end"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "uncounted_clicks",
        sa.Column("click_id", sa.Uuid(), nullable=False),
        sa.Column("campaign_link_id", sa.Uuid(), nullable=False),
        sa.Column("clicked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("is_bot", sa.Boolean(), nullable=False),
        sa.Column("is_unique", sa.Boolean(), nullable=False),
        sa.Column("referrer", sa.Text(), nullable=True),
        sa.Column("device_type", sa.String(length=20), nullable=True),
        sa.Column("browser", sa.String(length=50), nullable=True),
        sa.Column("os", sa.String(length=50), nullable=True),
        sa.PrimaryKeyConstraint("click_id"),
    )
    op.create_table(
        "counting_runs",
        sa.Column("consumer", sa.String(length=32), nullable=False),
        sa.Column("counted_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("consumer"),
    )


def downgrade():
    # Clicks still uncounted would be lost to the reports: `flask recount` after a downgrade.
    op.drop_table("counting_runs")
    op.drop_table("uncounted_clicks")
