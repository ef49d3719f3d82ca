"""New-releases jobs (queue "sync", paced with the other Discogs work): the check of one library, and the
scheduled run every DISCOGS_NEW_RELEASES_INTERVAL_HOURS (RQ's scheduler, like the backups) that queues a
check of every own library whose owner has a Discogs token, then plans the next run."""

from __future__ import annotations

import logging
from typing import Any

from redis.exceptions import RedisError
from rq.job import Job

from services.common.db import get_redis, session_scope
from services.common.models import Library
from services.common.settings import get_settings
from services.domain import jobs
from services.domain.errors import Refused
from services.domain.new_releases import service
from services.domain.sources.base import SourceAuthError
from services.domain.sources.discogs.client import DiscogsClient

log = logging.getLogger(__name__)

QUEUE = jobs.SYNC_QUEUE
KIND = "new_releases"
JOB_TIMEOUT = 12 * 3600  # 60 requests a minute: a thousand artists take about 20 minutes
_CURRENT_KEY = "djp:new-releases:library:{}"
_SCHEDULED_KEY = "djp:new-releases:scheduled"


def check_library_job(library_id: int) -> dict[str, Any]:
    """Check one library's artists on Discogs (the owner's token); stage and percent in job.meta."""
    jobs.start_attempt()
    with session_scope() as session:
        library = session.get(Library, library_id)
        token = service.token_for_library(session=session, library=library) if library is not None else None
    if library is None:
        return {"library_id": library_id, "skipped": "the library no longer exists"}
    if token is None:
        jobs.report_progress(error=service.NEEDS_TOKEN, stage="failed")
        jobs.stop_retries()
        raise Refused(service.NEEDS_TOKEN, code="discogs_token_missing")

    def progress(done: int, total: int) -> None:
        jobs.report_progress(stage="checking", percent=int(100 * done / total) if total else 100,
                             done=done, total=total)

    client = DiscogsClient.from_settings(get_settings(), token=token)
    try:
        with session_scope() as session:
            summary = service.check_library(session=session, library_id=library_id, client=client, progress=progress)
            service.record_check(session=session, library_id=library_id, summary=summary)
    except SourceAuthError as exc:
        jobs.report_progress(error=f"Discogs refused the token: {exc}", stage="failed")
        jobs.stop_retries()
        raise
    finally:
        client.close()
    jobs.report_progress(stage="done", percent=100)
    return {"library_id": library_id, **summary.model_dump(mode="json")}


def current_job_id(library_id: int) -> str | None:
    """The check queued or running for this library, if any."""
    raw = get_redis().get(_CURRENT_KEY.format(library_id))
    job = jobs.fetch_job(raw.decode(), kind=KIND) if raw else None
    return job.id if job is not None and jobs.status_of(job) in jobs.LIVE_STATUSES else None


def enqueue_check(*, library_id: int, user_id: int | None = None) -> tuple[Job, bool]:
    """Queue a check unless one is queued or running for the library: (job, created). Redis errors propagate."""
    running = current_job_id(library_id)
    if running is not None:
        job = jobs.fetch_job(running, kind=KIND)
        if job is not None:
            return job, False
    job = jobs.enqueue(QUEUE, check_library_job, library_id, kind=KIND, library_id=library_id, user_id=user_id,
                       job_timeout=JOB_TIMEOUT, result_ttl=7 * 86400, failure_ttl=7 * 86400,
                       description=f"New releases from the artists of library {library_id}")
    get_redis().set(_CURRENT_KEY.format(library_id), job.id, ex=JOB_TIMEOUT + 86400)
    return job, True


# --- scheduled checks ----------------------------------------------------------------------------------


def scheduled_check_job() -> dict[str, Any]:
    """Every DISCOGS_NEW_RELEASES_INTERVAL_HOURS: a check of every own library whose owner has a token."""
    try:
        get_redis().delete(_SCHEDULED_KEY)
        queued, no_token = [], []
        with session_scope() as session:
            for library_id in service.checkable_library_ids(session=session):
                library = session.get(Library, library_id)
                if service.token_for_library(session=session, library=library) is None:
                    no_token.append(library_id)
                else:
                    queued.append(library_id)
        for library_id in queued:
            enqueue_check(library_id=library_id)
        return {"queued": queued, "no_token": no_token}
    finally:
        schedule_checks()


def schedule_checks() -> bool:
    """Plan the next scheduled check unless one is planned or DISCOGS_NEW_RELEASES_INTERVAL_HOURS is 0.
    Never raises for Redis (the worker's next start plans it again)."""
    try:
        return jobs.schedule_periodic(_SCHEDULED_KEY, get_settings().discogs_new_releases_interval_hours, QUEUE,
                                      scheduled_check_job, kind=KIND, job_timeout=3600,
                                      description="Scheduled check for new releases (every own library)") is not None
    except RedisError as exc:
        log.warning("could not plan the new-releases check: %s", exc)
        return False
