"""The job center: every background job a user may see, in one list, with cancel, retry and a
stream of changes. Jobs come from the index `jobs.enqueue` keeps; access follows the library rule
(read to see, operate to cancel or retry); jobs of no library (re-index) are the admins'.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from redis.exceptions import RedisError
from rq.command import send_stop_job_command
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job
from rq.registry import CanceledJobRegistry, FailedJobRegistry
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.common.db import get_redis
from services.common.models import Library, User
from services.domain import jobs
from services.domain.access import visible_library_ids
from services.domain.errors import Conflict, Forbidden, NotFound
from services.domain.jobcenter.models import JobFilter, JobView

_DETAIL_KEYS = ("method", "source", "why", "url", "mode", "timings", "analysis", "note", "processed", "total")
CANCELLABLE = jobs.LIVE_STATUSES  # statuses a job can be cancelled in
RETRYABLE = ("failed", "stopped", "canceled")  # statuses a job can be run again from
SCAN_FACTOR = 4  # index entries read per job asked for, before filtering by kind, status or track


def view(job: Job, *, with_result: bool = True) -> JobView:
    """The job as the job center shows it; `with_result=False` saves a Redis round trip per
    finished job (lists and the event stream)."""
    meta = dict(job.meta or {})
    status = jobs.status_of(job)
    stage = meta.get("stage")
    if status in ("canceled", "stopped"):
        stage = "cancelled"
    elif status == "failed":
        stage = "failed"
    elif status == "finished":
        stage = "done"
    result: Any = None
    if status == "finished" and with_result:
        latest = job.latest_result()
        result = getattr(latest, "return_value", None) if latest else None
    details = {k: meta[k] for k in _DETAIL_KEYS if meta.get(k) is not None}
    if isinstance(result, dict):
        details["result"] = result
    retry_intervals = job.retry_intervals or []
    return JobView(
        id=job.id,
        kind=str(meta.get("kind") or "job"),
        kind_label=jobs.KIND_LABELS.get(str(meta.get("kind")), str(meta.get("kind") or "job")),
        status=status,
        stage=stage,
        percent=100 if status == "finished" else int(meta.get("percent") or 0),
        description=job.description,
        library_id=meta.get("library_id"),
        track_pk=meta.get("track_pk"),
        enqueued_at=job.enqueued_at,
        started_at=job.started_at,
        ended_at=job.ended_at,
        error=None if status == "finished" else jobs.failure_reason(job),
        retries_left=job.retries_left,
        attempts=int(meta.get("attempts") or 0) or (1 if job.started_at else 0),
        details=details | ({"retry_intervals": retry_intervals} if retry_intervals else {}),
    )


def _readable_ids(session: Session, user: User) -> set[int]:
    return set(session.scalars(visible_library_ids(user)))


def _owned_ids(session: Session, user: User) -> set[int]:
    return set(session.scalars(select(Library.id).where(Library.owner_id == user.id)))


def _may_see(job: Job, *, user: User, readable: set[int]) -> bool:
    library_id = (job.meta or {}).get("library_id")
    if library_id is None:
        return bool(user.is_admin)
    return int(library_id) in readable


def _may_operate(job: Job, *, session: Session, user: User) -> bool:
    meta = job.meta or {}
    if meta.get("library_id") is None:
        return bool(user.is_admin)
    return int(meta["library_id"]) in _owned_ids(session, user) or meta.get("user_id") == user.id


def _recent_ids(library_ids: list[int | None], count: int) -> list[str]:
    """The newest `count` job ids over these libraries' indexes (None: jobs of no library)."""
    redis = get_redis()
    with redis.pipeline() as pipe:
        for library_id in library_ids:
            pipe.zrevrange(jobs.index_key(library_id), 0, count - 1, withscores=True)
        found = [item for part in pipe.execute() for item in part]
    found.sort(key=lambda item: item[1], reverse=True)
    return [raw.decode() if isinstance(raw, bytes) else str(raw) for raw, _ in found[:count]]


def _matches(view_: JobView, filters: JobFilter) -> bool:
    return ((filters.kind is None or view_.kind == filters.kind)
            and (filters.status is None or view_.status == filters.status)
            and (filters.library_id is None or view_.library_id == filters.library_id)
            and (filters.track_pk is None or view_.track_pk == filters.track_pk))


