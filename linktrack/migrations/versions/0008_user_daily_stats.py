"""daily totals per creator, for the dashboard's chart

Revision ID: 0008_user_daily_stats
Revises: 0007_link_monthly_stats
Create Date: 2026-11-22 21:20:00

Filled from the existing daily rows here, so the chart reads the same figures right after upgrading.
"""

import sqlalchemy as sa
from alembic import op

revision = "0008_user_daily_stats"
down_revision = "0007_link_monthly_stats"
branch_labels = None
depends_on = None

COUNTERS = ["clicks", "unique_clicks", "bot_clicks"] + [
    f"{event_type}_{suffix}"
    for event_type in ("newsletter_signup", "course_enrollment", "purchase")
    for suffix in ("count", "visitors", "revenue")
]


def upgrade():
    columns = [
        sa.Column(name, sa.Numeric(precision=14, scale=2), server_default="0", nullable=False)
        if name.endswith("_revenue")
        else sa.Column(name, sa.Integer(), server_default="0", nullable=False)
        for name in COUNTERS
    ]
    op.create_table(
        "user_daily_stats",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        *columns,
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id", "day"),
    )
    sums = ", ".join(f"SUM({name})" for name in COUNTERS)
    op.execute(
        f"INSERT INTO user_daily_stats (user_id, day, {', '.join(COUNTERS)}) "
        f"SELECT user_id, day, {sums} FROM link_daily_stats GROUP BY user_id, day"
    )


def downgrade():
    op.drop_table("user_daily_stats")
