"""Embedding jobs (queue "embeddings"): keeping track embeddings in step with the tracks.

- `embed_soon(track_pks=...)`: what an import, a sync, an edit or an analysis calls. The tracks go into a
  pending set in Redis and one job is scheduled a few seconds later (unless one already is), which embeds
  everything pending: a thousand analyses make a handful of jobs, not a thousand. Never raises: an edit
  does not fail because Redis is down (the next backfill or worker start catches up).
- `enqueue_backfill(library_id=...)`: the whole library (or every library), with stage and percent in
  job.meta; also what the worker starts with when the active model has tracks missing — so switching
  EMBEDDINGS_PROVIDER re-embeds in the background.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from redis.exceptions import RedisError
from rq.job import Job

from services.common.db import get_redis, session_scope
from services.domain import jobs
from services.domain.embeddings import service
from services.domain.errors import DomainError

log = logging.getLogger(__name__)

JOB_TIMEOUT = 6 * 3600
PENDING_KEY = "djp:embeddings:pending"
SCHEDULED_KEY = "djp:embeddings:scheduled"
DEBOUNCE = timedelta(seconds=3)
DRAIN_MAX = 2000  # tracks per pending-drain run; the rest waits for the next run
SMALL_BATCH = 64


# --- the jobs the worker runs --------------------------------------------------------------------------


def embed_tracks_job(track_pks: list[int]) -> dict:
    """Embed these tracks (unchanged ones are skipped), reporting stage and percent."""
    jobs.start_attempt()
    total = len(track_pks)
    summary: dict = {}
    with session_scope() as session:
        jobs.report_progress(stage="embedding", percent=0, done=0, total=total)
        for start in range(0, total, SMALL_BATCH):
            part = service.embed_tracks(session, track_pks=track_pks[start:start + SMALL_BATCH])
            session.commit()
            summary = _add(summary, part)
            done = min(total, start + SMALL_BATCH)
            jobs.report_progress(stage="embedding", percent=int(100 * done / max(1, total)), done=done, total=total)
    jobs.report_progress(stage="done", percent=100)
    return summary


def embed_pending_job() -> dict:
    """Embed the tracks queued by `embed_soon`; plans another run when more are waiting."""
    connection = get_redis()
    connection.delete(SCHEDULED_KEY)  # a change from now on plans a new run
    raw = connection.spop(PENDING_KEY, DRAIN_MAX) or []
    track_pks = sorted({int(v) for v in raw})
    try:
        return embed_tracks_job(track_pks)
    except Exception:
        if track_pks:  # not lost: the next run tries them again
            connection.sadd(PENDING_KEY, *track_pks)
        raise
    finally:
        if connection.scard(PENDING_KEY):
            _schedule_pending()


def backfill_job(library_id: int | None = None) -> dict:
    """Embed every live track of the library (or of all libraries)."""
    jobs.start_attempt()
    jobs.report_progress(stage="loading model", percent=0)
    service.warm_up()

    def progress(done: int, total: int) -> None:
        jobs.report_progress(stage="embedding", percent=int(100 * done / total) if total else 100,
                             done=done, total=total)

    with jobs.heartbeat(), session_scope() as session:
        result = service.backfill(session, library_id=library_id, progress=progress)
    jobs.report_progress(stage="done", percent=100)
    return result


def _add(total: dict, part: dict) -> dict:
    if not total:
        return {k: (dict(v) if isinstance(v, dict) else v) for k, v in part.items()}
    total["tracks"] += part["tracks"]
    for kind in service.KINDS:
        for key, value in part[kind].items():
            total[kind][key] += value
    return total


# --- enqueueing -----------------------------------------------------------------------------------------


def _schedule_pending() -> bool:
    connection = get_redis()
    if not connection.set(SCHEDULED_KEY, "1", nx=True, ex=int(DEBOUNCE.total_seconds() * 60)):
        return False
    jobs.enqueue(jobs.EMBEDDINGS_QUEUE, embed_pending_job, kind="embeddings", at=DEBOUNCE,
                 job_timeout=JOB_TIMEOUT, result_ttl=3600, failure_ttl=7 * 86400,
                 description="Embed changed tracks")
    return True


def embed_soon(*, track_pks: list[int]) -> bool:
    """Queue these tracks for (re-)embedding in a few seconds. False when nothing was queued (no tracks,
    or Redis unreachable: logged, never raised — the next backfill catches up)."""
    ids = sorted({int(pk) for pk in track_pks})
    if not ids:
        return False
    try:
        get_redis().sadd(PENDING_KEY, *ids)
        _schedule_pending()
    except (RedisError, DomainError, OSError) as exc:
        log.warning("could not queue %s track(s) for embedding: %s", len(ids), exc)
        return False
    return True


def embed_library_soon(*, library_id: int) -> Job | None:
    """After an import or sync: embed the library's tracks in the background (None when Redis is down)."""
    try:
        return enqueue_backfill(library_id=library_id)
    except DomainError as exc:
        log.warning("could not queue the embeddings of library %s: %s", library_id, exc.detail)
        return None


def enqueue_backfill(*, library_id: int | None = None) -> Job:
    """Queue a backfill of one library (or all); raises Unavailable when Redis is down."""
    with jobs.queue_errors():
        return jobs.enqueue(jobs.EMBEDDINGS_QUEUE, backfill_job, library_id, kind="embeddings_backfill",
                            library_id=library_id, job_timeout=JOB_TIMEOUT, result_ttl=86400,
                            failure_ttl=7 * 86400, meta={"heartbeat": True},
                            description=f"Embed the tracks of library {library_id}" if library_id is not None
                            else "Embed every track")


def catch_up() -> Job | None:
    """At worker start: when the active models have tracks without embeddings (a new install, a switched
    EMBEDDINGS_PROVIDER, changes made while Redis was down), queue one backfill of everything."""
    try:
        with session_scope() as session:
            status = service.embedding_status(session)
        if status["complete"]:
            return None
        log.info("embeddings: %s text and %s audio vectors missing for %s; backfilling",
                 status["text"]["missing"], status["audio"]["missing"], status["text_model"])
        return enqueue_backfill()
    except Exception as exc:  # noqa: BLE001 - never keep the worker from starting
        log.warning("embeddings catch-up not queued: %s", exc)
        return None
