"""drop users.session_version: sessions are rows of user_sessions (0011), the counter was no longer read

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-11 12:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_column("users", "session_version")


def downgrade() -> None:
    op.add_column("users", sa.Column("session_version", sa.Integer(), server_default=sa.text("1"), nullable=False))
