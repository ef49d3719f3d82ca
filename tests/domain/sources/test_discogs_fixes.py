"""Issue 14's Discogs fixes: compilation sub-tracks inherit the index track's artists, and a release whose
body comes back malformed is fetched again within the same sync run before it counts as failed."""

from __future__ import annotations

from sqlalchemy import select

from services.common.db import session_scope
from services.common.models import DiscogsRelease, Track
from services.domain.collection import sync as sync_module
from services.domain.collection.sync import run_sync
from services.domain.sources.discogs.parse import parse_release
from tests.fakes.discogs import make_release


def _compilation(release_id: int) -> dict:
    """A DJ-mix compilation as Discogs returns it: album artist "Various", artists on the index tracks."""
    return make_release(release_id, kind="various") | {
        "title": "Mixed Up Vol. 1",
        "tracklist": [
            {"position": "", "type_": "index", "title": "Jaguar", "duration": "",
             "artists": [{"name": "DJ Rolando (2)", "anv": "", "join": "&"}, {"name": "Mad Mike*", "join": ""}],
             "sub_tracks": [{"position": "A1a", "type_": "track", "title": "Original Mix", "duration": "6:10"},
                            {"position": "A1b", "type_": "track", "title": "Remix", "duration": "5:00",
                             "artists": [{"name": "Jeff Mills", "anv": "", "join": ""}]},
                            {"position": "A1c", "type_": "track", "title": "Dub", "duration": "",
                             "artists": []}]},
            {"position": "B1", "type_": "track", "title": "Medley", "duration": "9:00",
             "artists": [{"name": "Medley Band", "join": ""}],
             "sub_tracks": [{"position": "B1.a", "type_": "track", "title": "Intro", "duration": ""},
                            {"position": "B1.b", "type_": "track", "title": "Groove", "duration": "5:00",
                             "artists": [{"name": "Guest Player (7)", "join": ""}]}]},
            {"position": "", "type_": "index", "title": "Untitled Suite", "duration": "",
             "sub_tracks": [{"position": "C1", "type_": "track", "title": "I", "duration": "2:00"}]},
            {"position": "C2", "type_": "track", "title": "Plain", "duration": "4:00",
             "artists": [{"name": "Solo Artist", "join": ""}]},
        ],
    }


def test_sub_tracks_inherit_the_index_tracks_artists_not_various():
    album, tracks = parse_release(_compilation(900))
    by_pos = {t.position: t for t in tracks}
    assert album.artist == "Various"
    assert by_pos["A1a"].artist == "DJ Rolando & Mad Mike"  # inherited from the index track, suffixes cleaned
    assert by_pos["A1a"].title == "Jaguar - Original Mix"
    assert by_pos["A1b"].artist == "Jeff Mills"  # the sub-track's own artists win
    assert by_pos["A1c"].artist == "DJ Rolando & Mad Mike"  # an empty list names nobody: inherit
    assert by_pos["B1.a"].artist == "Medley Band"  # a track's sub-tracks inherit the same way
    assert by_pos["B1.b"].artist == "Guest Player"
    assert by_pos["C1"].artist == "Various"  # nobody named on the sub-track or its index: the album artist
    assert by_pos["C2"].artist == "Solo Artist"


def test_sub_track_artists_whose_names_are_all_blank_inherit():
    raw = _compilation(901)
    raw["tracklist"][0]["sub_tracks"][0]["artists"] = [{"name": "", "join": ""}, {"name": None}]
    _, tracks = parse_release(raw)
    assert tracks[0].artist == "DJ Rolando & Mad Mike"


def test_sync_stores_inherited_sub_track_artists(library, make_source, fake_discogs):
    fake_discogs.add_release(_compilation(902))
    fake_discogs.set_collection("digger", [902, 3])
    result = run_sync(library_id=library.id, source=make_source())
    assert result.status == "finished" and result.releases_failed == 0
    with session_scope() as s:
        artists = dict(s.execute(select(Track.position, Track.artist).where(Track.release_id == 902)).all())
    assert artists["A1a"] == "DJ Rolando & Mad Mike" and artists["A1c"] == "DJ Rolando & Mad Mike"
    assert artists["A1b"] == "Jeff Mills" and artists["B1.a"] == "Medley Band"
    assert "Various" not in {artists["A1a"], artists["A1b"], artists["B1.a"], artists["B1.b"]}


def test_release_malformed_once_is_retried_in_the_same_run(library, make_source, fake_discogs):
    fake_discogs.set_collection("digger", list(range(12, 0, -1)))
    fake_discogs.fault("/releases/7", "malformed")
    fake_discogs.fault("/releases/9", "malformed", "malformed")  # twice: the last allowed retry succeeds
    source = make_source()
    result = run_sync(library_id=library.id, source=source, batch_size=5)
    assert result.status == "finished"
    assert result.releases_failed == 0 and result.failures == []
    assert fake_discogs.release_requests(7) == 2 and fake_discogs.release_requests(9) == 3
    assert fake_discogs.release_requests(8) == 1
    with session_scope() as s:
        assert s.scalar(select(Track.title).where(Track.track_id == "7-A1")) == "Track 1 of 7"
        assert s.scalar(select(Track.title).where(Track.track_id == "9-A1")) == "Track 1 of 9"
        assert s.get(DiscogsRelease, 7).error is None and s.get(DiscogsRelease, 7).data["id"] == 7
    # the backoff between the fetches of a garbled release is short and bounded (measured, not waited)
    b = sync_module.MALFORMED_BACKOFF_SECONDS
    assert sorted(source.clock.sleeps) == sorted([b, b, 2 * b])


def test_persistently_malformed_release_fails_after_bounded_retries(library, make_source, fake_discogs):
    fake_discogs.set_collection("digger", [5, 4, 3])
    fake_discogs.fault("/releases/4", *["malformed"] * 10)
    source = make_source()
    result = run_sync(library_id=library.id, source=source)
    assert result.status == "finished" and result.releases_failed == 1
    assert result.failures[0].release_id == 4 and "malformed JSON" in result.failures[0].reason
    assert fake_discogs.release_requests(4) == 1 + sync_module.MALFORMED_RETRIES
    with session_scope() as s:
        raw = s.get(DiscogsRelease, 4)
        assert raw.data is None and "malformed JSON" in raw.error


def test_json_that_is_not_this_release_is_refetched(library, make_source, fake_discogs):
    """Well-formed JSON for the wrong release (a proxy mix-up) is treated like a garbled body."""
    fake_discogs.set_collection("digger", [6])
    calls = {"n": 0}
    original = type(make_source()).fetch_release

    def flaky(self, release_id):
        calls["n"] += 1
        data = original(self, release_id)
        return {**data, "id": 999} if calls["n"] == 1 else data

    source = make_source()
    source.fetch_release = flaky.__get__(source)
    result = run_sync(library_id=library.id, source=source)
    assert result.releases_failed == 0 and calls["n"] == 2
    with session_scope() as s:
        assert s.scalar(select(Track.artist).where(Track.track_id == "6-A1")) == "Artist 6"


def test_not_found_is_not_refetched(library, make_source, fake_discogs):
    fake_discogs.set_collection("digger", [2, 1])
    fake_discogs.fault("/releases/2", "404")
    result = run_sync(library_id=library.id, source=make_source())
    assert result.releases_failed == 1 and fake_discogs.release_requests(2) == 1
