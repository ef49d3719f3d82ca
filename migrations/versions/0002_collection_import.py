"""collection import: Discogs sync runs, raw releases, spins

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 22:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("albums", sa.Column("last_seen_run_id", sa.Integer(), nullable=True))
    op.create_table(
        "discogs_releases",
        sa.Column("release_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("data", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("last_error_run_id", sa.Integer(), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("release_id"),
    )
    op.create_table(
        "sync_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("library_id", sa.Integer(), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("stage", sa.String(length=32), nullable=False),
        sa.Column("job_id", sa.String(length=100), nullable=True),
        sa.Column("pages_done", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("pages_total", sa.Integer(), nullable=True),
        sa.Column("releases_total", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("releases_done", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("releases_fetched", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("releases_failed", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("releases_removed", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("failures", postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'[]'::jsonb"),
                  nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["library_id"], ["libraries.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_sync_runs_library_status", "sync_runs", ["library_id", "status"], unique=False)
    op.create_table(
        "spin_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_spin_sessions_user_id"), "spin_sessions", ["user_id"], unique=False)
    op.create_table(
        "spins",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("album_id", sa.Integer(), nullable=True),
        sa.Column("track_pk", sa.BigInteger(), nullable=True),
        sa.Column("side", sa.String(length=8), nullable=True),
        sa.Column("played_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["album_id"], ["albums.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["session_id"], ["spin_sessions.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["track_pk"], ["tracks.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_spins_album_id"), "spins", ["album_id"], unique=False)
    op.create_index(op.f("ix_spins_session_id"), "spins", ["session_id"], unique=False)
    op.create_index(op.f("ix_spins_track_pk"), "spins", ["track_pk"], unique=False)
    op.create_index(op.f("ix_spins_user_id"), "spins", ["user_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_spins_user_id"), table_name="spins")
    op.drop_index(op.f("ix_spins_track_pk"), table_name="spins")
    op.drop_index(op.f("ix_spins_session_id"), table_name="spins")
    op.drop_index(op.f("ix_spins_album_id"), table_name="spins")
    op.drop_table("spins")
    op.drop_index(op.f("ix_spin_sessions_user_id"), table_name="spin_sessions")
    op.drop_table("spin_sessions")
    op.drop_index("ix_sync_runs_library_status", table_name="sync_runs")
    op.drop_table("sync_runs")
    op.drop_table("discogs_releases")
    op.drop_column("albums", "last_seen_run_id")
