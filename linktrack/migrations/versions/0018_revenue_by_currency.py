"""revenue per currency: link_daily_revenue, the currency of uncounted conversions, users.main_currency

Revision ID: 0018_revenue_by_currency
Revises: 0017_creator_time_zone
Create Date: 2026-12-05 16:10:00

The daily rows' `<type>_revenue` add every currency into one number; link_daily_revenue keeps each
currency apart (models.counters.LinkDailyRevenue). It is filled here from the conversions already
counted (those without an uncounted_conversions row), on the UTC day of each conversion as the
daily rows count it, so the reports show the same history right after upgrading; the uncounted
ones get their currency from their conversion and are counted by the consumer as usual. A
recount (`flask recount`) gives the same rows.
"""

import sqlalchemy as sa
from alembic import op

revision = "0018_revenue_by_currency"
down_revision = "0017_creator_time_zone"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("users", sa.Column("main_currency", sa.String(length=3), server_default="USD", nullable=False))
    op.add_column(
        "uncounted_conversions", sa.Column("currency", sa.String(length=3), server_default="USD", nullable=False)
    )
    op.execute(
        "UPDATE uncounted_conversions SET currency = (SELECT currency FROM conversion_events"
        " WHERE conversion_events.id = uncounted_conversions.conversion_id)"
    )
    op.create_table(
        "link_daily_revenue",
        sa.Column("campaign_link_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("event_type", sa.String(length=32), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("conversions", sa.Integer(), server_default="0", nullable=False),
        sa.Column("revenue", sa.Numeric(precision=14, scale=2), server_default="0", nullable=False),
        sa.ForeignKeyConstraint(["campaign_link_id"], ["campaign_links.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("campaign_link_id", "day", "event_type", "currency"),
    )
    op.create_index("ix_link_daily_revenue_user_day", "link_daily_revenue", ["user_id", "day"])
    if op.get_bind().dialect.name == "postgresql":
        day = "CAST(timezone('UTC', c.converted_at) AS DATE)"
    else:
        day = "date(c.converted_at)"
    op.execute(
        "INSERT INTO link_daily_revenue (campaign_link_id, day, event_type, currency, user_id, conversions, revenue)"
        f" SELECT c.campaign_link_id, {day}, c.event_type, c.currency, l.user_id, count(*), sum(c.revenue_amount)"
        " FROM conversion_events c JOIN campaign_links l ON l.id = c.campaign_link_id"
        " WHERE c.revenue_amount IS NOT NULL"
        " AND NOT EXISTS (SELECT 1 FROM uncounted_conversions u WHERE u.conversion_id = c.id)"
        f" GROUP BY c.campaign_link_id, {day}, c.event_type, c.currency, l.user_id"
    )


def downgrade():
    op.drop_index("ix_link_daily_revenue_user_day", table_name="link_daily_revenue")
    op.drop_table("link_daily_revenue")
    # Not in batch mode: on SQLite that rebuilds the table, and dropping the old `users` with foreign
    # keys on would cascade-delete every creator's links (as 0013 says). SQLite 3.35+ drops in place.
    op.drop_column("uncounted_conversions", "currency")
    op.drop_column("users", "main_currency")
