"""Alembic: upgrade, downgrade to base and upgrade again on the real PostgreSQL."""

from __future__ import annotations

import psycopg
import pytest
from alembic import command
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from services.common.models import Base, include_object
from services.common.migrations import alembic_config


@pytest.fixture
def scratch_db_url(database_url: str):
    """A separate, empty database on the same server."""
    url = make_url(database_url)
    admin = url.set(database="postgres").render_as_string(hide_password=False).replace("+psycopg", "")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS djp_migration_test")
        conn.execute("CREATE DATABASE djp_migration_test")
    scratch = url.set(database="djp_migration_test").render_as_string(hide_password=False)
    yield scratch
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS djp_migration_test WITH (FORCE)")


def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def test_upgrade_downgrade_upgrade(scratch_db_url: str):
    cfg = alembic_config(scratch_db_url)
    command.upgrade(cfg, "head")
    expected = {t.name for t in Base.metadata.sorted_tables}
    assert _tables(scratch_db_url) == expected
    command.downgrade(cfg, "base")
    assert _tables(scratch_db_url) == set()
    command.upgrade(cfg, "head")
    assert _tables(scratch_db_url) == expected


def test_extensions_and_indexes_present(scratch_db_url: str):
    command.upgrade(alembic_config(scratch_db_url), "head")
    engine = create_engine(scratch_db_url)
    with engine.connect() as conn:
        exts = dict(conn.execute(text("SELECT extname, extversion FROM pg_extension")).all())
        indexes = dict(conn.execute(text("SELECT indexname, indexdef FROM pg_indexes")).all())
        # pgvector works end to end: cosine distance through the HNSW-indexed column type.
        dist = conn.execute(text("SELECT '[1,0,0]'::vector <=> '[0,1,0]'::vector")).scalar()
        trgm = conn.execute(text("SELECT similarity('Daft Punk', 'daft pnuk')")).scalar()
    engine.dispose()
    assert "vector" in exts and "pg_trgm" in exts
    for kind in ("text", "audio"):  # one partial HNSW index per kind (0010); the global one is gone (0016)
        index = indexes[f"ix_track_embeddings_hnsw_{kind}"]
        assert "hnsw" in index and "vector_cosine_ops" in index and f"'{kind}'" in index
    assert "ix_track_embeddings_hnsw" not in indexes
    assert "gin_trgm_ops" in indexes["ix_tracks_search_trgm"]
    assert dist == pytest.approx(1.0)
    assert trgm > 0.3


def test_models_match_migrations(scratch_db_url: str):
    """No model change without a revision: autogenerate finds nothing to do at head."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    command.upgrade(alembic_config(scratch_db_url), "head")
    engine = create_engine(scratch_db_url)
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"include_object": include_object})
        diff = compare_metadata(ctx, Base.metadata)
    engine.dispose()
    assert diff == []


def test_friend_library_names_lose_the_doubled_friend_label(scratch_db_url: str):
    cfg = alembic_config(scratch_db_url)
    command.upgrade(cfg, "0005")
    engine = create_engine(scratch_db_url)
    try:
        with engine.begin() as conn:
            uid = conn.execute(text("INSERT INTO users (username, password_hash, is_admin) "
                                    "VALUES ('dj', 'x', false) RETURNING id")).scalar()
            for name, username, friend in [("pal (friend)", "pal", True), ("Renamed by me", "bud", True),
                                           ("mine (friend)", "mine", False)]:
                conn.execute(text("INSERT INTO libraries (owner_id, name, discogs_username, is_friend) "
                                  "VALUES (:o, :n, :u, :f)"), {"o": uid, "n": name, "u": username, "f": friend})
        command.upgrade(cfg, "0006")
        with engine.connect() as conn:
            names = sorted(conn.execute(text("SELECT name FROM libraries")).scalars())
        assert names == ["Renamed by me", "mine (friend)", "pal's collection"]  # only generated friend names
        command.downgrade(cfg, "0005")
        with engine.connect() as conn:
            assert "pal (friend)" in set(conn.execute(text("SELECT name FROM libraries")).scalars())
    finally:
        engine.dispose()


def test_global_hnsw_index_dropped_and_restored(scratch_db_url: str):
    """0016 drops 0001's global HNSW index (the per-kind ones stay); its downgrade builds it again."""
    cfg = alembic_config(scratch_db_url)
    engine = create_engine(scratch_db_url)

    def hnsw_indexes() -> set[str]:
        with engine.connect() as conn:
            return set(conn.execute(text("SELECT indexname FROM pg_indexes WHERE tablename = 'track_embeddings' "
                                         "AND indexdef LIKE '%hnsw%'")).scalars())

    try:
        command.upgrade(cfg, "0015")
        assert hnsw_indexes() == {"ix_track_embeddings_hnsw", "ix_track_embeddings_hnsw_text",
                                  "ix_track_embeddings_hnsw_audio"}
        command.upgrade(cfg, "0016")
        assert hnsw_indexes() == {"ix_track_embeddings_hnsw_text", "ix_track_embeddings_hnsw_audio"}
        command.downgrade(cfg, "0015")
        assert "ix_track_embeddings_hnsw" in hnsw_indexes()
    finally:
        engine.dispose()


def test_analyzer_version_filled_from_the_stored_analyses(scratch_db_url: str):
    """0019 copies each stored analysis's analyzer_version into its own column (unanalysed tracks stay empty)."""
    cfg = alembic_config(scratch_db_url)
    command.upgrade(cfg, "0018")
    engine = create_engine(scratch_db_url)
    try:
        with engine.begin() as conn:
            uid = conn.execute(text("INSERT INTO users (username, password_hash) VALUES ('dj', 'x') "
                                    "RETURNING id")).scalar()
            lib = conn.execute(text("INSERT INTO libraries (owner_id, name) VALUES (:o, 'crate') RETURNING id"),
                               {"o": uid}).scalar()
            for track_id, analysis in [("1-A1", '{"analyzer_version": "essentia-api/1.9", "bpm": 120}'),
                                       ("1-A2", '{"bpm": 100}'), ("1-A3", None)]:
                conn.execute(text("INSERT INTO tracks (track_id, library_id, title, analysis) "
                                  "VALUES (:t, :l, 'x', CAST(:a AS jsonb))"), {"t": track_id, "l": lib, "a": analysis})
        command.upgrade(cfg, "0019")
        with engine.connect() as conn:
            versions = dict(conn.execute(text("SELECT track_id, analyzer_version FROM tracks")).all())
        assert versions == {"1-A1": "essentia-api/1.9", "1-A2": None, "1-A3": None}
        command.downgrade(cfg, "0018")
    finally:
        engine.dispose()
