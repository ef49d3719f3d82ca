"""The job queue (RQ on Redis): queue names, enqueueing, reading a job back, reporting progress.

Queues are named by kind so a long sync never starves an analysis; the worker
(`python -m services.download_worker [queue ...]`) listens on them in `ALL_QUEUES` order. Job
functions live next to the code they run (`collection/jobs.py`, `analysis/jobs.py`) and are
enqueued by reference, so a name is written once. Redis failures become `Unavailable` here.

Per-user caps: a job enqueued for a user (`user_id`) takes one of their slots for its kind
(JOBS_MAX_QUEUED_PER_USER, JOBS_MAX_SYNCS_PER_USER for syncs), claimed atomically before it is queued and
held while it is queued, scheduled or running; past the cap `enqueue` raises `TooManyJobs` (HTTP 429).
Jobs the system queues by itself (scheduled re-syncs, analysis after a download) carry no user and no cap.
A job retried from the job center takes a slot of the user retrying it by the same rule (`claim_user_slot`).

Kinds: `KINDS` is the one list of job kinds; `enqueue` refuses any other, and the job center's kind filter
(API and page) is built from it, so a new kind is filterable as soon as it can be queued.
"""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import timedelta, timezone
from typing import Any, TypeVar

from pydantic import BaseModel
from redis.exceptions import RedisError
from rq import Queue, get_current_job
from rq.exceptions import NoSuchJobError
from rq.job import Job

from services.common.db import get_redis
from services.common.processes import pid_alive
from services.common.settings import get_settings
from services.domain.errors import RateLimited, Unavailable

T = TypeVar("T")

SYNC_QUEUE = "sync"
ANALYSIS_QUEUE = "analysis"
DOWNLOAD_QUEUE = "download"
SEARCH_QUEUE = "search"
ENRICHMENT_QUEUE = "enrichment"  # platform-link matching: never behind a long Discogs sync
EMBEDDINGS_QUEUE = "embeddings"  # track embeddings (services/domain/embeddings/jobs.py)
ALL_QUEUES = (SEARCH_QUEUE, ANALYSIS_QUEUE, DOWNLOAD_QUEUE, ENRICHMENT_QUEUE, EMBEDDINGS_QUEUE, SYNC_QUEUE)
# Every kind of job `enqueue` accepts (the job center lists and filters by these): add a new kind here.
KINDS = ("sync", "download", "analysis", "embeddings", "embeddings_backfill", "search_rebuild", "enrichment",
         "new_releases", "repair", "backup", "restore")
# What the pages call each kind (the API and the filter keep the kind itself).
KIND_LABELS = {"sync": "Discogs sync", "download": "download", "analysis": "analysis", "embeddings": "embeddings",
               "embeddings_backfill": "embeddings (every track)", "search_rebuild": "search index rebuild",
               "enrichment": "platform links", "new_releases": "new releases check", "repair": "drift repair",
               "backup": "backup", "restore": "restore"}
LIVE_STATUSES = ("queued", "started", "scheduled", "deferred")
# Every job a person may want to see (the job center lists these), scored by enqueue time: one index
# per library, one for jobs of no library (re-index, admins'); each trimmed to INDEX_SIZE.
INDEX_KEY = "djp:jobs:index:{}"
INDEX_SIZE = 5_000
ALIVE_KEY = "djp:jobs:alive:{}"
ALIVE_TTL = 20  # seconds a running job's heartbeat lasts; a dead worker's job is recovered after it
# A user's live jobs of one kind: job ids scored by enqueue time (pruned of ended jobs when full).
USER_JOBS_KEY = "djp:jobs:user:{}:{}"
USER_LIMIT_RETRY_AFTER = 60  # seconds suggested to a user at their cap
SLOT_GRACE = 30  # seconds a claimed slot counts before its job exists (it is being queued)
# Set while an ended job is being queued again (a retry): its slot counts although its status is still ended.
REQUEUING_KEY = "djp:jobs:requeuing:{}"
# KEYS[1]: the user's set; ARGV: limit, job id, time. 1 = slot taken, 0 = full.
_TAKE_SLOT = """
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], tonumber(ARGV[3]), ARGV[2])
redis.call('EXPIRE', KEYS[1], 30 * 86400)
return 1
"""


