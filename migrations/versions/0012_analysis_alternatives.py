"""analysis alternatives: tempo octave candidates, key confidence and runner-up, user corrections of bpm/key

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-09 12:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("tracks", sa.Column("bpm_candidates", postgresql.JSONB(astext_type=sa.Text()), nullable=True))
    op.add_column("tracks", sa.Column("key_confidence", sa.Float(), nullable=True))
    op.add_column("tracks", sa.Column("key_alternative", postgresql.JSONB(astext_type=sa.Text()), nullable=True))
    op.add_column("tracks", sa.Column("bpm_source", sa.String(length=8), nullable=True))
    op.add_column("tracks", sa.Column("key_source", sa.String(length=8), nullable=True))
    # Results stored before analyzer 1.4 carry what they had: the candidates and key confidence are
    # filled by the next analysis.
    op.execute("UPDATE tracks SET bpm_candidates = analysis->'bpm_candidates' "
               "WHERE jsonb_typeof(analysis->'bpm_candidates') = 'array'")


def downgrade() -> None:
    for column in ("key_source", "bpm_source", "key_alternative", "key_confidence", "bpm_candidates"):
        op.drop_column("tracks", column)
