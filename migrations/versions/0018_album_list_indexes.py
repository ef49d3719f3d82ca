"""album list indexes: every sort of the album list pages through an index

`GET /api/albums` (services/domain/collection/albums.py) sorts live albums by date added, artist, title, year or
rating, either way, missing values last, then id. Without an index in that order each page read and sorted every
album of the readable libraries (4.7 ms of PostgreSQL for 10,000 albums, the whole cost of the route's page); with
one it reads the page's offset plus 50 rows (0.5 ms at offset 900). The total counts live albums through
ix_albums_live_library (an index-only scan, not the table).

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06 03:00:00
"""
from collections.abc import Sequence

from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Partial / descending indexes: services/common/models.py lists them in HAND_MANAGED_INDEXES.
SORT_COLUMNS = ("date_added", "artist", "title", "year", "rating")
INDEXES = {
    **{f"ix_albums_list_{column}_{direction.lower()}": f"({column} {direction} NULLS LAST, id)"
       for column in SORT_COLUMNS for direction in ("ASC", "DESC")},
    "ix_albums_live_library": "(library_id)",
}


def upgrade() -> None:
    for name, columns in INDEXES.items():
        op.execute(f"CREATE INDEX {name} ON albums {columns} WHERE deleted_at IS NULL")


def downgrade() -> None:
    for name in INDEXES:
        op.execute(f"DROP INDEX IF EXISTS {name}")
