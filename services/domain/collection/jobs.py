"""Discogs sync jobs (queue "sync"): enqueueing, the job the worker runs, its status, and the
per-library scheduled re-sync (RQ scheduler). Progress goes to job.meta, durable state to sync_runs,
so a killed job is resumed by the next one for the same library (see sync.py)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from redis.exceptions import RedisError
from rq.job import Job
from rq.registry import ScheduledJobRegistry
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.common.contracts.discogs import SyncJobStatus, SyncMode, SyncProgress
from services.common.db import get_engine, get_redis, session_scope
from services.common.models import Library, SyncRun
from services.domain import jobs
from services.domain.collection.sync import (
    SyncAlreadyRunning,
    SyncError,
    run_sync,
    run_to_progress,
    sync_is_running,
)

log = logging.getLogger(__name__)

JOB_TIMEOUT = 24 * 3600  # 60 requests a minute: a 20,000-release collection takes hours
RESYNC_SETTING = "sync_interval_hours"
_CURRENT_KEY = "djp:sync:library:{}"
_RESYNC_KEY = "djp:resync:library:{}"


NEEDS_OWN_TOKEN = ("syncing from Discogs needs your own Discogs token (Settings → Discogs token); only an admin "
                   "may use the server's DISCOGS_USER_TOKEN")


def owner_discogs_token(library_id: int) -> str | None:
    """The token a library's syncs use: its owner's own, else the server's when the owner is an admin."""
    from services.common.models import User
    from services.domain.accounts.discogs_tokens import discogs_token_for

    with session_scope() as session:
        library = session.get(Library, library_id)
        owner = session.get(User, library.owner_id) if library is not None else None
        return discogs_token_for(owner) if owner is not None else None


# --- the job the worker runs -----------------------------------------------------------------------


def sync_library_job(library_id: int, mode: str = "full", scheduled: bool = False) -> dict:
    """Sync one library from Discogs; schedules its next periodic re-sync when the library has one."""
    from services.domain.sources.discogs import DiscogsSource

    token = owner_discogs_token(library_id)
    if token is None:
        raise SyncError(f"library {library_id}: {NEEDS_OWN_TOKEN}")
    try:
        with DiscogsSource.from_settings(token=token) as source:
            result = run_sync(
                library_id=library_id,
                source=source,
                mode=mode,  # type: ignore[arg-type]
                job_id=jobs.current_job_id(),
                progress=lambda p: jobs.report_progress(**p.model_dump(mode="json")),
            )
    except SyncAlreadyRunning as exc:
        log.info("%s", exc)
        return {"library_id": library_id, "skipped": str(exc)}
    finally:
        if scheduled or mode == "full":
            try:
                schedule_resync(library_id=library_id)
            except Exception:  # never fail the sync because the next one could not be planned
                log.exception("could not schedule the next re-sync of library %s", library_id)
    from services.domain.embeddings.jobs import embed_library_soon

    embed_library_soon(library_id=library_id)  # new and changed tracks' embeddings, in the background
    return result.model_dump(mode="json")


# --- enqueueing and reading back --------------------------------------------------------------------


def current_job(library_id: int) -> Job | None:
    job_id = get_redis().get(_CURRENT_KEY.format(library_id))
    return jobs.fetch_job(job_id.decode(), kind="sync") if job_id else None


def enqueue_sync(*, library_id: int, mode: SyncMode = "full", user_id: int | None = None) -> tuple[Job, bool]:
    """Queue a sync unless one is queued or running for the library. Returns (job, created). `user_id`:
    the user asking, whose cap on queued syncs applies (`jobs.TooManyJobs`); None for the system's own."""
    job = current_job(library_id)
    if job is not None:
        status = jobs.status_of(job)
        if status in ("queued", "deferred", "scheduled"):
            return job, False
        if status == "started":
            with get_engine().begin() as conn:
                if sync_is_running(conn, library_id):
                    return job, False
            # started but nobody holds the library's lock: its worker died; the new job resumes it.
    job = jobs.enqueue(
        jobs.SYNC_QUEUE, sync_library_job, library_id, mode, kind="sync", library_id=library_id, user_id=user_id,
        job_timeout=JOB_TIMEOUT, result_ttl=7 * 86400, failure_ttl=7 * 86400,
        meta={"mode": mode, "status": "queued"},
        description=f"Discogs sync of library {library_id} ({mode})",
    )
    get_redis().set(_CURRENT_KEY.format(library_id), job.id, ex=8 * 86400)
    return job, True


