"""A Redis restart (even a kill -9) loses no queued download: the embedded redis-server keeps an
append-only file, and a queued job is read back whole after the restart."""

from __future__ import annotations

import os
import signal
import time

from services.common.db import session_scope
from services.common.embedded import start_embedded_redis, stop_embedded_redis
from services.common.models import Track
from services.domain import jobs
from services.domain.downloads.jobs import enqueue_download
from tests.conftest import reset_caches


def test_queued_downloads_survive_a_killed_redis(committed_library, tmp_path, monkeypatch):
    user_id, library_id = committed_library
    with session_scope() as s:
        track = Track(track_id="1-A1", library_id=library_id, title="Groove", artist="Synth")
        s.add(track)
        s.flush()
        s.expunge(track)
    url = start_embedded_redis(tmp_path)
    monkeypatch.setenv("REDIS_URL", url)
    reset_caches()
    try:
        job, created = enqueue_download(track=track, url=None, user_id=user_id)
        assert created
        time.sleep(1.5)  # appendfsync everysec: what was written a second ago is on disk
        pid = int((tmp_path / "redis" / "redis.pid").read_text())
        os.kill(pid, signal.SIGKILL)
        for _ in range(100):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        assert start_embedded_redis(tmp_path) == url
        reset_caches()
        again = jobs.fetch_job(job.id, kind="download")
        assert again is not None and jobs.status_of(again) == "queued"
        assert again.args == (track.id, None) and again.meta["track_pk"] == track.id
        assert jobs.queue(jobs.DOWNLOAD_QUEUE).job_ids == [job.id]
        # The job index the job center reads survived too.
        assert jobs.get_redis().zscore(jobs.index_key(track.library_id), job.id) is not None
    finally:
        stop_embedded_redis(tmp_path)
        monkeypatch.undo()
        reset_caches()
