"""Embedding jobs: a backfill run by a real RQ worker reports stage and percent; edits are queued once and
drained by one job."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from rq import SimpleWorker
from rq.registry import ScheduledJobRegistry
from sqlalchemy import func, select

from services.common.db import get_redis, session_scope
from services.common.models import Track, TrackEmbedding
from services.common.settings import get_settings
from services.domain import jobs
from services.domain.embeddings import jobs as embedding_jobs


@pytest.fixture
def library(committed_library, monkeypatch):
    monkeypatch.setenv("EMBEDDINGS_PROVIDER", "local")
    get_settings.cache_clear()
    get_redis().flushdb()
    _user_id, lib_id = committed_library
    with session_scope() as s:
        s.add_all([Track(track_id=f"1-A{i}", library_id=lib_id, title=f"Track {i}", artist="A",
                         bpm=120.0 + i, camelot="8A", analyzed_at=datetime.now(UTC)) for i in range(5)])
    yield lib_id
    monkeypatch.undo()
    get_settings.cache_clear()


def _count(**where) -> int:
    with session_scope() as s:
        return s.scalar(select(func.count()).select_from(TrackEmbedding).filter_by(**where))


def test_backfill_job_reports_progress_and_stores_vectors(library):
    job = embedding_jobs.enqueue_backfill(library_id=library)
    assert job.meta["kind"] == "embeddings_backfill" and job.meta["library_id"] == library
    assert job.origin == jobs.EMBEDDINGS_QUEUE and jobs.EMBEDDINGS_QUEUE in jobs.ALL_QUEUES
    SimpleWorker([jobs.queue(jobs.EMBEDDINGS_QUEUE)], connection=get_redis()).work(burst=True)
    job.refresh()
    assert jobs.status_of(job) == "finished", jobs.failure_reason(job)
    assert job.meta["stage"] == "done" and job.meta["percent"] == 100 and job.meta["total"] == 5
    assert job.return_value()["text"]["embedded"] == 5
    assert _count(kind="text") == 5 and _count(kind="audio") == 5


def test_edits_are_queued_once_and_drained_by_one_job(library):
    with session_scope() as s:
        pks = list(s.scalars(select(Track.id).order_by(Track.id)))
    assert embedding_jobs.embed_soon(track_pks=pks[:2])
    assert embedding_jobs.embed_soon(track_pks=pks[1:3])
    assert not embedding_jobs.embed_soon(track_pks=[])
    scheduled = ScheduledJobRegistry(jobs.EMBEDDINGS_QUEUE, connection=get_redis()).get_job_ids()
    assert len(scheduled) == 1  # one job for both edits
    assert sorted(int(v) for v in get_redis().smembers(embedding_jobs.PENDING_KEY)) == pks[:3]
    result = embedding_jobs.embed_pending_job()
    assert result["text"]["embedded"] == 3 and _count(kind="text") == 3
    assert not get_redis().exists(embedding_jobs.PENDING_KEY)


def test_catch_up_backfills_when_the_active_model_has_tracks_missing(library):
    job = embedding_jobs.catch_up()
    assert job is not None and job.meta["kind"] == "embeddings_backfill"
    SimpleWorker([jobs.queue(jobs.EMBEDDINGS_QUEUE)], connection=get_redis()).work(burst=True)
    assert embedding_jobs.catch_up() is None  # complete now
