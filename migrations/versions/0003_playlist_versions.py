"""playlist versions: snapshots taken before the set builder reorders a playlist

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 22:10:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "playlist_versions",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("playlist_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("track_pks", sa.ARRAY(sa.BigInteger()), nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["playlist_id"], ["playlists.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_playlist_versions_playlist_id"), "playlist_versions", ["playlist_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_playlist_versions_playlist_id"), table_name="playlist_versions")
    op.drop_table("playlist_versions")
