"""short codes unique ignoring case, in the database

Revision ID: 0010_short_code_lower_unique
Revises: 0009_uncounted_conversions
Create Date: 2026-11-22 23:10:00

The links service already refuses /promo when /Promo exists, but only by reading first: two
creators choosing "Promo" and "promo" at the same instant could both be stored. This index makes
the second commit fail, and the service answers it as short_code_taken. Upgrading fails if such a
pair is already stored; rename one of them first.
"""

import sqlalchemy as sa
from alembic import op

revision = "0010_short_code_lower_unique"
down_revision = "0009_uncounted_conversions"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index("uq_campaign_links_short_code_lower", "campaign_links", [sa.text("lower(short_code)")], unique=True)


def downgrade():
    op.drop_index("uq_campaign_links_short_code_lower", table_name="campaign_links")
