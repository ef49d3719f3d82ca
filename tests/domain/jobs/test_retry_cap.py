"""Retrying a job takes a slot of the per-user cap like queueing one does (JOBS_MAX_QUEUED_PER_USER,
JOBS_MAX_SYNCS_PER_USER): a user at their cap cannot get past it by retrying cancelled or failed jobs.
No worker runs, so queued jobs stay queued."""

from __future__ import annotations

import os

import pytest

from services.common import db
from services.common.db import get_redis
from services.common.models import User
from services.common.settings import get_settings
from services.domain import jobs
from services.domain.jobcenter import service as jobcenter


@pytest.fixture(autouse=True)
def empty_queues(clean_db):
    get_redis().flushdb()


@pytest.fixture
def cap_of_one(monkeypatch):
    monkeypatch.setenv("JOBS_MAX_QUEUED_PER_USER", "1")
    monkeypatch.setenv("JOBS_MAX_SYNCS_PER_USER", "1")
    get_settings.cache_clear()
    yield
    monkeypatch.delenv("JOBS_MAX_QUEUED_PER_USER", raising=False)
    monkeypatch.delenv("JOBS_MAX_SYNCS_PER_USER", raising=False)
    get_settings.cache_clear()


def _enqueue(kind: str, user_id: int, library_id: int):
    return jobs.enqueue(jobs.DOWNLOAD_QUEUE, os.getpid, kind=kind, user_id=user_id, library_id=library_id)


def _call(fn, user_id: int, job_id: str):
    with db.session_scope() as session:
        return fn(session=session, user=session.get(User, user_id), job_id=job_id)


@pytest.mark.parametrize("kind", ["download", "sync"])
def test_retry_at_the_cap_is_refused_and_takes_a_slot_when_free(committed_library, cap_of_one, kind):
    user_id, library_id = committed_library
    first = _enqueue(kind, user_id, library_id)
    assert _call(jobcenter.cancel_job, user_id, first.id).status == "canceled"
    second = _enqueue(kind, user_id, library_id)  # the cancelled job gave its slot back
    assert jobs.user_live_jobs(user_id, kind) == 1

    with pytest.raises(jobs.TooManyJobs) as refused:
        _call(jobcenter.retry_job, user_id, first.id)
    setting = "JOBS_MAX_SYNCS_PER_USER" if kind == "sync" else "JOBS_MAX_QUEUED_PER_USER"
    assert refused.value.limit == 1 and f"{setting}=1" in refused.value.detail
    assert jobs.status_of(jobs.fetch_job(first.id)) == "canceled"  # not queued again
    assert jobs.queue(jobs.DOWNLOAD_QUEUE).count == 1

    _call(jobcenter.cancel_job, user_id, second.id)
    retried = _call(jobcenter.retry_job, user_id, first.id)
    assert retried.status == "queued"
    assert jobs.user_live_jobs(user_id, kind) == 1  # the retried job holds the slot
    with pytest.raises(jobs.TooManyJobs):
        _enqueue(kind, user_id, library_id)


def test_retrying_a_system_job_is_charged_to_whoever_retries_it(committed_library, cap_of_one):
    """A job the system queued (no user) retried by a user counts against that user's cap."""
    user_id, library_id = committed_library
    mine = _enqueue("download", user_id, library_id)
    system = jobs.enqueue(jobs.DOWNLOAD_QUEUE, os.getpid, kind="download", library_id=library_id)
    _call(jobcenter.cancel_job, user_id, system.id)
    with pytest.raises(jobs.TooManyJobs):
        _call(jobcenter.retry_job, user_id, system.id)
    _call(jobcenter.cancel_job, user_id, mine.id)
    assert _call(jobcenter.retry_job, user_id, system.id).status == "queued"
    assert jobs.user_live_jobs(user_id, "download") == 1


def test_no_cap_no_slot(committed_library, monkeypatch):
    monkeypatch.setenv("JOBS_MAX_QUEUED_PER_USER", "0")
    get_settings.cache_clear()
    try:
        user_id, library_id = committed_library
        job = _enqueue("download", user_id, library_id)
        _call(jobcenter.cancel_job, user_id, job.id)
        assert _call(jobcenter.retry_job, user_id, job.id).status == "queued"
        assert get_redis().exists(jobs.USER_JOBS_KEY.format(user_id, "download")) == 0
    finally:
        monkeypatch.delenv("JOBS_MAX_QUEUED_PER_USER", raising=False)
        get_settings.cache_clear()
