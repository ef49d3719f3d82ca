"""enrichment: where each platform link came from, the review queue, each source's last error

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 10:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # {"spotify_url": "manual" | "matched", ...}; links set before this revision count as set by hand.
    op.add_column(
        "tracks",
        sa.Column("link_origins", postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"),
                  nullable=False),
    )
    op.execute(
        """
        UPDATE tracks SET link_origins = jsonb_strip_nulls(jsonb_build_object(
            'apple_music_url', CASE WHEN apple_music_url IS NOT NULL THEN 'manual' END,
            'spotify_url', CASE WHEN spotify_url IS NOT NULL THEN 'manual' END,
            'youtube_url', CASE WHEN youtube_url IS NOT NULL THEN 'manual' END,
            'soundcloud_url', CASE WHEN soundcloud_url IS NOT NULL THEN 'manual' END))
         WHERE apple_music_url IS NOT NULL OR spotify_url IS NOT NULL
            OR youtube_url IS NOT NULL OR soundcloud_url IS NOT NULL
        """
    )
    op.create_table(
        "enrichment_reviews",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("track_pk", sa.BigInteger(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("candidates", postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'[]'::jsonb"),
                  nullable=False),
        sa.Column("status", sa.String(length=16), server_default=sa.text("'pending'"), nullable=False),
        sa.Column("chosen_index", sa.SmallInteger(), nullable=True),
        sa.Column("chosen", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("job_id", sa.String(length=100), nullable=True),
        sa.Column("decided_by", sa.Integer(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["track_pk"], ["tracks.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["decided_by"], ["users.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_enrichment_reviews_track_pk", "enrichment_reviews", ["track_pk"], unique=False)
    op.create_index("ix_enrichment_reviews_status_source", "enrichment_reviews", ["status", "source"], unique=False)
    op.create_index(
        "uq_enrichment_reviews_pending", "enrichment_reviews", ["track_pk", "source"], unique=True,
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_table(
        "enrichment_source_status",
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_error_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_ok_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("source"),
    )


def downgrade() -> None:
    op.drop_table("enrichment_source_status")
    op.drop_index("uq_enrichment_reviews_pending", table_name="enrichment_reviews")
    op.drop_index("ix_enrichment_reviews_status_source", table_name="enrichment_reviews")
    op.drop_index("ix_enrichment_reviews_track_pk", table_name="enrichment_reviews")
    op.drop_table("enrichment_reviews")
    op.drop_column("tracks", "link_origins")