class TooManyJobs(RateLimited):
    """The user already has as many jobs of this kind queued or running as they may (HTTP 429)."""

    def __init__(self, *, kind: str, limit: int, setting: str) -> None:
        super().__init__(f"you already have {limit} {kind} jobs queued or running, the most allowed "
                         f"({setting}={limit}): wait for some to finish or cancel them",
                         retry_after=USER_LIMIT_RETRY_AFTER, code="too_many_jobs")
        self.kind = kind
        self.limit = limit


@contextmanager
def queue_errors() -> Iterator[None]:
    """Turn a Redis failure into `Unavailable` (HTTP 503): the request can be tried again later."""
    try:
        yield
    except RedisError as exc:
        raise Unavailable(f"job queue unavailable (Redis): {type(exc).__name__}", code="queue_unavailable") from None


def queue(name: str) -> Queue:
    return Queue(name, connection=get_redis())


def enqueue(queue_name: str, func: Callable[..., Any], *args: Any, kind: str, library_id: int | None = None,
            track_pk: int | None = None, user_id: int | None = None, meta: dict[str, Any] | None = None,
            at: timedelta | None = None, **options: Any) -> Job:
    """Queue `func(*args)` with the meta every job carries (kind, library, track, stage, percent) and
    list it in the job index. `at`: run after this delay (scheduled). Redis errors propagate."""
    if kind not in KINDS:
        raise ValueError(f"unknown job kind {kind!r}: add it to services.domain.jobs.KINDS")
    full_meta = {"kind": kind, "library_id": library_id, "track_pk": track_pk, "user_id": user_id,
                 "stage": "queued", "percent": 0, **(meta or {})}
    q = queue(queue_name)
    slot = None
    if user_id is not None:  # the job id is chosen here so the slot can name it, and handed to RQ
        slot = claim_user_slot(user_id=user_id, kind=kind, job_id=options.setdefault("job_id", str(uuid.uuid4())))
    try:
        job = (q.enqueue_in(at, func, *args, meta=full_meta, **options) if at is not None
               else q.enqueue(func, *args, meta=full_meta, **options))
    except BaseException:
        release_user_slot(slot)
        raise
    key = index_key(library_id)
    with get_redis().pipeline() as pipe:
        pipe.zadd(key, {job.id: time.time()})
        pipe.zremrangebyrank(key, 0, -INDEX_SIZE - 1)
        pipe.execute()
    return job


TRACK_JOB_KEY = "djp:{}:track:{}"  # (kind, track id) -> the id of the track's latest job of that kind
TRACK_JOB_TTL = 8 * 86400


def live_track_job(*, kind: str, track_pk: int) -> Job | None:
    """The track's queued or running job of this kind, if any (one live download or analysis per track)."""
    previous = get_redis().get(TRACK_JOB_KEY.format(kind, track_pk))
    if previous:
        job = fetch_job(previous.decode(), kind=kind)
        if job is not None and status_of(job) in LIVE_STATUSES:
            return job
    return None


def remember_track_job(*, kind: str, track_pk: int, job: Job) -> None:
    get_redis().set(TRACK_JOB_KEY.format(kind, track_pk), job.id, ex=TRACK_JOB_TTL)


BATCH_MAX = 2000  # tracks one batch request may queue; the rest wait for the next request


class BatchQueued(BaseModel):
    queued: int  # new jobs
    already_queued: int  # tracks that had a job of this kind queued or running
    skipped: int  # tracks left for a later request (over BATCH_MAX, or past the user's job cap)
    job_ids: list[str]
    skipped_reason: str | None = None  # why tracks were skipped (BATCH_MAX, or the cap's setting and value)


def queue_batch(items: Iterable[T], enqueue_one: Callable[[T], tuple[Job, bool]]) -> BatchQueued:
    """Queue a job per item (`enqueue_one` -> (job, created)) up to BATCH_MAX and the user's job cap; the rest
    are skipped, with why. Redis errors become `Unavailable`."""
    queued = already = skipped = 0
    ids: list[str] = []
    reason: str | None = None
    with queue_errors():
        for item in items:
            if reason is None and queued + already >= BATCH_MAX:
                reason = f"at most {BATCH_MAX} tracks per request: ask again for the rest"
            if reason is not None:
                skipped += 1
                continue
            try:
                job, created = enqueue_one(item)
            except TooManyJobs as exc:
                reason = exc.detail
                skipped += 1
                continue
            ids.append(job.id)
            queued += created
            already += not created
    return BatchQueued(queued=queued, already_queued=already, skipped=skipped, job_ids=ids, skipped_reason=reason)


