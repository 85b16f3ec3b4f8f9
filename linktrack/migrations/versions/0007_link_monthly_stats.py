"""monthly rollups of the daily aggregates, so long ranges read months

Revision ID: 0007_link_monthly_stats
Revises: 0006_link_daily_breakdowns
Create Date: 2026-11-22 21:15:00

Filled from the existing daily rows here, so reports read the same figures right after upgrading.
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_link_monthly_stats"
down_revision = "0006_link_daily_breakdowns"
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
        "link_monthly_stats",
        sa.Column("campaign_link_id", sa.Uuid(), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        *columns,
        sa.ForeignKeyConstraint(["campaign_link_id"], ["campaign_links.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("campaign_link_id", "month"),
    )
    with op.batch_alter_table("link_monthly_stats", schema=None) as batch_op:
        batch_op.create_index("ix_link_monthly_stats_user_month", ["user_id", "month"], unique=False)

    if op.get_bind().dialect.name == "postgresql":
        month = "CAST(date_trunc('month', day) AS DATE)"
    else:
        month = "date(day, 'start of month')"
    sums = ", ".join(f"SUM({name})" for name in COUNTERS)
    op.execute(
        f"INSERT INTO link_monthly_stats (campaign_link_id, month, user_id, {', '.join(COUNTERS)}) "
        f"SELECT campaign_link_id, {month}, user_id, {sums} FROM link_daily_stats "
        f"GROUP BY campaign_link_id, {month}, user_id"
    )


def downgrade():
    with op.batch_alter_table("link_monthly_stats", schema=None) as batch_op:
        batch_op.drop_index("ix_link_monthly_stats_user_month")
    op.drop_table("link_monthly_stats")
