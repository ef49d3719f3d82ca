"""The job queue (RQ on Redis): queue names, enqueueing, reading a job back, reporting progress.

Queues are named by kind so a long sync never starves an analysis; the worker
(`python -m services.download_worker [queue ...]`) listens on them in `ALL_QUEUES` order. Job
functions live next to the code they run (`collection/jobs.py`, `analysis/jobs.py`) and are
enqueued by reference, so a name is written once. Redis failures become `Unavailable` here.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from redis.exceptions import RedisError
from rq import Queue, get_current_job
from rq.exceptions import NoSuchJobError
from rq.job import Job

from services.common.db import get_redis
from services.domain.errors import Unavailable

SYNC_QUEUE = "sync"
ANALYSIS_QUEUE = "analysis"
SEARCH_QUEUE = "search"
ALL_QUEUES = (SEARCH_QUEUE, ANALYSIS_QUEUE, SYNC_QUEUE)
LIVE_STATUSES = ("queued", "started", "scheduled", "deferred")


@contextmanager
def queue_errors() -> Iterator[None]:
    """Turn a Redis failure into `Unavailable` (HTTP 503): the request can be tried again later."""
    try:
        yield
    except RedisError as exc:
        raise Unavailable(f"job queue unavailable (Redis): {type(exc).__name__}", code="queue_unavailable") from None


def queue(name: str) -> Queue:
    return Queue(name, connection=get_redis())


def fetch_job(job_id: str, *, kind: str | None = None) -> Job | None:
    """The job, or None when unknown, expired, not a valid id, or not of this kind."""
    try:
        job = Job.fetch(job_id, connection=get_redis())
    except (NoSuchJobError, ValueError):  # ValueError: not a valid RQ job id at all
        return None
    if kind is not None and (job.meta or {}).get("kind") != kind:
        return None
    return job


def status_of(job: Job) -> str:
    status = job.get_status()
    return str(getattr(status, "value", status))


def failure_reason(job: Job) -> str | None:
    """What a failed job said: its own `error` in meta, else the last line of the exception."""
    meta = job.meta or {}
    if meta.get("error"):
        return str(meta["error"])
    if status_of(job) != "failed":
        return None
    result = job.latest_result()
    return (result.exc_string or "").strip().splitlines()[-1] if result and result.exc_string else "failed"


# --- inside a running job (the worker) ------------------------------------------------------------


def report_progress(**meta: Any) -> None:
    """Store progress (stage, percent, ...) in the running job's meta, where the edges poll it."""
    job = get_current_job()
    if job is not None:
        job.meta.update(meta)
        job.save_meta()


def stop_retries() -> None:
    """This failure will not go away by retrying (bad input): RQ reads the retries of the very Job
    object the job runs under, so clear them there."""
    job = get_current_job()
    if job is not None:
        job.retries_left = 0


def current_job_id() -> str | None:
    job = get_current_job()
    return job.id if job is not None else None