def schedule_periodic(key: str, hours: float, queue_name: str, func: Callable[..., Any], *args: Any, kind: str,
                      description: str, **options: Any) -> Job | None:
    """Plan one run of `func(*args)` in `hours` unless `key` says one is planned (the job itself deletes `key`
    when it starts, then plans the next). None when `hours` <= 0 or a run is planned. `key` holds the job
    id ("planning" while it is queued) for twice the interval; dropped again when queueing fails. Redis
    errors propagate (callers log them: the worker's next start plans again)."""
    if hours <= 0:
        return None
    redis, ttl = get_redis(), int(hours * 3600 * 2) + 60
    if not redis.set(key, "planning", nx=True, ex=ttl):
        return None
    try:
        job = enqueue(queue_name, func, *args, kind=kind, at=timedelta(hours=hours), result_ttl=7 * 86400,
                      failure_ttl=7 * 86400, meta={"scheduled": True}, description=description, **options)
    except BaseException:
        redis.delete(key)
        raise
    redis.set(key, job.id, ex=ttl)
    return job


def user_job_limit(kind: str) -> tuple[int, str]:
    """(the cap on a user's live jobs of this kind, the setting it comes from); 0 = no cap."""
    settings = get_settings()
    if kind == "sync":
        return settings.jobs_max_syncs_per_user, "JOBS_MAX_SYNCS_PER_USER"
    return settings.jobs_max_queued_per_user, "JOBS_MAX_QUEUED_PER_USER"


def claim_user_slot(*, user_id: int, kind: str, job_id: str, requeue: bool = False) -> tuple[str, str] | None:
    """Claim one of the user's slots for the job `job_id` of this kind, the per-user cap's one rule (a new
    job from `enqueue`, an ended one queued again from the job center with `requeue=True`): (set key, job
    id) to hand to `release_user_slot` should queueing fail, None when the kind has no cap. TooManyJobs
    when full, after dropping the ids of jobs that ended. With `requeue`, the caller must call
    `release_user_slot(slot, requeued=True)` once the job is queued again."""
    limit, setting = user_job_limit(kind)
    if not limit:
        return None
    key = USER_JOBS_KEY.format(user_id, kind)
    redis = get_redis()
    if requeue:  # the job's status still says it ended: keep a concurrent prune from dropping its slot
        redis.set(REQUEUING_KEY.format(job_id), "1", ex=SLOT_GRACE)
    for attempt in range(2):
        if redis.eval(_TAKE_SLOT, 1, key, limit, job_id, time.time()):
            return key, job_id
        if attempt == 0:
            prune_user_jobs(key)
    if requeue:
        redis.delete(REQUEUING_KEY.format(job_id))
    raise TooManyJobs(kind=kind, limit=limit, setting=setting)


def release_user_slot(slot: tuple[str, str] | None, *, requeued: bool = False) -> None:
    """After `claim_user_slot`: give the slot back (queueing failed), or with `requeued=True` keep it
    (the job is queued again and its status now holds it). Best effort: a slot left behind is dropped at
    the next prune (its job has ended or does not exist)."""
    if slot is None:
        return
    key, job_id = slot
    try:
        with get_redis().pipeline(transaction=False) as pipe:
            if not requeued:
                pipe.zrem(key, job_id)
            pipe.delete(REQUEUING_KEY.format(job_id))
            pipe.execute()
    except RedisError:
        pass


