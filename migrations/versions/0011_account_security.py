"""account security: server-side browser sessions, a user's own Discogs token (encrypted), share invitations

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-08 12:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "user_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index("ix_user_sessions_user_id", "user_sessions", ["user_id"], unique=False)
    op.add_column("users", sa.Column("discogs_token_encrypted", sa.Text(), nullable=True))
    # Shares become invitations the recipient accepts; the shares made before stay in force.
    op.add_column("library_shares", sa.Column("pending", sa.Boolean(), server_default=sa.text("false"),
                                              nullable=False))


def downgrade() -> None:
    op.execute("DELETE FROM library_shares WHERE pending")
    op.drop_column("library_shares", "pending")
    op.drop_column("users", "discogs_token_encrypted")
    op.drop_index("ix_user_sessions_user_id", table_name="user_sessions")
    op.drop_table("user_sessions")
