"""The backups page (/settings/backups, admins only): the dumps, "Back up now", restore and delete, with the
job's progress polled in place. Everything goes through services/domain/backups like the API."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from services.common.settings import get_settings
from services.domain import jobs
from services.domain.backups import jobs as backup_jobs
from services.domain.backups import service
from services.domain.errors import NotFound
from services.domain.jobcenter.service import view
from services.web.api.deps import AdminUser
from services.web.ui.templates import templates

router = APIRouter(include_in_schema=False)
LIVE = ("queued", "started", "deferred", "scheduled")


def _list(request: Request, user) -> HTMLResponse:
    return templates.TemplateResponse(request, "_backups_list.html", {"user": user, "backups": service.list_backups()})


def _job(request: Request, user, job_id: str) -> HTMLResponse:
    with jobs.queue_errors():
        job = jobs.fetch_job(job_id)
        if job is None or (job.meta or {}).get("kind") not in backup_jobs.KINDS:
            raise NotFound("no such backup job")
        job_view = view(job)
    live = job_view.status in LIVE
    response = templates.TemplateResponse(request, "_backup_job.html", {"user": user, "job": job_view, "live": live})
    if not live:
        response.headers["HX-Trigger"] = "backups-changed"  # the list shows the new (or restored) state
    return response


@router.get("/settings/backups", response_class=HTMLResponse)
def backups_page(request: Request, user: AdminUser) -> HTMLResponse:
    settings = get_settings()
    return templates.TemplateResponse(request, "backups.html", {
        "user": user, "backups": service.list_backups(), "folder": service.backup_dir(),
        "interval": settings.backup_interval_hours, "keep_daily": settings.backup_keep_daily,
        "keep_weekly": settings.backup_keep_weekly})


@router.get("/settings/backups/list", response_class=HTMLResponse)
def backups_list(request: Request, user: AdminUser) -> HTMLResponse:
    return _list(request, user)


@router.post("/settings/backups", response_class=HTMLResponse)
def create_backup(request: Request, user: AdminUser) -> HTMLResponse:
    return _job(request, user, backup_jobs.enqueue_backup(user_id=user.id).id)


@router.get("/settings/backups/jobs/{job_id}", response_class=HTMLResponse)
def backup_job(request: Request, job_id: str, user: AdminUser) -> HTMLResponse:
    return _job(request, user, job_id)


@router.post("/settings/backups/{name}/restore", response_class=HTMLResponse)
def restore_backup(request: Request, name: str, user: AdminUser) -> HTMLResponse:
    job, _check = backup_jobs.enqueue_restore(name=name, user_id=user.id)
    return _job(request, user, job.id)


@router.delete("/settings/backups/{name}", response_class=HTMLResponse)
def delete_backup(request: Request, name: str, user: AdminUser) -> HTMLResponse:
    service.delete_backup(name=name)
    return _list(request, user)
