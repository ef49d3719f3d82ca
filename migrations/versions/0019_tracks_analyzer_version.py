"""tracks.analyzer_version: which analyzer read a track, beside its analysis document

The library page counts tracks analysed by an older analyzer than the service's (and queues them again:
`analysis.service.analyse_library`). Read from `analysis->>'analyzer_version'`, that count detoasted every
analysed track's analysis document (~39 KB with its waveform and beat grid): ~400 MB for 10,000 tracks on each
page view. The version now has a column of its own, written with the analysis (`analysis.results.store_analysis`)
and filled here from the documents already stored.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-08 01:40:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("tracks", sa.Column("analyzer_version", sa.String(length=40), nullable=True))
    op.execute("UPDATE tracks SET analyzer_version = left(analysis->>'analyzer_version', 40) "
               "WHERE analysis IS NOT NULL")


def downgrade() -> None:
    op.drop_column("tracks", "analyzer_version")
