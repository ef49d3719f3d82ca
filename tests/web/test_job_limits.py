"""Per-user caps on queued jobs (JOBS_MAX_QUEUED_PER_USER, JOBS_MAX_SYNCS_PER_USER), with no worker running
(jobs stay queued): single requests past the cap answer 429 naming it, batches queue up to it and say why
the rest was skipped, ended jobs give their slot back, and parallel enqueues cannot overshoot."""

from __future__ import annotations

import threading

import pytest

from services.common import db
from services.common.db import get_redis
from services.common.models import Album, Library, Track
from services.common.settings import get_settings
from services.domain import jobs


@pytest.fixture(autouse=True)
def empty_queues(clean_db):
    get_redis().flushdb()


@pytest.fixture
def caps(monkeypatch):
    def _set(downloads: int = 3, syncs: int = 1) -> None:
        monkeypatch.setenv("JOBS_MAX_QUEUED_PER_USER", str(downloads))
        monkeypatch.setenv("JOBS_MAX_SYNCS_PER_USER", str(syncs))
        get_settings.cache_clear()

    yield _set
    monkeypatch.delenv("JOBS_MAX_QUEUED_PER_USER", raising=False)
    monkeypatch.delenv("JOBS_MAX_SYNCS_PER_USER", raising=False)
    get_settings.cache_clear()


def _library(owner_id: int, *, tracks: int, username: str | None = None) -> tuple[int, int, list[int]]:
    with db.session_scope() as s:
        lib = Library(owner_id=owner_id, name="Crates", discogs_username=username)
        s.add(lib)
        s.flush()
        album = Album(library_id=lib.id, release_id=100 + lib.id, title="LP", artist="Synth")
        s.add(album)
        s.flush()
        pks = []
        for i in range(tracks):
            t = Track(track_id=f"{lib.id}-A{i}", library_id=lib.id, album_id=album.id, title=f"T{i}", artist="Synth")
            s.add(t)
            s.flush()
            pks.append(t.id)
        return lib.id, album.id, pks


def test_downloads_past_the_cap_are_refused_and_batches_stop_at_it(make_user, caps):
    caps(downloads=3)
    alice, bob = make_user("alice"), make_user("bob")
    lib, album, pks = _library(alice.user_id, tracks=5)

    batch = alice.post(f"/api/libraries/{lib}/download-missing")
    assert batch.status_code == 202, batch.text
    body = batch.json()
    assert body["queued"] == 3 and body["skipped"] == 2 and len(body["job_ids"]) == 3
    assert "JOBS_MAX_QUEUED_PER_USER=3" in body["skipped_reason"]
    assert jobs.user_live_jobs(alice.user_id, "download") == 3

    # A track already queued is still answered (no new slot needed); a new one is refused with 429.
    queued_pks = pks[:3]
    assert alice.post(f"/api/tracks/{queued_pks[0]}/download").status_code == 202
    refused = alice.post(f"/api/tracks/{pks[4]}/download")
    assert refused.status_code == 429, refused.text
    assert refused.json()["code"] == "too_many_jobs" and "JOBS_MAX_QUEUED_PER_USER=3" in refused.json()["detail"]
    assert refused.headers["Retry-After"] == str(jobs.USER_LIMIT_RETRY_AFTER)
    album_batch = alice.post(f"/api/albums/{album}/download").json()
    assert album_batch["queued"] == 0 and album_batch["already_queued"] == 3 and album_batch["skipped"] == 2

    # Another user's cap is their own.
    bob_lib, _, bob_pks = _library(bob.user_id, tracks=1)
    assert bob.post(f"/api/tracks/{bob_pks[0]}/download").status_code == 202

    # A cancelled job gives its slot back.
    assert alice.post(f"/api/jobs/{body['job_ids'][0]}/cancel").status_code == 200
    again = alice.post(f"/api/tracks/{pks[4]}/download")
    assert again.status_code == 202, again.text
    assert jobs.user_live_jobs(alice.user_id, "download") == 3


def test_sync_cap_is_per_user_and_the_systems_syncs_have_none(clean_db, caps, make_user):
    from services.domain.collection.jobs import enqueue_sync

    caps(syncs=1)
    alice = make_user("alice")
    first, _, _ = _library(alice.user_id, tracks=0, username="a")
    second, _, _ = _library(alice.user_id, tracks=0, username="b")
    job, created = enqueue_sync(library_id=first, user_id=alice.user_id)
    assert created and job.meta["user_id"] == alice.user_id
    again, created = enqueue_sync(library_id=first, user_id=alice.user_id)
    assert not created and again.id == job.id  # the one already queued: no second slot
    with pytest.raises(jobs.TooManyJobs) as exc:
        enqueue_sync(library_id=second, user_id=alice.user_id)
    assert exc.value.limit == 1 and "JOBS_MAX_SYNCS_PER_USER=1" in exc.value.detail
    assert jobs.fetch_job(job.id) is not None
    _, created = enqueue_sync(library_id=second)  # the system's own (after an import, a resumption)
    assert created


def test_no_cap_when_the_setting_is_zero(clean_db, caps, make_user):
    caps(downloads=0)
    alice = make_user("alice")
    lib, _, _ = _library(alice.user_id, tracks=4)
    assert alice.post(f"/api/libraries/{lib}/download-missing").json()["queued"] == 4
    assert get_redis().exists(jobs.USER_JOBS_KEY.format(alice.user_id, "download")) == 0


def test_parallel_enqueues_cannot_overshoot_the_cap(clean_db, caps):
    """20 threads enqueue at once for the same user with a cap of 5: exactly 5 jobs exist afterwards."""
    from services.domain.downloads.jobs import download_track_job

    caps(downloads=5)
    parallel = 20
    start = threading.Barrier(parallel)
    outcomes: list[str] = []
    lock = threading.Lock()

    def attempt(i: int) -> None:
        start.wait(60)
        try:
            jobs.enqueue(jobs.DOWNLOAD_QUEUE, download_track_job, i, None, kind="download", user_id=42)
            result = "queued"
        except jobs.TooManyJobs:
            result = "refused"
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(parallel)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(outcomes) == ["queued"] * 5 + ["refused"] * (parallel - 5)
    assert jobs.queue(jobs.DOWNLOAD_QUEUE).count == 5
    assert jobs.user_live_jobs(42, "download") == 5


def test_retry_past_the_cap_answers_429_and_retry_within_it_takes_the_slot(make_user, caps):
    caps(downloads=1)
    alice = make_user("alice")
    lib, _, pks = _library(alice.user_id, tracks=2)
    first = alice.post(f"/api/tracks/{pks[0]}/download").json()["id"]
    assert alice.post(f"/api/jobs/{first}/cancel").status_code == 200
    second = alice.post(f"/api/tracks/{pks[1]}/download")
    assert second.status_code == 202, second.text

    refused = alice.post(f"/api/jobs/{first}/retry")
    assert refused.status_code == 429, refused.text
    assert refused.json()["code"] == "too_many_jobs" and "JOBS_MAX_QUEUED_PER_USER=1" in refused.json()["detail"]
    assert refused.headers["Retry-After"] == str(jobs.USER_LIMIT_RETRY_AFTER)
    assert alice.get(f"/api/jobs/{first}").json()["status"] == "canceled"

    assert alice.post(f"/api/jobs/{second.json()['id']}/cancel").status_code == 200
    retried = alice.post(f"/api/jobs/{first}/retry")
    assert retried.status_code == 200 and retried.json()["status"] == "queued"
    assert jobs.user_live_jobs(alice.user_id, "download") == 1
