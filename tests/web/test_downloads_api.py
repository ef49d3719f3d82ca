"""Download batches and the job center's rules, with no worker running (jobs stay queued)."""

from __future__ import annotations

import pytest

from services.common import db
from services.common.models import Album, Library, LibraryShare, Playlist, PlaylistTrack, Track
from services.common.db import get_redis
from services.domain import jobs


@pytest.fixture(autouse=True)
def empty_queues(clean_db):
    get_redis().flushdb()


def _library(owner_id: int, *, tracks: int, with_audio: int = 0, friend: bool = False) -> tuple[int, int, list[int]]:
    with db.session_scope() as s:
        lib = Library(owner_id=owner_id, name="Crates", is_friend=friend)
        s.add(lib)
        s.flush()
        album = Album(library_id=lib.id, release_id=100 + lib.id, title="LP", artist="Synth")
        s.add(album)
        s.flush()
        pks = []
        for i in range(tracks):
            t = Track(track_id=f"{lib.id}-A{i}", library_id=lib.id, album_id=album.id, title=f"T{i}", artist="Synth",
                      local_audio_path=f"library_{lib.id}/x{i}.mp3" if i < with_audio else None)
            s.add(t)
            s.flush()
            pks.append(t.id)
        return lib.id, album.id, pks


def test_batches_queue_only_missing_audio_once(make_user, monkeypatch):
    alice, bob = make_user("alice"), make_user("bob")
    lib, album, pks = _library(alice.user_id, tracks=5, with_audio=2)
    r = alice.post(f"/api/albums/{album}/download")
    assert r.status_code == 202 and r.json()["queued"] == 3 and r.json()["already_queued"] == 0
    again = alice.post(f"/api/libraries/{lib}/download-missing").json()
    assert again["queued"] == 0 and again["already_queued"] == 3
    everything = alice.post(f"/api/albums/{album}/download", json={"missing_only": False}).json()
    assert everything["queued"] == 2 and everything["already_queued"] == 3
    listed = alice.get("/api/jobs", params={"kind": "download", "library_id": lib}).json()
    assert len(listed) == 5 and {j["status"] for j in listed} == {"queued"}
    assert alice.get("/api/jobs", params={"kind": "download", "limit": 2}).json()[0]["id"] == listed[0]["id"]

    with db.session_scope() as s:
        playlist = Playlist(owner_id=alice.user_id, name="Set")
        s.add(playlist)
        s.flush()
        s.add_all([PlaylistTrack(playlist_id=playlist.id, track_pk=pk, position=i) for i, pk in enumerate(pks)])
        playlist_id = playlist.id
    assert alice.post(f"/api/playlists/{playlist_id}/download").json()["already_queued"] == 3

    # Over the batch cap: the rest is left for the next request, and said so.
    monkeypatch.setattr(jobs, "BATCH_MAX", 2)
    lib2, _, _ = _library(alice.user_id, tracks=4)
    capped = alice.post(f"/api/libraries/{lib2}/download-missing").json()
    assert capped["queued"] == 2 and capped["skipped"] == 2

    # Others' libraries: invisible; shared with you: read-only.
    assert bob.post(f"/api/albums/{album}/download").status_code == 404
    assert bob.post(f"/api/libraries/{lib}/download-missing").status_code == 404
    assert bob.post(f"/api/playlists/{playlist_id}/download").status_code == 404
    with db.session_scope() as s:
        s.add(LibraryShare(library_id=lib, user_id=bob.user_id))
    assert bob.post(f"/api/libraries/{lib}/download-missing").status_code == 403
    assert bob.post(f"/api/tracks/{pks[0]}/download").status_code == 403
    seen = bob.get("/api/jobs", params={"library_id": lib}).json()
    assert len(seen) == 5  # shared: visible
    assert bob.post(f"/api/jobs/{seen[0]['id']}/cancel").status_code == 403  # but not his to cancel


def test_job_center_input_and_cancel_of_queued_jobs(make_user):
    alice = make_user("alice")
    lib, album, _ = _library(alice.user_id, tracks=2)
    ids = alice.post(f"/api/albums/{album}/download").json()["job_ids"]
    for params in ({"kind": "nope"}, {"limit": 0}, {"limit": 501}, {"status": "x"}, {"colour": "red"}):
        r = alice.get("/api/jobs", params=params)
        assert r.status_code == 422, (params, r.text)
    assert alice.get("/api/jobs/not-a-job").status_code == 404
    r = alice.post(f"/api/jobs/{ids[0]}/cancel")
    assert r.status_code == 200 and r.json()["status"] == "canceled" and r.json()["stage"] == "cancelled"
    assert alice.post(f"/api/jobs/{ids[0]}/cancel").status_code == 409
    retried = alice.post(f"/api/jobs/{ids[0]}/retry")
    assert retried.status_code == 200 and retried.json()["status"] == "queued"
    assert alice.post(f"/api/jobs/{ids[1]}/retry").status_code == 409  # queued: nothing to retry

    # Deleting the library cancels its jobs.
    assert alice.delete(f"/api/libraries/{lib}").status_code in (200, 204)
    states = {alice.get(f"/api/jobs/{i}").status_code for i in ids}
    assert states == {404}  # the library is gone, so are its jobs from the user's view
    from services.domain import jobs

    assert {jobs.status_of(jobs.fetch_job(i)) for i in ids} == {"canceled"}
