"""Database backups (admins only): create (a job), list, download, delete, restore (checked, then a job)."""

from __future__ import annotations

from fastapi import APIRouter, status
from fastapi.responses import FileResponse, Response
from pydantic import BaseModel

from services.domain import jobs
from services.domain.backups import jobs as backup_jobs
from services.domain.backups import service
from services.domain.backups.service import BackupInfo, DumpCheck
from services.domain.errors import NotFound
from services.domain.jobcenter.models import JobView
from services.domain.jobcenter.service import view
from services.web.api.deps import AdminUser

router = APIRouter(prefix="/api/admin/backups", tags=["backups"])


class BackupJob(BaseModel):
    job_id: str


class RestoreQueued(BaseModel):
    job_id: str
    check: DumpCheck


@router.get("", response_model=list[BackupInfo])
def list_backups(_: AdminUser) -> list[BackupInfo]:
    """Backups in the dumps folder (BACKUP_DIR), newest first."""
    return service.list_backups()


@router.post("", response_model=BackupJob, status_code=status.HTTP_202_ACCEPTED)
def create_backup(user: AdminUser) -> BackupJob:
    """Dump the database (`pg_dump --format=custom`) in the background; follow the job for progress."""
    return BackupJob(job_id=backup_jobs.enqueue_backup(user_id=user.id).id)


@router.get("/jobs/{job_id}", response_model=JobView)
def backup_job(job_id: str, _: AdminUser) -> JobView:
    """A backup or restore job: status, stage, percent, error, result."""
    with jobs.queue_errors():
        job = jobs.fetch_job(job_id)
        if job is None or (job.meta or {}).get("kind") not in backup_jobs.KINDS:
            raise NotFound("no such backup job")
        return view(job)


@router.get("/{name}", response_class=FileResponse)
def download_backup(name: str, _: AdminUser) -> FileResponse:
    path = service.backup_path(name=name)
    return FileResponse(path, media_type="application/octet-stream", filename=name,
                        headers={"Cache-Control": "no-store"})


@router.delete("/{name}", status_code=status.HTTP_204_NO_CONTENT)
def delete_backup(name: str, _: AdminUser) -> Response:
    service.delete_backup(name=name)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{name}/restore", response_model=RestoreQueued, status_code=status.HTTP_202_ACCEPTED)
def restore_backup(name: str, user: AdminUser) -> RestoreQueued:
    """Check the dump at once (a truncated file or another application's dump: 422, nothing touched), then
    restore it in the background: into a scratch database, checked, then swapped in."""
    job, check = backup_jobs.enqueue_restore(name=name, user_id=user.id)
    return RestoreQueued(job_id=job.id, check=check)
