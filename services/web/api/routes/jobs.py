"""The job center: every background job you may see (syncs, downloads, analyses, re-index), with
cancel, retry, and a Server-Sent Events stream of changes."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Annotated

from anyio import to_thread
from fastapi import APIRouter, Query, Request
from sse_starlette import EventSourceResponse

from services.common.db import session_scope
from services.common.models import User
from services.domain.jobcenter import service
from services.domain.jobcenter.models import JobFilter, JobView
from services.web.api.deps import CurrentUser, SessionDep

router = APIRouter(prefix="/api/jobs", tags=["jobs"])
POLL_SECONDS = 1.0
STREAM_MAX_SECONDS = 30 * 60  # then the browser's EventSource reconnects by itself


@router.get("", response_model=list[JobView])
def list_jobs(user: CurrentUser, session: SessionDep, filters: Annotated[JobFilter, Query()]) -> list[JobView]:
    """Your newest jobs first; filter by kind, status, library or track."""
    return service.visible_jobs(session=session, user=user, filters=filters)


def _snapshot(user_id: int) -> dict[str, JobView]:
    with session_scope() as session:
        user = session.get(User, user_id)
        if user is None:
            return {}
        return service.snapshot(session=session, user=user)


@router.get("/events", response_class=EventSourceResponse)
async def job_events(request: Request, user: CurrentUser, session: SessionDep) -> EventSourceResponse:
    """`text/event-stream`: an `update` event (a job as JSON) whenever one of your jobs appears or
    changes stage, percent or status; checked every second."""
    user_id = user.id
    # The request's session (the one that authenticated) would keep its pooled connection for the whole
    # stream (up to STREAM_MAX_SECONDS): give it back now; each poll below opens its own.
    await to_thread.run_sync(session.close)

    async def stream():
        before: dict[str, JobView] = {}
        first = True
        ends = time.monotonic() + STREAM_MAX_SECONDS
        while time.monotonic() < ends and not await request.is_disconnected():
            try:
                after = await to_thread.run_sync(_snapshot, user_id)
            except Exception:  # Redis or Postgres down: say so and keep trying
                yield {"event": "unavailable", "data": json.dumps({"detail": "job queue unavailable"})}
                await asyncio.sleep(POLL_SECONDS * 5)
                continue
            changed = list(after.values()) if first else list(service.changes(before, after))
            for job in reversed(changed):  # oldest first, so a client applies them in order
                yield {"event": "update", "id": job.id, "data": job.model_dump_json()}
            first = False
            before = after
            await asyncio.sleep(POLL_SECONDS)

    return EventSourceResponse(stream(), ping=15)


@router.get("/{job_id}", response_model=JobView)
def get_job(job_id: str, user: CurrentUser, session: SessionDep) -> JobView:
    """Stage, percent, timestamps, failure reason and retries of one job."""
    return service.get_job(session=session, user=user, job_id=job_id)


@router.post("/{job_id}/cancel", response_model=JobView)
def cancel_job(job_id: str, user: CurrentUser, session: SessionDep) -> JobView:
    """Drop a queued job or stop a running one (its partial files are removed)."""
    return service.cancel_job(session=session, user=user, job_id=job_id)


@router.post("/{job_id}/retry", response_model=JobView)
def retry_job(job_id: str, user: CurrentUser, session: SessionDep) -> JobView:
    """Queue a failed or cancelled job again."""
    return service.retry_job(session=session, user=user, job_id=job_id)
