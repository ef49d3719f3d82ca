"""Search index jobs (queue "search", MeiliSearch only): drain the outbox of changed tracks every
few seconds, and rebuild the whole index on request."""

from __future__ import annotations

import logging
from datetime import timedelta

from redis.exceptions import RedisError

from services.common.db import get_redis, session_scope
from services.common.settings import get_settings
from services.domain import jobs

log = logging.getLogger(__name__)

SYNC_EVERY = timedelta(seconds=2)
MAX_ROUNDS = 50  # batches per run; what is left waits for the next run
_SCHEDULED_KEY = "djp:search:sync-scheduled"


def _backend():
    from services.domain.search.meili import MeiliBackend

    return MeiliBackend()


def sync_search_index_job() -> int:
    """Push queued track changes into the index, then plan the next run."""
    get_redis().delete(_SCHEDULED_KEY)
    pushed = 0
    try:
        backend = _backend()
        with session_scope() as session:
            for _ in range(MAX_ROUNDS):
                done = backend.drain_outbox(session=session)
                pushed += done
                if not done:
                    break
        return pushed
    finally:
        schedule_index_sync()


def rebuild_index_job() -> int:
    with session_scope() as session:
        written = _backend().rebuild(session=session)
    log.info("search index rebuilt with %s tracks", written)
    return written


def schedule_index_sync() -> bool:
    """Plan the next outbox drain unless one is planned (MeiliSearch only). False when not planned."""
    if not get_settings().meilisearch_host:
        return False
    try:
        if not get_redis().set(_SCHEDULED_KEY, "1", nx=True, ex=int(SYNC_EVERY.total_seconds() * 30)):
            return False
        jobs.queue(jobs.SEARCH_QUEUE).enqueue_in(SYNC_EVERY, sync_search_index_job, result_ttl=60,
                                                 meta={"kind": "search_sync"}, description="Search index sync")
    except RedisError as exc:  # the next start or run plans it again
        log.warning("could not plan the search index sync: %s", exc)
        return False
    return True


def enqueue_rebuild() -> str:
    with jobs.queue_errors():
        job = jobs.enqueue(jobs.SEARCH_QUEUE, rebuild_index_job, kind="search_rebuild", job_timeout=6 * 3600,
                           result_ttl=86400, description="Rebuild the search index")
    return job.id
