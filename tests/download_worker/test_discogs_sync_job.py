"""The sync job in a real RQ worker process: progress in job.meta, and kill -9 mid-sync then resume."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from services.common.db import get_redis, session_scope
from services.common.models import Album, DiscogsRelease, Library, SyncRun, Track, User
from tests.fakes.discogs import FakeDiscogs

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "worker-test-token"


@pytest.fixture
def fake():
    server = FakeDiscogs(rate_limit=1_000_000)  # the server-side budget is not what this test is about
    server.start()
    yield server
    server.stop()


@pytest.fixture
def sync_env(servers, clean_db, fake, monkeypatch, tmp_path):
    env = {
        **os.environ,
        **servers,
        "DATA_DIR": str(tmp_path / "data"),
        "DISCOGS_API_URL": fake.base_url,
        "DISCOGS_USER_TOKEN": TOKEN,
        "DISCOGS_RATE_LIMIT_PER_MINUTE": "0",
        "DISCOGS_SLOWDOWN_REMAINING": "0",
        "DISCOGS_TIMEOUT_SECONDS": "5",
        "PYTHONUNBUFFERED": "1",
    }
    from rq import Queue
    from rq.scheduler import RQScheduler

    from services.domain.jobs import SYNC_QUEUE

    Queue(SYNC_QUEUE, connection=get_redis()).empty()
    # A worker killed -9 by an earlier test keeps the scheduler lock until its TTL ends: free it.
    get_redis().delete(RQScheduler.get_locking_key(SYNC_QUEUE))
    for key in get_redis().keys("djp:sync:library:*"):
        get_redis().delete(key)
    return env


def _library(username: str = "digger") -> int:
    with session_scope() as s:
        user = User(username="owner", password_hash="x", is_admin=True)
        s.add(user)
        s.flush()
        lib = Library(owner_id=user.id, name="records", discogs_username=username)
        s.add(lib)
        s.flush()
        return lib.id


def _start_worker(env: dict[str, str], log_path: Path) -> subprocess.Popen:
    log = open(log_path, "ab")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(
        [sys.executable, "-m", "services.download_worker", "sync"], cwd=ROOT, env=env,
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def _kill_group(proc: subprocess.Popen) -> None:
    """kill -9 the worker, its scheduler and its work horse (RQ puts the horse in its own session)."""
    for pid in [*_descendants(proc.pid), proc.pid]:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait(timeout=10)


def _stop_group(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            _kill_group(proc)


def _wait(predicate, timeout: float, what: str, log_path: Path | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    tail = log_path.read_text()[-3000:] if log_path and log_path.exists() else ""
    raise AssertionError(f"timed out waiting for {what}\n{tail}")


def _stored_releases() -> set[int]:
    with session_scope() as s:
        return set(s.scalars(select(DiscogsRelease.release_id).where(DiscogsRelease.data.is_not(None))))


def test_job_reports_progress_in_meta(sync_env, fake, tmp_path):
    from services.domain.collection.jobs import enqueue_sync, job_status

    fake.set_collection("digger", list(range(120, 0, -1)))
    library_id = _library()
    log_path = tmp_path / "worker.log"
    worker = _start_worker(sync_env, log_path)
    try:
        job, created = enqueue_sync(library_id=library_id)
        assert created
        again, created_again = enqueue_sync(library_id=library_id)
        assert not created_again and again.id == job.id  # no second sync while one is queued
        status = _wait(lambda: (s := job_status(job)).job_status in ("finished", "failed") and s, 60,
                       "the sync job", log_path)
        assert status.job_status == "finished", status
        assert status.progress.percent == 100 and status.progress.stage == "finished"
        assert status.progress.releases_done == 120 and status.progress.pages_total == 2
        assert status.result["releases_fetched"] == 120
        assert set(fake.authorization) == {f"Discogs token={TOKEN}"}  # DISCOGS_USER_TOKEN on every request
    finally:
        _stop_group(worker)


def test_worker_killed_mid_sync_resumes_without_refetch_or_duplicates(sync_env, fake, tmp_path):
    from services.domain.collection.jobs import current_job, enqueue_sync, job_status

    total = 300
    fake.set_collection("digger", list(range(total, 0, -1)))
    fake.release_delay = 0.01  # slow server: ~1 s per batch of 100 releases
    library_id = _library()
    log_path = tmp_path / "worker.log"

    worker = _start_worker(sync_env, log_path)
    try:
        killed_job_id = enqueue_sync(library_id=library_id)[0].id
        # Wait until at least one batch is committed and the next one is being fetched, then kill -9.
        _wait(lambda: len(_stored_releases()) >= 100 and fake.release_requests() > len(_stored_releases()) + 5,
              60, "the first committed batch", log_path)
    finally:
        _kill_group(worker)
    time.sleep(0.3)  # let the fake server finish requests already in flight
    stored_before = _stored_releases()
    requests_before = fake.release_requests()
    assert 100 <= len(stored_before) < total
    with session_scope() as s:
        run = s.scalar(select(SyncRun).where(SyncRun.library_id == library_id))
        assert run.status == "running"  # nobody finished it: the worker died

    # Restarting a worker is enough: it finds the interrupted run and queues its resumption itself.
    worker = _start_worker(sync_env, log_path)
    try:
        job = _wait(lambda: (j := current_job(library_id)) is not None and j.id != killed_job_id and j, 30,
                    "the worker to queue the interrupted sync", log_path)
        status = _wait(lambda: (s := job_status(job)).job_status in ("finished", "failed") and s, 90,
                       "the resumed sync", log_path)
        assert status.job_status == "finished", status
    finally:
        _stop_group(worker)
    # Nothing left running: a new sync may start (asked with the worker stopped, so that it cannot run
    # that sync too and add a second run before the checks below).
    again, created = enqueue_sync(library_id=library_id)
    assert created
    again.cancel()

    # Releases stored before the kill were not fetched again.
    assert all(fake.release_requests(rid) == 1 for rid in stored_before)
    refetched = [rid for rid in range(1, total + 1) if fake.release_requests(rid) > 1]
    assert len(refetched) <= requests_before - len(stored_before)  # at most the batch in flight at the kill
    assert fake.release_requests() == total + len(refetched)
    with session_scope() as s:
        runs = s.scalars(select(SyncRun).where(SyncRun.library_id == library_id)).all()
        assert [r.status for r in runs] == ["finished"]  # the same run, resumed and finished
        assert s.scalar(select(func.count()).select_from(Album)) == total
        assert s.scalar(select(func.count()).select_from(Track)) == total * 6
        assert s.execute(text("SELECT 1 FROM tracks GROUP BY library_id, track_id HAVING count(*) > 1")).all() == []
        assert s.execute(text("SELECT 1 FROM albums GROUP BY library_id, release_id HAVING count(*) > 1")).all() == []


def test_scheduled_resync_runs_from_rq_scheduler_and_plans_the_next(sync_env, fake, tmp_path):
    from datetime import UTC, datetime, timedelta

    from services.domain.collection.jobs import scheduled_resync_at, sync_library_job
    from services.domain.jobs import SYNC_QUEUE, queue

    fake.set_collection("digger", [3, 2, 1])
    library_id = _library()
    with session_scope() as s:
        s.get(Library, library_id).settings = {"sync_interval_hours": 1}
    # What schedule_resync does, due in a second instead of an hour.
    queue(SYNC_QUEUE).enqueue_in(timedelta(seconds=1), sync_library_job, library_id, "full", True)
    log_path = tmp_path / "worker.log"
    worker = _start_worker(sync_env, log_path)
    try:
        def finished():
            with session_scope() as s:
                return s.scalar(select(SyncRun.status).where(SyncRun.library_id == library_id)) == "finished"

        _wait(finished, 30, "the scheduled sync", log_path)
        next_at = _wait(lambda: scheduled_resync_at(library_id), 10, "the next re-sync", log_path)
    finally:
        _stop_group(worker)
    assert abs(next_at - (datetime.now(UTC) + timedelta(hours=1))) < timedelta(minutes=1)
    assert fake.release_requests() == 3


def test_deleting_the_library_stops_its_running_sync(sync_env, fake, tmp_path):
    """A long sync is running when its library is deleted: the job is stopped (not left to fetch the
    rest of the collection), and the worker is free for the next job."""
    from services.domain.collection.jobs import enqueue_sync, job_status
    from services.domain.libraries.service import delete_library

    total = 2000
    fake.set_collection("digger", list(range(total, 0, -1)))
    fake.set_collection("other", [9003, 9002, 9001])
    fake.release_delay = 0.01  # ~20 s for the whole collection: deleted long before it could finish
    library_id = _library()
    with session_scope() as s:
        owner = s.scalar(select(User).where(User.username == "owner"))
        other = Library(owner_id=owner.id, name="other records", discogs_username="other")
        s.add(other)
        s.flush()
        other_id = other.id
    log_path = tmp_path / "worker.log"
    worker = _start_worker(sync_env, log_path)
    try:
        job = enqueue_sync(library_id=library_id)[0]
        _wait(lambda: len(_stored_releases()) >= 100, 60, "the first committed batch", log_path)
        with session_scope() as s:
            delete_library(session=s, user=s.scalar(select(User).where(User.username == "owner")),
                           library_id=library_id)
        status = _wait(lambda: (st := job_status(job)).job_status in ("stopped", "canceled", "failed", "finished")
                       and st, 60, "the sync to end", log_path)
        assert status.job_status == "stopped", status  # cancelled, not failed on its own nor finished
        # The worker runs one job at a time: once the next sync has finished, the stopped one is gone.
        second = enqueue_sync(library_id=other_id)[0]
        done = _wait(lambda: (st := job_status(second)).job_status in ("finished", "failed") and st, 60,
                     "the next sync", log_path)
        assert done.job_status == "finished", done
        fetched = sum(fake.release_requests(rid) for rid in range(1, total + 1))
        assert fetched < total  # the deleted library's collection was not fetched to the end
    finally:
        _stop_group(worker)
    assert sum(fake.release_requests(rid) for rid in range(1, total + 1)) == fetched  # and nothing since
    with session_scope() as s:
        assert s.get(Library, library_id) is None
        assert s.scalar(select(func.count()).select_from(SyncRun).where(SyncRun.library_id == library_id)) == 0
