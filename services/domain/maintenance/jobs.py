"""The drift-repair job (queue "sync", with the other maintenance work): every REPAIR_INTERVAL_HOURS
(RQ's scheduler, like the backups), or on request (`POST /api/admin/repair`). It only finds and queues:
the embedding and rebuild work runs on the embeddings and search queues."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from redis.exceptions import RedisError
from rq.registry import ScheduledJobRegistry

from services.common.db import get_redis, session_scope
from services.common.settings import get_settings
from services.domain import jobs
from services.domain.maintenance import service

log = logging.getLogger(__name__)

QUEUE = jobs.SYNC_QUEUE
KIND = "repair"
JOB_TIMEOUT = 3600
_SCHEDULED_KEY = "djp:repair:scheduled"  # the id of the planned run


def repair_job(scheduled: bool = False) -> dict[str, Any]:
    """Find embeddings and search drift and queue their repair; a scheduled run plans the next one."""
    try:
        if scheduled:
            get_redis().delete(_SCHEDULED_KEY)
        jobs.start_attempt()
        jobs.report_progress(stage="checking", percent=0)
        with session_scope() as session:
            run = service.repair_drift(session=session, job_id=jobs.current_job_id())
        jobs.report_progress(stage="done", percent=100)
        return run.model_dump(mode="json")
    finally:
        if scheduled:
            schedule_repair()


def enqueue_repair(*, user_id: int | None = None) -> str:
    """Run a repair now (raises Unavailable when Redis is down); the job id."""
    with jobs.queue_errors():
        return jobs.enqueue(QUEUE, repair_job, kind=KIND, user_id=user_id, job_timeout=JOB_TIMEOUT,
                            result_ttl=7 * 86400, failure_ttl=7 * 86400,
                            description="Repair embeddings and search drift").id


def schedule_repair() -> bool:
    """Plan the next scheduled repair unless one is planned or REPAIR_INTERVAL_HOURS is 0. Never raises for
    Redis (the worker's next start plans it again)."""
    try:
        return jobs.schedule_periodic(_SCHEDULED_KEY, get_settings().repair_interval_hours, QUEUE, repair_job, True,
                                      kind=KIND, job_timeout=JOB_TIMEOUT,
                                      description="Scheduled repair of embeddings and search drift") is not None
    except RedisError as exc:
        log.warning("could not plan the drift repair: %s", exc)
        return False


def next_repair_at() -> datetime | None:
    """When the planned repair runs (None when none is planned, or Redis cannot tell)."""
    try:
        raw = get_redis().get(_SCHEDULED_KEY)
        job = jobs.fetch_job(raw.decode()) if raw and raw != b"planning" else None
        if job is None or jobs.status_of(job) != "scheduled":
            return None
        return ScheduledJobRegistry(queue=jobs.queue(QUEUE)).get_scheduled_time(job)
    except (RedisError, ValueError):
        return None
