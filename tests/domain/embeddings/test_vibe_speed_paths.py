"""nearest_ids' memory of large matches (vibe.LARGE_MATCHES) and hybrid's text ranking in one statement
(postgres.ranked_ids): the same answers as the plain path."""

from __future__ import annotations

import pytest
from sqlalchemy import event, text

from services.common.models import Track
from services.domain.embeddings import service as embeddings
from services.domain.embeddings import vibe
from services.domain.lru import LruCache
from services.domain.search.models import SearchQuery
from tests.domain.embeddings.vector_fixtures import embed, track, vec
from tests.fakes.clock import FakeClock

TITLES = ("Dark Roller", "Dark Slow", "Sunny Rolling", "Greyish Dark", "Rolling Dark Hills", "Deep Roll",
          "Dark Star", "Bright Day")


def test_large_matches_skip_the_count_until_a_track_changes(db_session, owner_library, monkeypatch):
    """Past EXACT_MAX a match is remembered per (filters, tracks' version): the next ranking goes straight to
    HNSW with the same answer; a write to tracks (a new version) counts again."""
    _user, lib = owner_library
    model = embeddings.text_model()
    rows = []
    for i in range(12):
        t = track(db_session, lib, f"T{i}", bpm=120.0)
        embed(db_session, t, text=vec((0, 1.0), (1, i / 10)), text_model=model)
        rows.append(t)
    clock = FakeClock()
    monkeypatch.setattr(vibe, "LARGE_MATCHES", LruCache(size=256, ttl=30.0, clock=clock))
    monkeypatch.setattr(vibe, "EXACT_MAX", 3)
    where, key = [Track.library_id == lib.id], ("library", lib.id)
    expected = [rows[i].id for i in range(5)]
    statements: list[str] = []

    def count_statements(conn, cursor, statement, *args):
        statements.append(statement)

    engine = db_session.get_bind()
    event.listen(engine, "before_cursor_execute", count_statements)
    try:
        def ranking() -> list[int]:
            statements.clear()
            return vibe.nearest_ids(db_session, where=where, model=model, vector=vec((0, 1.0)), limit=5, key=key)

        assert ranking() == expected
        assert any("matching" in s for s in statements)  # counted: more than EXACT_MAX
        assert vibe.LARGE_MATCHES.get(key) is not None
        assert ranking() == expected
        assert not any("matching" in s for s in statements)  # known large: not counted again
        db_session.execute(text("SELECT nextval('tracks_version')"))  # what any write to tracks does
        assert ranking() == expected
        assert any("matching" in s for s in statements)
        clock.now += 31  # past the TTL
        assert vibe.LARGE_MATCHES.get(key) is None
        assert ranking() == expected
        assert any("matching" in s for s in statements)
    finally:
        event.remove(engine, "before_cursor_execute", count_statements)
    # A selective filter (exact ranking) is never remembered.
    small = ("bpm", 1)
    assert vibe.nearest_ids(db_session, where=[*where, Track.title == "T7"], model=model, vector=vec((0, 1.0)),
                            limit=5, key=small) == [rows[7].id]
    assert vibe.LARGE_MATCHES.get(small) is None


@pytest.mark.parametrize("similarity_max", [2000, 3])  # with and without the trigram similarity in the rank
def test_text_ranking_in_one_statement_is_the_text_searchs_order(db_session, owner_library, monkeypatch,
                                                                  similarity_max):
    """ranked_ids counts the match alongside its ranking (not before it): still PostgresBackend.search's order,
    corrections and trigram fallback included."""
    from services.domain.search import postgres
    from services.domain.search.postgres import PostgresBackend, ranked_ids
    from services.domain.search.service import scope_for
    user, lib = owner_library
    for i, title in enumerate(TITLES * 2):
        track(db_session, lib, f"{title} {i}" if i >= len(TITLES) else title, artist=("Rolling Crew", "DJ Dark")[i % 2])
    monkeypatch.setattr(postgres, "SIMILARITY_RANK_MAX", similarity_max)
    scope = scope_for(session=db_session, user=user, query=SearchQuery())
    for q in ("dark", "dark roller", "rolling dark", "dj dark star", "drak roler", "nothing", "da", ""):
        for limit in (3, 50):
            query = SearchQuery(q=q, limit=limit)
            assert ranked_ids(session=db_session, query=query, scope=scope, limit=limit) == \
                PostgresBackend().search(session=db_session, query=query, scope=scope).ids, (q, limit)