def visible_jobs(*, session: Session, user: User, filters: JobFilter) -> list[JobView]:
    """The newest jobs the user may see, filtered, newest first."""
    readable = _readable_ids(session, user)
    libraries: list[int | None] = sorted(readable)
    if filters.library_id is not None:
        libraries = [filters.library_id] if filters.library_id in readable else []
    elif user.is_admin:
        libraries.append(None)
    found: list[JobView] = []
    with jobs.queue_errors():
        ids = _recent_ids(libraries, max(filters.limit * SCAN_FACTOR, 200))
        for job in Job.fetch_many(ids, connection=get_redis()):
            if job is None or not _may_see(job, user=user, readable=readable):
                continue
            item = view(job, with_result=False)
            if _matches(item, filters):
                found.append(item)
                if len(found) >= filters.limit:
                    break
    return found


def _job_for(session: Session, user: User, job_id: str) -> Job:
    job = jobs.fetch_job(job_id)
    if job is None or (job.meta or {}).get("kind") in (None, "search_sync") \
            or not _may_see(job, user=user, readable=_readable_ids(session, user)):
        raise NotFound("job not found")
    return job


def get_job(*, session: Session, user: User, job_id: str) -> JobView:
    with jobs.queue_errors():
        return view(_job_for(session, user, job_id))


def cancel_job(*, session: Session, user: User, job_id: str) -> JobView:
    """Stop a running job or drop a queued one. Finished, failed or cancelled jobs: 409."""
    with jobs.queue_errors():
        job = _job_for(session, user, job_id)
        if not _may_operate(job, session=session, user=user):
            raise Forbidden("only the library's owner can cancel its jobs")
        _cancel(job)
        job.refresh()
        return view(job)


def _cancel(job: Job) -> None:
    status = jobs.status_of(job)
    if status == "started":
        try:
            send_stop_job_command(get_redis(), job.id)
        except InvalidJobOperation:
            pass  # it finished in between
        job.meta.update(stage="cancelled")
        job.save_meta()
    elif status in CANCELLABLE:
        job.meta.update(stage="cancelled")
        job.save_meta()
        job.cancel()
    else:
        raise Conflict(f"the job is {status}: nothing to cancel", code="job_not_running")


def retry_job(*, session: Session, user: User, job_id: str) -> JobView:
    """Run a failed or cancelled job again (same id, same arguments). It takes a slot of the retrying
    user's cap for its kind, as queueing it did (`jobs.claim_user_slot`): TooManyJobs (429) at the cap."""
    with jobs.queue_errors():
        job = _job_for(session, user, job_id)
        if not _may_operate(job, session=session, user=user):
            raise Forbidden("only the library's owner can retry its jobs")
        status = jobs.status_of(job)
        registry_class = CanceledJobRegistry if status == "canceled" else FailedJobRegistry
        if status not in RETRYABLE:
            raise Conflict(f"the job is {status}: only failed or cancelled jobs can be retried",
                           code="job_not_retryable")
        slot = jobs.claim_user_slot(user_id=user.id, kind=str((job.meta or {}).get("kind")), job_id=job.id,
                                    requeue=True)
        try:
            job.meta.update(stage="queued", percent=0, error=None)
            job.save_meta()
            registry_class(job.origin, connection=get_redis()).requeue(job)
        except (InvalidJobOperation, NoSuchJobError):
            jobs.release_user_slot(slot)
            raise Conflict("the job can no longer be retried (expired)", code="job_not_retryable") from None
        except BaseException:
            jobs.release_user_slot(slot)
            raise
        jobs.release_user_slot(slot, requeued=True)
        job.refresh()
        return view(job)


def cancel_library_jobs(library_id: int) -> int:
    """Cancel every live job of a library (it is being deleted). Best effort: Redis down → 0."""
    cancelled = 0
    try:
        for job in Job.fetch_many(_recent_ids([library_id], jobs.INDEX_SIZE), connection=get_redis()):
            if job is None or (job.meta or {}).get("library_id") != library_id:
                continue
            if jobs.status_of(job) in jobs.LIVE_STATUSES:
                try:
                    _cancel(job)
                    cancelled += 1
                except (Conflict, InvalidJobOperation):
                    pass
    except RedisError:
        return cancelled
    return cancelled


def snapshot(*, session: Session, user: User, limit: int = 50) -> dict[str, JobView]:
    """The user's newest jobs by id: what the event stream compares against."""
    return {v.id: v for v in visible_jobs(session=session, user=user, filters=JobFilter(limit=limit))}


def changes(before: dict[str, JobView], after: dict[str, JobView]) -> Iterable[JobView]:
    """Jobs that are new or whose state moved since `before`."""
    for job_id, current in after.items():
        previous = before.get(job_id)
        if previous is None or previous.model_dump(exclude={"details"}) != current.model_dump(exclude={"details"}):
            yield current
