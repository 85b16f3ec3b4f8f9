"""tracker sightings: when each link's CampaignTracker last reported from each origin

Revision ID: 0020_tracker_sightings
Revises: 0019_converted_clicks
Create Date: 2026-12-05 16:00:00

A new, empty table (the install panel says "no event yet" until the next conversion from a
page): nothing to copy, and older processes simply do not write it.
"""

import sqlalchemy as sa
from alembic import op

revision = "0020_tracker_sightings"
down_revision = "0019_converted_clicks"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "tracker_sightings",
        sa.Column("campaign_link_id", sa.Uuid(), nullable=False),
        sa.Column("origin", sa.Text(), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["campaign_link_id"], ["campaign_links.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("campaign_link_id", "origin"),
    )


def downgrade():
    op.drop_table("tracker_sightings")
