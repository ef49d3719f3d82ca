"""track embeddings: drop the global HNSW index (the partial ones per kind of 0010 serve every query)

Every vector query filters on one kind (`kind = 'text'` or `'audio'`), so the planner picks the partial
index of that kind (0010); the global one from 0001 is never scanned (pg_stat_user_indexes.idx_scan stays 0
at 100,000 tracks), yet it is as large as the text one (195 MB there) and every write of a vector updates it.
Downgrade builds it again (as 0001 did).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-05 12:00:00
"""
from collections.abc import Sequence

from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("DROP INDEX IF EXISTS ix_track_embeddings_hnsw")


def downgrade() -> None:
    op.create_index("ix_track_embeddings_hnsw", "track_embeddings", ["embedding"], unique=False,
                    postgresql_using="hnsw", postgresql_ops={"embedding": "vector_cosine_ops"})
