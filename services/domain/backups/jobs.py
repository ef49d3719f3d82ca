"""Backup jobs (queue "sync", with the other long maintenance work): create, restore, and the scheduled
backup that prunes by retention and plans the next one (RQ's scheduler, like the Discogs re-syncs).

Progress goes to job.meta (stage, percent); a refused restore stores its reason in meta["error"] and is
not retried (the file will not get better)."""

from __future__ import annotations

import logging
from typing import Any

from redis.exceptions import RedisError
from rq.job import Job

from services.common.db import get_redis
from services.common.settings import get_settings
from services.domain import jobs
from services.domain.backups import service
from services.domain.errors import DomainError

log = logging.getLogger(__name__)

QUEUE = jobs.SYNC_QUEUE
JOB_TIMEOUT = 6 * 3600
KINDS = ("backup", "restore")
_SCHEDULED_KEY = "djp:backups:scheduled"


def _report(stage: str, percent: int) -> None:
    jobs.report_progress(stage=stage, percent=percent)


def _run(action) -> dict[str, Any]:
    jobs.start_attempt()
    try:
        return action().model_dump(mode="json")
    except DomainError as exc:
        jobs.report_progress(error=exc.detail, stage="failed")
        jobs.stop_retries()
        raise


def create_backup_job(scheduled: bool = False) -> dict[str, Any]:
    result = _run(lambda: service.create_backup(scheduled=scheduled, progress=_report))
    if scheduled:
        result["pruned"] = service.prune_backups()
    return result


def restore_backup_job(name: str) -> dict[str, Any]:
    result = _run(lambda: service.restore_backup(name=name, progress=_report))
    if get_settings().meilisearch_host:  # the index follows the database it was built from: rebuild it
        try:
            from services.domain.search.service import request_rebuild

            result["search_rebuild_job"] = request_rebuild()
        except Exception as exc:  # noqa: BLE001 - the restore is done; the index can be rebuilt by hand
            log.warning("search index not rebuilt after the restore: %s", exc)
    return result


def scheduled_backup_job() -> dict[str, Any]:
    """Every BACKUP_INTERVAL_HOURS: a backup, pruning by retention, then the next one is planned."""
    try:
        get_redis().delete(_SCHEDULED_KEY)
        return create_backup_job(scheduled=True)
    finally:
        schedule_backups()


def enqueue_backup(*, user_id: int | None) -> Job:
    with jobs.queue_errors():
        return jobs.enqueue(QUEUE, create_backup_job, kind="backup", user_id=user_id, job_timeout=JOB_TIMEOUT,
                            result_ttl=7 * 86400, failure_ttl=7 * 86400, description="Database backup")


def enqueue_restore(*, name: str, user_id: int | None) -> tuple[Job, service.DumpCheck]:
    """Check the file first (a refused dump answers at once, 422), then queue the restore."""
    check = service.check_backup(name=name)
    with jobs.queue_errors():
        job = jobs.enqueue(QUEUE, restore_backup_job, name, kind="restore", user_id=user_id,
                            job_timeout=JOB_TIMEOUT, result_ttl=7 * 86400, failure_ttl=7 * 86400,
                            meta={"backup": name}, description=f"Restore of backup {name}")
    return job, check


def schedule_backups() -> bool:
    """Plan the next scheduled backup unless one is planned or BACKUP_INTERVAL_HOURS is 0. Never raises
    for Redis (the worker's next start plans it again)."""
    try:
        return jobs.schedule_periodic(_SCHEDULED_KEY, get_settings().backup_interval_hours, QUEUE,
                                      scheduled_backup_job, kind="backup", job_timeout=JOB_TIMEOUT,
                                      description="Scheduled database backup") is not None
    except RedisError as exc:
        log.warning("could not plan the scheduled backup: %s", exc)
        return False
