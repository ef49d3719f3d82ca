"""spotify accounts: a user's connected Spotify account (refresh token encrypted) and playlist exports

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 12:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "spotify_connections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("spotify_user_id", sa.String(length=200), nullable=False),
        sa.Column("display_name", sa.String(length=300), nullable=True),
        sa.Column("refresh_token_encrypted", sa.Text(), nullable=False),
        sa.Column("scope", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=16), server_default=sa.text("'connected'"), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("user_id"),
    )
    op.create_table(
        "spotify_playlist_exports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("playlist_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("spotify_user_id", sa.String(length=200), nullable=False),
        sa.Column("spotify_playlist_id", sa.String(length=100), nullable=False),
        sa.Column("spotify_url", sa.Text(), nullable=True),
        sa.Column("track_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("exported_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["playlist_id"], ["playlists.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("playlist_id", "user_id", name="uq_spotify_export_playlist_user"),
    )
    op.create_index("ix_spotify_playlist_exports_playlist_id", "spotify_playlist_exports", ["playlist_id"])
    op.create_index("ix_spotify_playlist_exports_user_id", "spotify_playlist_exports", ["user_id"])


def downgrade() -> None:
    op.drop_index("ix_spotify_playlist_exports_user_id", table_name="spotify_playlist_exports")
    op.drop_index("ix_spotify_playlist_exports_playlist_id", table_name="spotify_playlist_exports")
    op.drop_table("spotify_playlist_exports")
    op.drop_table("spotify_connections")
