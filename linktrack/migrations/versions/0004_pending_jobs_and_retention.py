"""pending jobs (Redis down or due later) and the creator's conversion retention period

Revision ID: 0004_pending_jobs_and_retention
Revises: 0003_daily_aggregates
Create Date: 2026-11-22 20:55:00

"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

revision = "0004_pending_jobs_and_retention"
down_revision = "0003_daily_aggregates"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "pending_jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job_name", sa.String(length=100), nullable=False),
        sa.Column("args", JSON, nullable=False),
        sa.Column("run_after", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("pending_jobs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_pending_jobs_run_after"), ["run_after"], unique=False)
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("conversion_retention_days", sa.Integer(), nullable=True))


def downgrade():
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("conversion_retention_days")
    with op.batch_alter_table("pending_jobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pending_jobs_run_after"))
    op.drop_table("pending_jobs")
