"""daily click breakdowns per link (referrer host, device, browser, os)

Revision ID: 0006_link_daily_breakdowns
Revises: 0005_forwarding
Create Date: 2026-11-22 21:10:00

Clicks stored before this migration are counted by `flask recount` (recount_daily_stats(), which
folds referrers to their hosts in Python, so this migration cannot fill the table in SQL): until
it runs, a link page's referrers and devices show only clicks stored after upgrading.
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_link_daily_breakdowns"
down_revision = "0005_forwarding"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "link_daily_breakdowns",
        sa.Column("campaign_link_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("dimension", sa.String(length=16), nullable=False),
        sa.Column("value", sa.String(length=255), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("clicks", sa.Integer(), server_default="0", nullable=False),
        sa.ForeignKeyConstraint(["campaign_link_id"], ["campaign_links.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("campaign_link_id", "day", "dimension", "value"),
    )


def downgrade():
    op.drop_table("link_daily_breakdowns")
