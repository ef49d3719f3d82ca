"""friend library names: "<name> (friend)" becomes "<name>'s collection" (pages add "(friend, read-only)")

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 21:45:00
"""
from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Only names the app generated (and the user never changed); a clash with an existing name is left alone.
    op.execute(
        """
        UPDATE libraries AS l
           SET name = l.discogs_username || '''s collection'
         WHERE l.is_friend
           AND l.name = l.discogs_username || ' (friend)'
           AND NOT EXISTS (SELECT 1 FROM libraries o
                            WHERE o.owner_id = l.owner_id AND o.name = l.discogs_username || '''s collection')
        """
    )


def downgrade() -> None:
    op.execute(
        """
        UPDATE libraries SET name = discogs_username || ' (friend)'
         WHERE is_friend AND name = discogs_username || '''s collection'
        """
    )
