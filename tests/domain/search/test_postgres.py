"""What the Postgres backend keeps in the database: vocabulary, outbox, version; and its facet cache."""

from __future__ import annotations

from sqlalchemy import select, text

from services.common.models import SearchOutbox, SearchWord, Track
from services.domain.search import postgres
from services.domain.search.models import SearchQuery
from services.domain.search.service import search_tracks, set_outbox


def test_every_written_word_joins_the_vocabulary_and_corrections_find_it(db_session, owner_library):
    s = db_session
    _user, lib = owner_library
    s.add(Track(track_id="1-A1", library_id=lib.id, title="Hoppípolla", artist="Sigur Rós", styles=["Post Rock"]))
    s.commit()
    words = set(s.scalars(select(SearchWord.word)))
    assert {"hoppipolla", "sigur", "ros", "post", "rock"} <= words  # folded, as the tsvector has them
    tsquery = postgres._corrected_tsquery(s, ["hopipola", "sigru"])
    assert "hoppipolla" in tsquery and "sigur" in tsquery
    assert tsquery.startswith("(hopipola:* |")  # the word as typed stays a prefix alternative


def test_outbox_records_changes_only_while_enabled(db_session, owner_library):
    s = db_session
    _user, lib = owner_library
    track = Track(track_id="1-A1", library_id=lib.id, title="Da Funk", artist="Daft Punk")
    s.add(track)
    s.commit()
    assert s.scalars(select(SearchOutbox.track_pk)).all() == []  # MeiliSearch off: nothing queued
    set_outbox(session=s, enabled=True)
    s.commit()
    try:
        other = Track(track_id="2-A1", library_id=lib.id, title="Revolution 909", artist="Daft Punk")
        s.add(other)
        s.commit()
        track.notes = "classic"
        s.commit()
        assert set(s.scalars(select(SearchOutbox.track_pk))) == {track.id, other.id}
        s.execute(text("DELETE FROM search_outbox"))
        s.delete(other)  # deletions are queued too, so the index drops the document
        s.commit()
        assert s.scalars(select(SearchOutbox.track_pk)).all() == [other.id]
    finally:
        set_outbox(session=s, enabled=False)
        s.commit()


def test_facet_cache_follows_every_write(db_session, owner_library, monkeypatch):
    monkeypatch.setattr(postgres, "CACHE_MIN_TOTAL", 1)
    postgres.FACET_CACHE.entries.clear()
    s = db_session
    user, lib = owner_library
    s.add(Track(track_id="1-A1", library_id=lib.id, title="One", styles=["House"]))
    s.commit()
    first = search_tracks(session=s, user=user, query=SearchQuery(), backend=postgres.PostgresBackend())
    assert first.total == 1 and len(postgres.FACET_CACHE.entries) == 1
    again = search_tracks(session=s, user=user, query=SearchQuery(), backend=postgres.PostgresBackend())
    assert again.facets == first.facets  # served from the cache
    s.add(Track(track_id="2-A1", library_id=lib.id, title="Two", styles=["House"]))
    s.commit()
    after = search_tracks(session=s, user=user, query=SearchQuery(), backend=postgres.PostgresBackend())
    assert after.total == 2 and after.facets.styles[0].count == 2  # the write moved the version on


def test_while_typing_title_starts_rank_first(db_session, owner_library):
    s = db_session
    user, lib = owner_library
    s.add_all([Track(track_id="1-A1", library_id=lib.id, title="Winter Sun", artist="Kalima"),
               Track(track_id="2-A1", library_id=lib.id, title="Kalimba", artist="Mr. Scruff")])
    s.commit()
    result = search_tracks(session=s, user=user, query=SearchQuery(q="kal"), backend=postgres.PostgresBackend())
    assert [i.title for i in result.items] == ["Kalimba", "Winter Sun"]
