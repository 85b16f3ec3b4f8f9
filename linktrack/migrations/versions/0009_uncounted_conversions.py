"""conversions whose report counts are added in batches after their commit

Revision ID: 0009_uncounted_conversions
Revises: 0008_user_daily_stats
Create Date: 2026-11-22 22:40:00

Every existing conversion is already counted, so the table starts empty. It holds only the last
second's conversions, so it has no index but its key: each would cost every conversion an update.
"""

import sqlalchemy as sa
from alembic import op

revision = "0009_uncounted_conversions"
down_revision = "0008_user_daily_stats"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "uncounted_conversions",
        sa.Column("conversion_id", sa.Uuid(), nullable=False),
        sa.Column("campaign_link_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("event_type", sa.String(length=32), nullable=False),
        sa.Column("revenue_amount", sa.Numeric(precision=10, scale=2), nullable=True),
        sa.Column("converted_on", sa.Date(), nullable=False),
        sa.Column("days_since_click", sa.Integer(), nullable=False),
        sa.Column("first_of_type", sa.Boolean(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["conversion_id"], ["conversion_events.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("conversion_id"),
    )


def downgrade():
    op.drop_table("uncounted_conversions")
