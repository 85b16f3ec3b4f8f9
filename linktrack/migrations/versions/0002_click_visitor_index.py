"""index for the redirect's unique-visitor check: a visitor's recent clicks on one link

Revision ID: 0002_click_visitor_index
Revises: 0001
Create Date: 2026-11-23 10:00:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = "0002_click_visitor_index"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("click_events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_click_events_link_visitor", ["campaign_link_id", "ip_hash", "clicked_at"], unique=False
        )


def downgrade():
    with op.batch_alter_table("click_events", schema=None) as batch_op:
        batch_op.drop_index("ix_click_events_link_visitor")
