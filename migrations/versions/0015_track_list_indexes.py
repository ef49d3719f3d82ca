"""track list indexes: browsing sorted by artist, title, -bpm or -year pages through an index

The track list (`/api/tracks/search` without `q`) reads its page straight from the table in the sort's
order (services/domain/search/postgres.py); these partial indexes (live tracks only, as every search
filters) have that order, so a page costs an index range instead of folding and sorting every track.
djp_fold() never returns NULL, so the folded keys sort plainly and one index serves both directions;
BPM and year sort missing values last either way, hence a descending index beside the ascending one.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-12 12:00:00
"""
from collections.abc import Sequence

from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Expression / descending indexes: services/common/models.py lists them in HAND_MANAGED_INDEXES.
INDEXES = {
    "ix_tracks_list_artist": "(djp_fold(artist), djp_fold(title), id)",
    "ix_tracks_list_title": "(djp_fold(title), id)",
    "ix_tracks_list_bpm_desc": "(bpm DESC NULLS LAST, id)",
    "ix_tracks_list_year_desc": "(year DESC NULLS LAST, id)",
}


def upgrade() -> None:
    for name, columns in INDEXES.items():
        op.execute(f"CREATE INDEX {name} ON tracks {columns} WHERE deleted_at IS NULL")


def downgrade() -> None:
    for name in INDEXES:
        op.execute(f"DROP INDEX IF EXISTS {name}")
