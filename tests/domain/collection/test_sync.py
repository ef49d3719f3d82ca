"""The sync engine in-process against the fake server: full, incremental, removals, edits kept, failures."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, text

from services.common.db import session_scope
from services.common.models import Album, DiscogsRelease, SyncRun, Track
from services.domain.collection.sync import SyncError, reparse_library, run_sync
from services.domain.sources.base import SourceAuthError


def _counts(library_id: int) -> dict[str, int]:
    with session_scope() as s:
        return {
            "albums": s.scalar(select(func.count()).select_from(Album).where(Album.library_id == library_id,
                                                                              Album.deleted_at.is_(None))),
            "tracks": s.scalar(select(func.count()).select_from(Track).where(Track.library_id == library_id,
                                                                              Track.deleted_at.is_(None))),
            "all_tracks": s.scalar(select(func.count()).select_from(Track).where(Track.library_id == library_id)),
        }


def test_full_sync_creates_albums_tracks_and_keeps_raw_json(library, make_source, fake_discogs):
    kinds = {101: "various", 102: "headings", 103: "subtracks", 104: "split"}
    fake_discogs.set_collection("digger", list(range(230, 100, -1)), kinds=kinds, tracks=4)
    seen = []
    result = run_sync(library_id=library.id, source=make_source(), progress=seen.append, batch_size=40)
    assert result.status == "finished" and result.percent == 100
    assert result.pages_total == 2 and result.releases_total == 130 and result.releases_done == 130
    assert result.releases_fetched == 130 and result.releases_failed == 0
    assert [p.stage for p in seen][:2] == ["collection", "collection"]
    assert any(p.stage == "releases" and 0 < p.percent < 100 for p in seen)
    assert fake_discogs.release_requests() == 130
    counts = _counts(library.id)
    assert counts["albums"] == 130
    assert counts["tracks"] == 126 * 4 + 4 + 4 + (4 + 4) + 4  # subtracks release: 4 + 4 flattened
    with session_scope() as s:
        assert s.scalar(select(func.count()).select_from(DiscogsRelease).where(DiscogsRelease.data.is_not(None))) == 130
        va = s.scalar(select(Track).where(Track.track_id == "101-A1", Track.library_id == library.id))
        assert va.artist == "Comp Artist 0 & Guest 0" and va.album == "Release 101"
        album = s.scalar(select(Album).where(Album.release_id == 110))
        assert album.artist == "Artist 13" and album.country == "UK"  # 110 % 97
        assert album.discogs_url == "https://www.discogs.com/release/110"
        assert album.rating == 110 % 6 if 110 % 6 else album.rating is None
        dupes = s.execute(text("SELECT track_id FROM tracks GROUP BY track_id, library_id HAVING count(*) > 1")).all()
        assert dupes == []


def test_incremental_sync_fetches_only_new_and_soft_deletes_removed(library, make_source, fake_discogs):
    fake_discogs.set_collection("digger", list(range(20, 0, -1)))
    run_sync(library_id=library.id, source=make_source())
    assert fake_discogs.release_requests() == 20
    # Two added on Discogs, two removed.
    fake_discogs.set_collection("digger", [22, 21] + list(range(20, 2, -1)))
    second = run_sync(library_id=library.id, source=make_source())
    assert fake_discogs.release_requests() == 22  # only the two new releases were fetched
    assert second.releases_fetched == 2 and second.releases_removed == 2
    counts = _counts(library.id)
    assert counts["albums"] == 20 and counts["tracks"] == 20 * 6
    with session_scope() as s:
        gone = s.scalar(select(Album).where(Album.library_id == library.id, Album.release_id == 1))
        assert gone.deleted_at is not None
        assert all(t.deleted_at == gone.deleted_at for t in gone.tracks)
    # Re-added: album and its tracks come back, still without refetching.
    fake_discogs.set_collection("digger", [1, 22, 21] + list(range(20, 2, -1)))
    run_sync(library_id=library.id, source=make_source())
    assert fake_discogs.release_requests() == 22
    assert _counts(library.id)["albums"] == 21 and _counts(library.id)["tracks"] == 21 * 6


def test_sync_never_overwrites_user_edits(library, make_source, fake_discogs):
    fake_discogs.set_collection("digger", [5, 4])
    run_sync(library_id=library.id, source=make_source())
    with session_scope() as s:
        track = s.scalar(select(Track).where(Track.track_id == "5-A1"))
        track.notes, track.tags, track.star_rating = "peak time", ["banger", "warmup"], 5
        track.apple_music_url, track.youtube_url = "https://music.apple.com/x", "https://youtu.be/x"
        track.spotify_url, track.soundcloud_url = "https://open.spotify.com/x", "https://soundcloud.com/x"
        track.analysis, track.bpm, track.camelot = {"bpm": 123.45}, 123.45, "8A"
        track.local_audio_path = "/audio/5-A1.flac"
        discogs_styles = list(track.styles)
        track.genres, track.styles = [*track.genres, "Accepted Genre"], ["Accepted Style", *track.styles]
        album = s.scalar(select(Album).where(Album.release_id == 5))
        album.rating, album.notes = 2, "my own note"
    rel = fake_discogs.releases[5]
    rel["styles"] = [*rel.get("styles", []), "New On Discogs"]
    # Discogs-side change: new titles, and a track gone from the tracklist; a refresh sync refetches.
    rel["tracklist"][0]["title"] = "Renamed On Discogs"
    rel["title"] = "Renamed Release"
    del rel["tracklist"][-1]
    fake_discogs.add_release(rel)
    run_sync(library_id=library.id, source=make_source())
    assert fake_discogs.release_requests(5) == 1  # incremental: not refetched
    refreshed = run_sync(library_id=library.id, source=make_source(), mode="refresh")
    assert refreshed.releases_fetched == 2 and fake_discogs.release_requests(5) == 2
    assert reparse_library(library_id=library.id) == 11  # offline, from the stored raw JSON
    assert _counts(library.id)["tracks"] == 11
    with session_scope() as s:
        track = s.scalar(select(Track).where(Track.track_id == "5-A1"))
        assert track.title == "Renamed On Discogs" and track.album == "Renamed Release"
        assert (track.notes, track.tags, track.star_rating) == ("peak time", ["banger", "warmup"], 5)
        assert track.apple_music_url == "https://music.apple.com/x" and track.youtube_url == "https://youtu.be/x"
        assert track.spotify_url and track.soundcloud_url
        assert track.analysis == {"bpm": 123.45} and track.bpm == 123.45 and track.camelot == "8A"
        assert track.local_audio_path == "/audio/5-A1.flac"
        # Genres and styles a user added (an accepted suggestion) stay, after Discogs' current list.
        assert track.genres[-1] == "Accepted Genre" and track.genres.count("Accepted Genre") == 1
        assert track.styles == [*discogs_styles, "New On Discogs", "Accepted Style"]
        album = s.scalar(select(Album).where(Album.release_id == 5))
        assert (album.rating, album.notes) == (2, "my own note")


def test_a_style_gained_on_discogs_sets_the_tempo_octave_of_analysed_tracks(library, make_source, fake_discogs,
                                                                            monkeypatch):
    from services.domain.analysis.results import store_analysis
    from tests.domain.analysis.test_results import _result

    monkeypatch.setattr("services.domain.embeddings.jobs.embed_soon", lambda **_: False)
    fake_discogs.set_collection("digger", [7])
    rel = fake_discogs.releases[7]
    rel["styles"] = ["Experimental"]
    fake_discogs.add_release(rel)
    run_sync(library_id=library.id, source=make_source())
    with session_scope() as s:
        track = s.scalar(select(Track).where(Track.track_id == "7-A1", Track.library_id == library.id))
        store_analysis(session=s, track=track, result=_result(bpm=70.0, bpm_candidates=[
            {"bpm": 70.0, "confidence": 0.6, "relation": "chosen"},
            {"bpm": 140.0, "confidence": 0.4, "relation": "double"}]))
        assert (track.bpm, track.bpm_source) == (70.0, None)
    rel["styles"] = ["Dubstep", "Experimental"]
    fake_discogs.add_release(rel)
    run_sync(library_id=library.id, source=make_source(), mode="refresh")
    with session_scope() as s:
        track = s.scalar(select(Track).where(Track.track_id == "7-A1", Track.library_id == library.id))
        assert track.styles[0] == "Dubstep" and (track.bpm, track.bpm_source) == (140.0, "style")


def test_user_deleted_track_stays_deleted_across_syncs(library, make_source, fake_discogs):
    fake_discogs.set_collection("digger", [3])
    run_sync(library_id=library.id, source=make_source())
    with session_scope() as s:
        s.execute(text("UPDATE tracks SET deleted_at = now() WHERE track_id = '3-A1'"))
    run_sync(library_id=library.id, source=make_source())
    reparse_library(library_id=library.id)
    with session_scope() as s:
        assert s.scalar(select(Track.deleted_at).where(Track.track_id == "3-A1")) is not None


def test_faults_fail_only_the_bad_release_and_the_sync_goes_on(library, make_source, fake_discogs):
    fake_discogs.set_collection("digger", list(range(30, 0, -1)))
    fake_discogs.fault("/releases/7", "malformed", "malformed", "malformed")  # garbled on every retry of the run
    fake_discogs.fault("/releases/8", "500")
    fake_discogs.fault("/releases/9", "429:2", "429:2", "429:1")
    fake_discogs.fault("/releases/10", "hang:1")
    fake_discogs.fault("/users/digger/collection/folders/0/releases", "500")
    source = make_source(tuning={"timeout_seconds": 0.3, "max_retry_after_seconds": 5})
    result = run_sync(library_id=library.id, source=source, batch_size=8)
    assert result.status == "finished"
    assert result.releases_failed == 1
    assert result.failures[0].release_id == 7 and "malformed JSON" in result.failures[0].reason
    assert _counts(library.id)["albums"] == 30
    assert _counts(library.id)["tracks"] == 29 * 6
    assert sum(source.clock.sleeps) >= 5  # the 429 burst's Retry-After values were honoured
    with session_scope() as s:
        raw = s.get(DiscogsRelease, 7)
        assert raw.data is None and "malformed JSON" in raw.error
    # The next sync retries the failed release only.
    before = fake_discogs.release_requests()
    again = run_sync(library_id=library.id, source=make_source())
    assert fake_discogs.release_requests() == before + 1, again
    assert again.releases_failed == 0 and _counts(library.id)["tracks"] == 30 * 6


def test_interrupted_run_resumes_without_refetching(library, make_source, fake_discogs):
    fake_discogs.set_collection("digger", list(range(250, 0, -1)))

    class Crash(BaseException):
        pass

    def crash_after_releases(progress):
        if progress.stage == "releases" and progress.releases_done >= 60:
            raise Crash()

    with pytest.raises(Crash):
        run_sync(library_id=library.id, source=make_source(), progress=crash_after_releases, batch_size=20)
    first = fake_discogs.release_requests()
    assert 60 <= first < 250
    result = run_sync(library_id=library.id, source=make_source(), batch_size=20)
    assert result.status == "finished" and result.releases_done == 250
    assert fake_discogs.release_requests() == 250  # every release fetched exactly once overall
    assert all(fake_discogs.release_requests(r) == 1 for r in range(1, 251))
    with session_scope() as s:
        runs = s.scalars(select(SyncRun).where(SyncRun.library_id == library.id)).all()
        assert len(runs) == 1 and runs[0].status == "finished"  # the same run, resumed
    assert _counts(library.id) == {"albums": 250, "tracks": 1500, "all_tracks": 1500}


def test_private_collection_fails_with_a_clear_reason(library, make_source, fake_discogs):
    fake_discogs.collections["digger"] = []
    fake_discogs.private.add("digger")
    with pytest.raises(SourceAuthError):
        run_sync(library_id=library.id, source=make_source())
    with session_scope() as s:
        run = s.scalar(select(SyncRun).where(SyncRun.library_id == library.id))
        assert run.status == "failed" and "private" in run.error


def test_full_sync_needs_a_username(db_session, owner_library, make_source):
    _user, lib = owner_library
    db_session.commit()
    with pytest.raises(SyncError, match="no Discogs username"):
        run_sync(library_id=lib.id, source=make_source())


def test_malformed_collection_page_is_retried(library, make_source, fake_discogs):
    fake_discogs.set_collection("digger", list(range(150, 0, -1)))
    fake_discogs.fault("/users/digger/collection/folders/0/releases", "malformed")
    result = run_sync(library_id=library.id, source=make_source())
    assert result.status == "finished" and result.releases_done == 150


def test_collection_changing_mid_listing_never_soft_deletes_wrongly(library, make_source, fake_discogs):
    """A record removed on Discogs while we list shifts the pages; we list again instead of missing one."""
    fake_discogs.set_collection("digger", list(range(250, 0, -1)))
    run_sync(library_id=library.id, source=make_source())
    fake_discogs.set_collection("digger", [251] + list(range(250, 0, -1)))
    removed_mid_listing = {"done": False}

    def on_progress(p):
        if p.stage == "collection" and p.pages_done == 1 and not removed_mid_listing["done"]:
            removed_mid_listing["done"] = True  # record 200 (on page 1) leaves the collection
            fake_discogs.collections["digger"].remove(200)

    result = run_sync(library_id=library.id, source=make_source(), progress=on_progress)
    assert result.status == "finished"
    assert result.releases_removed == 1  # only record 200, nothing shifted off a page
    with session_scope() as s:
        gone = s.scalars(select(Album.release_id).where(Album.library_id == library.id,
                                                        Album.deleted_at.is_not(None))).all()
    assert gone == [200]
    assert _counts(library.id)["albums"] == 250


def test_empty_listing_does_not_wipe_the_library(library, make_source, fake_discogs):
    fake_discogs.set_collection("digger", [2, 1])
    run_sync(library_id=library.id, source=make_source())
    fake_discogs.collections["digger"] = []
    result = run_sync(library_id=library.id, source=make_source())
    assert result.status == "finished" and result.releases_removed == 0
    assert _counts(library.id)["albums"] == 2
