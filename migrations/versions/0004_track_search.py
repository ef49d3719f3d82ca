"""track search: accent-folded weighted tsvector, a trigram column for typos, array indexes for filters,
and an outbox of changed tracks for the optional MeiliSearch index

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 16:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Weights: title and artist (A) above album (B) above genres, styles, tags and notes (C).
SEARCH_VECTOR = (
    "setweight(to_tsvector('simple', djp_fold(title) || ' ' || djp_fold(artist)), 'A') || "
    "setweight(to_tsvector('simple', djp_fold(album)), 'B') || "
    "setweight(to_tsvector('simple', djp_fold(immutable_array_to_string(genres || styles || tags, ' ')) "
    "|| ' ' || djp_fold(notes)), 'C')"
)
SEARCH_TEXT = "djp_fold(artist) || ' ' || djp_fold(title)"
OLD_SEARCH_VECTOR = (
    "to_tsvector('simple', coalesce(title, '') || ' ' || coalesce(artist, '') || ' ' || coalesce(album, '') "
    "|| ' ' || coalesce(immutable_array_to_string(tags, ' '), ''))"
)

OUTBOX_FUNCTION = """
CREATE FUNCTION djp_search_outbox() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM nextval('tracks_version');  -- any change to tracks: cached facet counts are stale
    IF TG_OP = 'TRUNCATE' THEN
        RETURN NULL;
    END IF;
    IF TG_OP <> 'DELETE' THEN  -- the vocabulary misspelt words are corrected to (sorted: no deadlocks)
        INSERT INTO search_words (word)
        SELECT DISTINCT w FROM new_rows, unnest(tsvector_to_array(new_rows.search_vector)) AS w ORDER BY w
        ON CONFLICT (word) DO NOTHING;
    END IF;
    IF EXISTS (SELECT 1 FROM search_state WHERE outbox_enabled) THEN
        IF TG_OP = 'DELETE' THEN
            INSERT INTO search_outbox (track_pk) SELECT id FROM old_rows
            ON CONFLICT (track_pk) DO UPDATE SET queued_at = now();
        ELSE
            INSERT INTO search_outbox (track_pk) SELECT id FROM new_rows
            ON CONFLICT (track_pk) DO UPDATE SET queued_at = now();
        END IF;
    END IF;
    RETURN NULL;
END $$
"""


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS unaccent")
    op.execute("CREATE EXTENSION IF NOT EXISTS fuzzystrmatch")
    # unaccent() is only STABLE (its dictionary could change); with the dictionary named it is safe to
    # declare the fold IMMUTABLE, which generated columns and indexes need.
    op.execute(
        "CREATE FUNCTION djp_fold(text) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS "
        "$$ SELECT lower(public.unaccent('public.unaccent'::regdictionary, coalesce($1, ''))) $$"
    )
    op.drop_index("ix_tracks_search_vector", table_name="tracks", postgresql_using="gin")
    op.execute("DROP INDEX ix_tracks_search_trgm")
    op.drop_column("tracks", "search_vector")
    op.add_column("tracks", sa.Column("search_vector", postgresql.TSVECTOR(),
                                      sa.Computed(SEARCH_VECTOR, persisted=True), nullable=True))
    op.add_column("tracks", sa.Column("search_text", sa.Text(), sa.Computed(SEARCH_TEXT, persisted=True),
                                      nullable=True))
    op.create_index("ix_tracks_search_vector", "tracks", ["search_vector"], postgresql_using="gin")
    op.execute("CREATE INDEX ix_tracks_search_trgm ON tracks USING gin (search_text gin_trgm_ops)")
    op.create_index("ix_tracks_genres", "tracks", ["genres"], postgresql_using="gin")
    op.create_index("ix_tracks_styles", "tracks", ["styles"], postgresql_using="gin")
    op.create_index("ix_tracks_energy", "tracks", ["energy"])
    op.create_index("ix_tracks_year", "tracks", ["year"])
    op.create_index("ix_tracks_created_at", "tracks", ["created_at", "id"])
    # Every write to tracks (ORM, COPY upserts, cascades) lands in the outbox while the MeiliSearch
    # index is in use; a worker job drains it into the index.
    op.create_table(
        "search_outbox",
        sa.Column("track_pk", sa.BigInteger(), primary_key=True),
        sa.Column("queued_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
    )
    op.create_table(
        "search_state",
        sa.Column("id", sa.SmallInteger(), primary_key=True),
        sa.Column("outbox_enabled", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("last_rebuild_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("id = 1", name="ck_search_state_single_row"),
    )
    op.execute("INSERT INTO search_state (id) VALUES (1)")
    op.execute("CREATE SEQUENCE tracks_version")
    # Every word of every track (words are never removed: a stale one only costs a useless correction).
    op.create_table("search_words", sa.Column("word", sa.Text(), primary_key=True))
    op.execute("CREATE INDEX ix_search_words_shape ON search_words (left(word, 1), length(word))")
    op.execute("INSERT INTO search_words SELECT DISTINCT unnest(tsvector_to_array(search_vector)) FROM tracks "
               "ON CONFLICT DO NOTHING")
    op.execute(OUTBOX_FUNCTION)
    op.execute("CREATE TRIGGER tracks_search_outbox_truncate AFTER TRUNCATE ON tracks "
               "FOR EACH STATEMENT EXECUTE FUNCTION djp_search_outbox()")
    for event, table in (("INSERT", "NEW TABLE AS new_rows"), ("UPDATE", "NEW TABLE AS new_rows"),
                         ("DELETE", "OLD TABLE AS old_rows")):
        op.execute(f"CREATE TRIGGER tracks_search_outbox_{event.lower()} AFTER {event} ON tracks "
                   f"REFERENCING {table} FOR EACH STATEMENT EXECUTE FUNCTION djp_search_outbox()")


def downgrade() -> None:
    for event in ("insert", "update", "delete", "truncate"):
        op.execute(f"DROP TRIGGER tracks_search_outbox_{event} ON tracks")
    op.execute("DROP FUNCTION djp_search_outbox()")
    op.execute("DROP SEQUENCE tracks_version")
    op.drop_table("search_words")
    op.drop_table("search_state")
    op.drop_table("search_outbox")
    for name in ("ix_tracks_created_at", "ix_tracks_year", "ix_tracks_energy", "ix_tracks_styles", "ix_tracks_genres"):
        op.drop_index(name, table_name="tracks")
    op.execute("DROP INDEX ix_tracks_search_trgm")
    op.drop_index("ix_tracks_search_vector", table_name="tracks", postgresql_using="gin")
    op.drop_column("tracks", "search_text")
    op.drop_column("tracks", "search_vector")
    op.add_column("tracks", sa.Column("search_vector", postgresql.TSVECTOR(),
                                      sa.Computed(OLD_SEARCH_VECTOR, persisted=True), nullable=True))
    op.create_index("ix_tracks_search_vector", "tracks", ["search_vector"], postgresql_using="gin")
    op.execute(
        "CREATE INDEX ix_tracks_search_trgm ON tracks "
        "USING gin ((lower(coalesce(artist, '') || ' ' || coalesce(title, ''))) gin_trgm_ops)"
    )
    op.execute("DROP FUNCTION djp_fold(text)")
