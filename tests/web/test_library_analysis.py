"""A library's missing and outdated analyses, counted and queued in one request (API and the library page).
No worker runs in this module: every queued job is cancelled before the test ends."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.common import db
from services.common.contracts.analysis import ANALYZER_VERSION
from services.common.models import Library, LibraryShare, Track
from services.domain import jobs


def _library(owner_id: int, *, friend: bool = False) -> tuple[int, dict[str, int]]:
    now = datetime.now(UTC)
    with db.session_scope() as s:
        lib = Library(owner_id=owner_id, name="Crates", discogs_username="f" if friend else None, is_friend=friend)
        s.add(lib)
        s.flush()
        tracks = {
            "new": Track(track_id="1-A1", library_id=lib.id, title="New", local_audio_path="library_x/1.mp3"),
            "current": Track(track_id="1-A2", library_id=lib.id, title="Current", local_audio_path="library_x/2.mp3",
                             analyzed_at=now, analyzer_version=ANALYZER_VERSION),
            "old": Track(track_id="1-B1", library_id=lib.id, title="Old", local_audio_path="library_x/3.mp3",
                         analyzed_at=now, analyzer_version="essentia-api/1.0"),
            "silent": Track(track_id="1-B2", library_id=lib.id, title="No audio"),
            "deleted": Track(track_id="1-C1", library_id=lib.id, title="Gone", local_audio_path="library_x/5.mp3",
                             deleted_at=now),
        }
        s.add_all(tracks.values())
        s.flush()
        return lib.id, {name: t.id for name, t in tracks.items()}


@pytest.fixture
def cancel_after():
    queued: list = []
    yield queued
    for client, job_id in queued:
        client.post(f"/api/jobs/{job_id}/cancel")


def test_missing_then_outdated(make_user, cancel_after):
    alice = make_user("alice")
    library_id, pks = _library(alice.user_id)
    assert alice.get(f"/api/libraries/{library_id}/analysis").json() == {
        "with_audio": 3, "missing": 1, "outdated": 1, "without_audio": 1, "analyzer_version": ANALYZER_VERSION}
    first = alice.post(f"/api/libraries/{library_id}/analyze").json()
    cancel_after.extend((alice, j) for j in first["job_ids"])
    assert (first["queued"], first["already_queued"], first["skipped"]) == (1, 0, 0)
    job = alice.get(f"/api/jobs/{first['job_ids'][0]}").json()
    assert (job["kind"], job["track_pk"]) == ("analysis", pks["new"])
    again = alice.post(f"/api/libraries/{library_id}/analyze?which=missing").json()
    assert (again["queued"], again["already_queued"]) == (0, 1)  # not queued twice
    outdated = alice.post(f"/api/libraries/{library_id}/analyze?which=outdated").json()
    cancel_after.extend((alice, j) for j in outdated["job_ids"])
    assert (outdated["queued"], outdated["already_queued"]) == (1, 1)
    tracks = {alice.get(f"/api/jobs/{j}").json()["track_pk"] for j in outdated["job_ids"]}
    assert tracks == {pks["new"], pks["old"]}  # never the analysed, silent or deleted ones
    assert alice.post(f"/api/libraries/{library_id}/analyze?which=everything").status_code == 422


def test_the_library_page_offers_it(make_user, cancel_after):
    alice = make_user("alice")
    library_id, pks = _library(alice.user_id)
    page = alice.get(f"/libraries/{library_id}").text
    assert "3 tracks with audio:" in page and "1 not analysed yet, 1 analysed by an" in page
    assert f'hx-post="/libraries/{library_id}/analyze?which=missing"' in page and "Analyse 1 track<" in page
    assert f"Analyse 2 with {ANALYZER_VERSION}" in page
    # The tracks still without audio are one click away (the tracks browser, filtered).
    link = f"/tracks?library_id={library_id}&amp;has_audio=false"
    assert "1 track of this library has no audio yet" in page and link in page
    listed = alice.get(link.replace("&amp;", "&")).text
    assert "No audio" in listed and ">New<" not in listed and ">Old<" not in listed
    card = alice.post(f"/libraries/{library_id}/analyze?which=outdated")
    assert card.status_code == 200 and "Queued 2 analyses. Their progress is on the Jobs page." in card.text
    live = [jobs.live_track_job(kind="analysis", track_pk=pks[name]) for name in ("new", "old")]
    cancel_after.extend((alice, job.id) for job in live if job is not None)
    assert len(cancel_after) == 2


def test_who_may(make_user, cancel_after):
    alice, bob = make_user("alice"), make_user("bob")
    library_id, _ = _library(alice.user_id)
    friends_id, _ = _library(alice.user_id, friend=True)
    assert bob.get(f"/api/libraries/{library_id}/analysis").status_code == 404
    assert bob.post(f"/api/libraries/{library_id}/analyze").status_code == 404
    assert alice.post(f"/api/libraries/{friends_id}/analyze").status_code == 403  # a friend's records: read-only
    with db.session_scope() as s:
        s.add(LibraryShare(library_id=library_id, user_id=bob.user_id, pending=False))
    assert bob.get(f"/api/libraries/{library_id}/analysis").json()["missing"] == 1  # a reader sees the counts
    assert bob.post(f"/api/libraries/{library_id}/analyze").status_code == 403  # but queues nothing
    assert "library-analysis" not in bob.get(f"/libraries/{library_id}").text
