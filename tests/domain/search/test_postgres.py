"""What the Postgres backend keeps in the database: vocabulary, outbox, version; and its facet cache."""

from __future__ import annotations

from sqlalchemy import select, text

from services.common.models import SearchOutbox, SearchWord, Track
from services.domain.search import postgres
from services.domain.search.models import SearchQuery
from services.domain.search.service import search_tracks, set_outbox
from tests.statements import captured_statements


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


def test_browse_sorts_match_the_folded_order_both_ways_and_pages_agree(db_session, owner_library):
    """The track list pages straight from the table (the 0015 indexes): folded artist/title order in both
    directions (djp_fold never gives NULL), missing BPM/year last either way, the id breaking ties."""
    from services.domain.search.text import fold

    s = db_session
    user, lib = owner_library
    rows = [("Ágape", "Zed", 128.0, 1999), ("apple", None, None, None), ("Banana", "Álvaro", 120.0, 2005),
            ("banana", "alvaro", 120.0, None), ("Cherry", "Émile", None, 2005), ("date", "bob", 99.5, 1980)]
    s.add_all([Track(track_id=f"{n}-A1", library_id=lib.id, title=t, artist=a, bpm=b, year=y)
               for n, (t, a, b, y) in enumerate(rows, 1)])
    s.commit()
    tracks = s.scalars(select(Track).where(Track.library_id == lib.id)).all()
    postgres.FACET_CACHE.entries.clear()

    def ids(sort: str, **page) -> list[int]:
        result = search_tracks(session=s, user=user, query=SearchQuery(sort=sort, **page),
                               backend=postgres.PostgresBackend())
        assert result.total == len(rows) and sum(f.count for f in result.facets.library) == len(rows)
        return [i.id for i in result.items]

    def expected(key, descending: bool, nullable: bool = False) -> list[int]:
        present = [t for t in tracks if not nullable or key(t) is not None]
        ordered = sorted(present, key=lambda t: t.id)  # ties: id ascending, whatever the direction
        ordered = sorted(ordered, key=key, reverse=descending)
        return [t.id for t in ordered] + sorted(t.id for t in tracks if nullable and key(t) is None)

    artist = lambda t: (fold(t.artist), fold(t.title))  # noqa: E731
    assert ids("artist") == expected(artist, False)
    assert ids("-artist") == expected(artist, True)
    assert ids("title") == expected(lambda t: fold(t.title), False)
    assert ids("-title") == expected(lambda t: fold(t.title), True)
    assert ids("-bpm") == expected(lambda t: t.bpm, True, nullable=True)
    assert ids("bpm") == expected(lambda t: t.bpm, False, nullable=True)
    assert ids("-year") == expected(lambda t: t.year, True, nullable=True)
    every = ids("artist")
    assert ids("artist", limit=2, offset=2) == every[2:4]
    assert ids("artist", offset=10) == []


def test_typed_prefix_ranks_title_starts_first_with_the_stored_fold(db_session, owner_library):
    """title_fold (migration 0017) is the database's fold of the title, kept on every write, and the
    short-input rank reads it: a title starting with the letters first, then an artist starting with them."""
    s = db_session
    user, lib = owner_library
    artist_start = Track(track_id="1-A1", library_id=lib.id, title="Zebra", artist="Émile Parisien", bpm=120.0)
    album_only = Track(track_id="2-A1", library_id=lib.id, title="Yonder", artist="Other", album="Emit")
    title_start = Track(track_id="3-A1", library_id=lib.id, title="Émilie", artist="Zed", camelot="8A", bpm=124.0)
    s.add_all([artist_start, album_only, title_start])
    s.commit()
    assert s.scalar(select(Track.title_fold).where(Track.id == title_start.id)) == "emilie"
    title_start.title = "Ëmil's Song"
    s.commit()
    assert s.scalar(select(Track.title_fold).where(Track.id == title_start.id)) == "emil's song"
    result = search_tracks(session=s, user=user, query=SearchQuery(q="emi"), backend=postgres.PostgresBackend())
    assert [i.id for i in result.items] == [title_start.id, artist_start.id, album_only.id]
    # Facets and the total come from one grouping-sets pass: tracks without a key or BPM are in no bucket.
    assert result.total == 3
    assert [(f.value, f.count) for f in result.facets.camelot] == [("8A", 1)]
    assert [(f.value, f.count) for f in result.facets.bpm] == [("120-125", 2)]
    assert [(f.value, f.count) for f in result.facets.library] == [(str(lib.id), 3)]
    empty = search_tracks(session=s, user=user, query=SearchQuery(q="qqq"), backend=postgres.PostgresBackend())
    assert empty.total == 0 and empty.items == [] and empty.facets.camelot == []


def test_the_querys_functions_are_evaluated_once_whatever_the_plan(db_session, owner_library):
    """Statements are prepared from their 5th use and may then run on a generic plan (made without the
    parameters' values), where an inline to_tsquery(:q) or djp_fold(:q) would be evaluated again for every
    matching row: every such call stands in a scalar subquery of its own (evaluated once)."""
    import re

    s = db_session
    user, lib = owner_library
    s.add_all([Track(track_id=f"{n}-A1", library_id=lib.id, title=f"Deep Motion {n}", artist="Kalima")
               for n in range(1, 30)])
    s.commit()
    with captured_statements(s.get_bind()) as statements:
        for q in ("deep motion", "kal", "deep mtoion"):  # text, typing a prefix, misspelt
            assert search_tracks(session=s, user=user, query=SearchQuery(q=q),
                                 backend=postgres.PostgresBackend()).total > 0
    calls = [(st, m.start()) for st, _parameters in statements if "tracks" in st
             for m in re.finditer(r"(to_tsquery|djp_fold)\(%\(", st)]
    assert len(calls) >= 6
    for statement, at in calls:
        assert statement[:at].rstrip().endswith("(SELECT"), statement[max(0, at - 80):at + 40]


def test_a_matching_text_query_is_one_statement_and_misspelt_input_still_corrected(db_session, owner_library):
    """The match is counted with the page and facets (whether the trigram similarity may join the rank),
    not by a statement of its own before it; nothing matching still leads to the vocabulary corrections."""
    from services.domain.search.service import scope_for

    s = db_session
    user, lib = owner_library
    s.add_all([Track(track_id="1-A1", library_id=lib.id, title="Around the World", artist="Daft Punk"),
               Track(track_id="2-A1", library_id=lib.id, title="Da Funk", artist="Daft Punk"),
               Track(track_id="3-A1", library_id=lib.id, title="Windowlicker", artist="Aphex Twin")])
    s.commit()
    scope = scope_for(session=s, user=user, query=SearchQuery())
    with captured_statements(s.get_bind()) as statements:
        hits = postgres.PostgresBackend().search(session=s, query=SearchQuery(q="daft punk"), scope=scope)
        assert hits.total == 2 and len(statements) == 1
        statements.clear()
        hits = postgres.PostgresBackend().search(session=s, query=SearchQuery(q="daft pnuk"), scope=scope)
        assert hits.total == 2 and len(statements) > 1  # nothing as typed: corrected, then matched