def prune_user_jobs(key: str) -> int:
    """Drop from a user's set the jobs that are no longer queued, scheduled or running (finished,
    failed, cancelled, expired). Returns how many are left."""
    redis = get_redis()
    entries = [(raw.decode() if isinstance(raw, bytes) else str(raw), score)
               for raw, score in redis.zrange(key, 0, -1, withscores=True)]
    if not entries:
        return 0
    with redis.pipeline(transaction=False) as pipe:
        for job_id, _ in entries:
            pipe.hget(Job.key_for(job_id), "status")
            pipe.exists(REQUEUING_KEY.format(job_id))
        replies = pipe.execute()
    statuses, requeuing = replies[0::2], replies[1::2]
    now = time.time()
    ended = [job_id for (job_id, score), status, again in zip(entries, statuses, requeuing, strict=True)
             if (status.decode() if isinstance(status, bytes) else status) not in LIVE_STATUSES
             # no job yet: a slot just claimed whose job is being queued right now
             and not (status is None and now - score < SLOT_GRACE)
             and not again]  # an ended job being queued again (a retry)
    if ended:
        redis.zrem(key, *ended)
    return len(entries) - len(ended)


def user_live_jobs(user_id: int, kind: str) -> int:
    """How many jobs of this kind the user has queued, scheduled or running (counted against the cap)."""
    return prune_user_jobs(USER_JOBS_KEY.format(user_id, kind))


def index_key(library_id: int | None) -> str:
    return INDEX_KEY.format(library_id if library_id is not None else "none")


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


def start_attempt() -> None:
    """A (re)started job: count the attempt and forget the previous attempt's error and stage."""
    job = get_current_job()
    if job is not None:
        job.meta.update(attempts=int(job.meta.get("attempts") or 0) + 1, error=None, stage="starting", percent=0)
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


@contextmanager
def heartbeat() -> Iterator[None]:
    """Keep a short-lived "alive" key for the running job, so a job whose worker was killed is found
    within ALIVE_TTL seconds (see `recover_abandoned`) rather than after RQ's own timeouts."""
    job_id = current_job_id()
    if job_id is None:
        yield
        return
    stop = threading.Event()
    key = ALIVE_KEY.format(job_id)

    def beat() -> None:
        while True:
            try:
                get_redis().set(key, "1", ex=ALIVE_TTL)
            except RedisError:
                pass
            if stop.wait(ALIVE_TTL / 4):
                break

    thread = threading.Thread(target=beat, name="job-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)
        try:
            get_redis().delete(key)
        except RedisError:
            pass


def release_dead_scheduler_locks(queue_names: list[str]) -> list[str]:
    """Scheduler locks held by a scheduler process of this machine that no longer exists (its worker
    was killed): release them, so the worker starting now schedules at once instead of after RQ's
    lock timeout and fallback period (minutes, during which delayed retries would not run)."""
    from rq.scheduler import SCHEDULER_KEY_TEMPLATE, RQScheduler

    connection = get_redis()
    released = []
    for name in queue_names:
        key = RQScheduler.get_locking_key(name)
        holder = connection.get(key)
        if not holder:
            continue
        info = connection.hgetall(SCHEDULER_KEY_TEMPLATE % holder.decode())
        host = (info.get(b"hostname") or b"").decode()
        pid = int(info.get(b"pid") or 0)
        if host == socket.gethostname() and pid and not pid_alive(pid):
            connection.delete(key)
            released.append(name)
    return released


def recover_abandoned(queue_name: str) -> list[str]:
    """Jobs of this queue marked started whose heartbeat has stopped (their worker died): mark their
    execution expired and let RQ's own cleanup retry them (or fail them when out of retries)."""
    from rq.registry import StartedJobRegistry

    connection = get_redis()
    registry = StartedJobRegistry(queue_name, connection=connection)
    recovered: list[str] = []
    for raw in connection.zrange(registry.key, 0, -1):
        entry = raw.decode() if isinstance(raw, bytes) else str(raw)
        job_id = entry.split(":", 1)[0]
        if connection.exists(ALIVE_KEY.format(job_id)):
            continue
        job = fetch_job(job_id)
        if job is None or not (job.meta or {}).get("heartbeat"):
            continue  # only jobs that keep a heartbeat can be judged by it
        started = job.started_at.replace(tzinfo=job.started_at.tzinfo or timezone.utc).timestamp() \
            if job.started_at else 0
        if time.time() - started < ALIVE_TTL:
            continue  # just started: its first beat may not be written yet
        connection.zadd(registry.key, {entry: 1})  # expired long ago
        recovered.append(job_id)
    if recovered:
        registry.cleanup()
    return recovered
