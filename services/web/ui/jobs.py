"""Jobs page (/jobs): your background jobs (syncs, downloads, analyses, re-index) with a progress bar
each, kept live by static/jobs.js over the job event stream (SSE); Cancel and Retry call the API."""

from __future__ import annotations

from typing import get_args

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from pydantic import ValidationError

from services.domain.errors import Unavailable
from services.domain.jobs import KIND_LABELS
from services.domain.jobcenter.models import JobFilter, JobKind, JobStatus
from services.domain.jobcenter.service import CANCELLABLE, RETRYABLE, visible_jobs
from services.web.api.deps import CurrentUser, SessionDep
from services.web.ui.templates import templates

router = APIRouter(include_in_schema=False)
PAGE_LIMIT = 100
FILTER_FIELDS = ("kind", "status", "library_id", "track_pk", "limit")


@router.get("/jobs", response_class=HTMLResponse)
def jobs_page(request: Request, user: CurrentUser, session: SessionDep) -> HTMLResponse:
    params = {k: v for k, v in request.query_params.items() if k in FILTER_FIELDS and v != ""}
    error, status_code, items = None, 200, []
    try:
        filters = JobFilter(**{"limit": PAGE_LIMIT, **params})
    except ValidationError as exc:
        filters = None
        error = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'filters'}: {e['msg']}" for e in exc.errors()[:3])
        status_code = 422
    if filters is not None:
        try:
            items = visible_jobs(session=session, user=user, filters=filters)
        except Unavailable as exc:
            error, status_code = exc.detail, 503
    return templates.TemplateResponse(
        request, "jobs.html",
        {"user": user, "jobs": items, "params": params, "error": error, "kinds": get_args(JobKind), "kind_labels": KIND_LABELS,
         "statuses": get_args(JobStatus), "cancellable": CANCELLABLE, "retryable": RETRYABLE},
        status_code=status_code,
    )
