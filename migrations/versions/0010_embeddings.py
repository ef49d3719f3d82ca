"""track embeddings: a (kind, model, track_pk) index and one HNSW index per kind

The global HNSW index mixes text and audio vectors: a kNN query filtered on one kind would lose half its
candidates to the filter. A partial HNSW index per kind (`WHERE kind = 'text'` / `'audio'`) is searched only
for its kind; the btree on (kind, model, track_pk) serves counts, exact searches and joins per model.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 18:00:00
"""
from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KINDS = ("text", "audio")


def upgrade() -> None:
    op.create_index("ix_track_embeddings_kind_model_track", "track_embeddings", ["kind", "model", "track_pk"])
    for kind in KINDS:  # hand-managed (services/common/models.py HAND_MANAGED_INDEXES): partial indexes
        op.execute(f"CREATE INDEX ix_track_embeddings_hnsw_{kind} ON track_embeddings "
                   f"USING hnsw (embedding vector_cosine_ops) WHERE kind = '{kind}'")


def downgrade() -> None:
    for kind in KINDS:
        op.execute(f"DROP INDEX IF EXISTS ix_track_embeddings_hnsw_{kind}")
    op.drop_index("ix_track_embeddings_kind_model_track", table_name="track_embeddings")
