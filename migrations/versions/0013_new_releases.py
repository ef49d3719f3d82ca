"""new releases: Discogs releases by a library's artists, newer than the library holds and not in it

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-10 12:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "new_releases",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("library_id", sa.Integer(), nullable=False),
        sa.Column("artist_id", sa.BigInteger(), nullable=False),
        sa.Column("artist_name", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("discogs_id", sa.BigInteger(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("year", sa.SmallInteger(), nullable=True),
        sa.Column("format", sa.Text(), nullable=True),
        sa.Column("label", sa.Text(), nullable=True),
        sa.Column("thumbnail", sa.Text(), nullable=True),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("found_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["library_id"], ["libraries.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("library_id", "kind", "discogs_id", name="uq_new_release_library_kind_id"),
    )
    op.create_index("ix_new_releases_library_id", "new_releases", ["library_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_new_releases_library_id", table_name="new_releases")
    op.drop_table("new_releases")
