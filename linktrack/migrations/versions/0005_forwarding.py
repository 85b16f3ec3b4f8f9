"""forwarding destinations, deliveries and attempts

Revision ID: 0005_forwarding
Revises: 0004_pending_jobs_and_retention
Create Date: 2026-11-22 21:00:00

"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

revision = "0005_forwarding"
down_revision = "0004_pending_jobs_and_retention"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "forwarding_destinations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("settings", JSON, nullable=False),
        sa.Column("credentials_encrypted", sa.Text(), nullable=False),
        sa.Column("secret_hint", sa.String(length=8), nullable=False),
        sa.Column("event_types", JSON, nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("paused_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("consecutive_failures", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("forwarding_destinations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_forwarding_destinations_user_id"), ["user_id"], unique=False)

    op.create_table(
        "forwarding_deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("destination_id", sa.Integer(), nullable=False),
        sa.Column("conversion_id", sa.Uuid(), nullable=True),
        sa.Column("event_type", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["conversion_id"], ["conversion_events.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["destination_id"], ["forwarding_destinations.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("destination_id", "conversion_id", name="uq_forwarding_deliveries_once"),
    )
    with op.batch_alter_table("forwarding_deliveries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_forwarding_deliveries_conversion_id"), ["conversion_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_forwarding_deliveries_destination_id"), ["destination_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_forwarding_deliveries_status"), ["status"], unique=False)

    op.create_table(
        "forwarding_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("delivery_id", sa.Integer(), nullable=False),
        sa.Column("attempted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("next_retry_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["delivery_id"], ["forwarding_deliveries.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("forwarding_attempts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_forwarding_attempts_delivery_id"), ["delivery_id"], unique=False)


def downgrade():
    with op.batch_alter_table("forwarding_attempts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_forwarding_attempts_delivery_id"))
    op.drop_table("forwarding_attempts")
    with op.batch_alter_table("forwarding_deliveries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_forwarding_deliveries_status"))
        batch_op.drop_index(batch_op.f("ix_forwarding_deliveries_destination_id"))
        batch_op.drop_index(batch_op.f("ix_forwarding_deliveries_conversion_id"))
    op.drop_table("forwarding_deliveries")
    with op.batch_alter_table("forwarding_destinations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_forwarding_destinations_user_id"))
    op.drop_table("forwarding_destinations")
