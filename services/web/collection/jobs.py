"""Enqueueing syncs, reading their status, and the per-library scheduled re-sync (RQ scheduler)."""

from __future__ import annotations

import logging
from datetime import timedelta

from redis.exceptions import RedisError
from rq import Queue
from rq.exceptions import NoSuchJobError
from rq.job import Job
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.common.contracts.discogs import SyncJobStatus, SyncMode, SyncProgress
from services.common.db import get_engine, get_redis, session_scope
from services.common.models import Library, SyncRun
from services.common.settings import get_settings
from services.download_worker.queues import SYNC_QUEUE
from services.web.collection.sync import run_to_progress, sync_is_running

log = logging.getLogger(__name__)

JOB_FUNC = "services.download_worker.jobs.discogs.sync_library_job"
JOB_TIMEOUT = 24 * 3600  # 60 requests a minute: a 20,000-release collection takes hours
_CURRENT_KEY = "djp:sync:library:{}"
RESYNC_SETTING = "sync_interval_hours"


def sync_queue() -> Queue:
    return Queue(SYNC_QUEUE, connection=get_redis())


_RESYNC_KEY = "djp:resync:library:{}"


def current_job(library_id: int) -> Job | None:
    job_id = get_redis().get(_CURRENT_KEY.format(library_id))
    if not job_id:
        return None
    try:
        return Job.fetch(job_id.decode(), connection=get_redis())
    except NoSuchJobError:
        return None


def enqueue_sync(*, library_id: int, mode: SyncMode = "full") -> tuple[Job, bool]:
    """Queue a sync unless one is queued or running for the library. Returns (job, created)."""
    job = current_job(library_id)
    if job is not None:
        status = job.get_status()
        if status in ("queued", "deferred", "scheduled"):
            return job, False
        if status == "started":
            with get_engine().begin() as conn:
                if sync_is_running(conn, library_id):
                    return job, False
            # started but nobody holds the library's lock: its worker died; the new job resumes it.
    job = sync_queue().enqueue(
        JOB_FUNC, library_id, mode, job_timeout=JOB_TIMEOUT, result_ttl=7 * 86400, failure_ttl=7 * 86400,
        meta={"library_id": library_id, "mode": mode, "stage": "queued", "status": "queued", "percent": 0},
        description=f"Discogs sync of library {library_id} ({mode})",
    )
    get_redis().set(_CURRENT_KEY.format(library_id), job.id, ex=8 * 86400)
    return job, True


def start_sync_after_import(*, library_id: int, mode: SyncMode) -> str | None:
    """Best-effort background sync after a CSV import or a new friend: the id of the queued job, or
    None when the server has no Discogs token or Redis is down (the import itself is already saved;
    the user can sync later)."""
    if get_settings().discogs_user_token is None:
        return None
    try:
        return enqueue_sync(library_id=library_id, mode=mode)[0].id
    except RedisError:
        return None


def job_status(job: Job) -> SyncJobStatus:
    job.refresh()
    meta = dict(job.meta or {})
    progress = None
    if "library_id" in meta:
        try:
            progress = SyncProgress.model_validate(meta)
        except ValueError:
            progress = None
    error = None
    status = job.get_status()
    if status == "failed":
        result = job.latest_result()
        error = (result.exc_string or "").strip().splitlines()[-1] if result and result.exc_string else "failed"
    result_value = job.return_value() if status == "finished" else None
    return SyncJobStatus(job_id=job.id, job_status=str(status.value if hasattr(status, "value") else status),
                         progress=progress, result=result_value if isinstance(result_value, dict) else None,
                         error=error)


def fetch_job(job_id: str) -> Job | None:
    try:
        return Job.fetch(job_id, connection=get_redis())
    except (NoSuchJobError, ValueError):  # ValueError: not a valid RQ job id at all
        return None


def latest_progress(session: Session, library_id: int) -> SyncProgress | None:
    run = session.scalar(select(SyncRun).where(SyncRun.library_id == library_id).order_by(SyncRun.id.desc()).limit(1))
    return run_to_progress(run) if run is not None else None


def schedule_resync(*, library_id: int) -> Job | None:
    """(Re)plan the library's periodic re-sync from `settings.sync_interval_hours` (none when unset/0)."""
    with session_scope() as session:
        library = session.get(Library, library_id)
        hours = float((library.settings or {}).get(RESYNC_SETTING) or 0) if library else 0.0
        has_username = bool(library and library.discogs_username)
    queue = sync_queue()
    redis = get_redis()
    key = _RESYNC_KEY.format(library_id)
    previous = redis.get(key)
    existing = fetch_job(previous.decode()) if previous else None
    if existing is not None and existing.get_status() in ("scheduled", "queued", "deferred"):
        existing.cancel()
        existing.delete()
    redis.delete(key)
    if hours <= 0 or not has_username:
        return None
    job = queue.enqueue_in(
        timedelta(hours=hours), JOB_FUNC, library_id, "full", True, job_timeout=JOB_TIMEOUT,
        result_ttl=86400, description=f"Scheduled Discogs re-sync of library {library_id}",
    )
    redis.set(key, job.id)
    return job


def scheduled_resync_at(library_id: int):
    """When the library's next scheduled re-sync runs (None when there is none)."""
    job_id = get_redis().get(_RESYNC_KEY.format(library_id))
    job = fetch_job(job_id.decode()) if job_id else None
    if job is None or job.get_status() != "scheduled":
        return None
    from rq.registry import ScheduledJobRegistry

    try:
        return ScheduledJobRegistry(queue=sync_queue()).get_scheduled_time(job)
    except (NoSuchJobError, RedisError, ValueError):
        return None


def resume_interrupted_syncs() -> list[int]:
    """Queue a sync for every library whose last run was cut off (its worker died mid-sync).

    Called when a worker starts: the run's state is in Postgres, so the new job picks up where the
    dead one stopped. A run that is still alive holds the library's advisory lock and is left alone.
    """
    with get_engine().connect() as conn:
        rows = conn.execute(
            select(SyncRun.library_id, SyncRun.mode).where(SyncRun.status == "running").distinct()
        ).all()
    resumed = []
    for library_id, mode in rows:
        with get_engine().begin() as conn:
            if sync_is_running(conn, library_id):
                continue
        _, created = enqueue_sync(library_id=library_id, mode=mode)
        if created:
            resumed.append(library_id)
    if resumed:
        log.info("resuming interrupted syncs of libraries %s", resumed)
    return resumed