def start_sync_after_import(*, library_id: int, mode: SyncMode) -> str | None:
    """Best-effort background sync after a CSV import or a new friend: the id of the queued job, or
    None when the server has no Discogs token or Redis is down (the import itself is already saved;
    the user can sync later)."""
    if owner_discogs_token(library_id) is None:
        return None
    try:
        return enqueue_sync(library_id=library_id, mode=mode)[0].id
    except RedisError:
        return None


def job_status(job: Job) -> SyncJobStatus:
    job.refresh()
    meta = dict(job.meta or {})
    try:
        progress = SyncProgress.model_validate(meta) if "library_id" in meta else None
    except ValueError:
        progress = None
    status = jobs.status_of(job)
    result = job.return_value() if status == "finished" else None
    return SyncJobStatus(job_id=job.id, job_status=status, progress=progress,
                         result=result if isinstance(result, dict) else None, error=jobs.failure_reason(job))


def latest_progress(session: Session, library_id: int) -> SyncProgress | None:
    run = session.scalar(select(SyncRun).where(SyncRun.library_id == library_id).order_by(SyncRun.id.desc()).limit(1))
    return run_to_progress(run) if run is not None else None


# --- scheduled re-syncs ---------------------------------------------------------------------------


def schedule_resync(*, library_id: int) -> Job | None:
    """(Re)plan the library's periodic re-sync from `settings.sync_interval_hours` (none when unset/0)."""
    with session_scope() as session:
        library = session.get(Library, library_id)
        hours = float((library.settings or {}).get(RESYNC_SETTING) or 0) if library else 0.0
        has_username = bool(library and library.discogs_username)
    redis = get_redis()
    key = _RESYNC_KEY.format(library_id)
    previous = redis.get(key)
    existing = jobs.fetch_job(previous.decode()) if previous else None
    if existing is not None and jobs.status_of(existing) in ("scheduled", "queued", "deferred"):
        existing.cancel()
        existing.delete()
    redis.delete(key)
    if hours <= 0 or not has_username:
        return None
    job = jobs.enqueue(
        jobs.SYNC_QUEUE, sync_library_job, library_id, "full", True, kind="sync", library_id=library_id,
        at=timedelta(hours=hours), job_timeout=JOB_TIMEOUT, result_ttl=86400, meta={"mode": "full"},
        description=f"Scheduled Discogs re-sync of library {library_id}",
    )
    redis.set(key, job.id)
    return job


def scheduled_resync_at(library_id: int) -> datetime | None:
    """When the library's next scheduled re-sync runs (None when there is none)."""
    job_id = get_redis().get(_RESYNC_KEY.format(library_id))
    job = jobs.fetch_job(job_id.decode()) if job_id else None
    if job is None or jobs.status_of(job) != "scheduled":
        return None
    try:
        return ScheduledJobRegistry(queue=jobs.queue(jobs.SYNC_QUEUE)).get_scheduled_time(job)
    except (RedisError, ValueError):
        return None


def schedule_all_resyncs() -> None:
    """Start-up: every library with a re-sync interval has its next sync planned (e.g. after Redis lost
    its data). Redis problems are logged, never fatal."""
    with session_scope() as session:
        ids = session.scalars(select(Library.id).where(Library.settings[RESYNC_SETTING].as_float() > 0)).all()
    for library_id in ids:
        try:
            if scheduled_resync_at(library_id) is None:
                schedule_resync(library_id=library_id)
        except Exception as exc:  # noqa: BLE001 - start-up must not fail on the job queue
            log.warning("could not schedule the re-sync of library %s: %s", library_id, exc)


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
