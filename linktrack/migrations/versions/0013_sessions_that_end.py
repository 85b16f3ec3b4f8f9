"""sessions that end: a per-user session version, and single-use password-reset tokens

Revision ID: 0013_sessions_that_end
Revises: 0012_idempotency_per_source
Create Date: 2026-12-02 13:40:00

users.session_version is part of the id every session and remember-me cookie holds: logout,
a password change or reset and "log out everywhere" raise it, and every older cookie stops
working. Existing rows start at 1; sessions made before this migration (a bare id) end once.
"""

import sqlalchemy as sa
from alembic import op


revision = "0013_sessions_that_end"
down_revision = "0012_idempotency_per_source"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("session_version", sa.Integer(), server_default="1", nullable=False))
    op.create_table(
        "password_reset_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    with op.batch_alter_table("password_reset_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_password_reset_tokens_user_id"), ["user_id"], unique=False)


def downgrade():
    with op.batch_alter_table("password_reset_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_password_reset_tokens_user_id"))
    op.drop_table("password_reset_tokens")
    # Not in batch mode: on SQLite that rebuilds `users`, and dropping the old table with foreign keys
    # on would cascade-delete every creator's links and reports. SQLite 3.35+ drops a column in place.
    op.drop_column("users", "session_version")
