"""Discogs sync (background job with live progress), CSV export upload, scheduled re-sync settings."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, UploadFile, status
from pydantic import BaseModel, ConfigDict, Field

from services.common.contracts.discogs import CsvImportResult, SyncJobStatus, SyncMode
from services.domain.access import readable_library
from services.domain.collection import service
from services.domain.collection.service import SyncState
from services.web.api.deps import CurrentUser, SessionDep

router = APIRouter(tags=["sync"])


class SyncSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sync_interval_hours: float | None = Field(
        None, ge=1, le=24 * 30, description="Re-sync from Discogs every N hours (RQ scheduler); null turns it off"
    )


@router.post("/api/libraries/{library_id}/sync", response_model=SyncState, status_code=status.HTTP_202_ACCEPTED)
def start_sync(library_id: int, user: CurrentUser, session: SessionDep, mode: SyncMode = "full") -> SyncState:
    """Enqueue a Discogs sync (returns the running one if there is one). `refresh` refetches every release;
    `tracklists` only fills missing tracklists (CSV imports)."""
    return service.start_sync(session=session, user=user, library_id=library_id, mode=mode)


@router.get("/api/libraries/{library_id}/sync", response_model=SyncState)
def sync_state(library_id: int, user: CurrentUser, session: SessionDep) -> SyncState:
    """Live progress: pages and releases done of total, current stage, failures with reasons."""
    library = readable_library(session=session, user=user, library_id=library_id)
    return service.sync_state(session=session, library=library)


@router.get("/api/sync/jobs/{job_id}", response_model=SyncJobStatus)
def job_state(job_id: str, user: CurrentUser, session: SessionDep) -> SyncJobStatus:
    return service.sync_job(session=session, user=user, job_id=job_id)


@router.put("/api/libraries/{library_id}/sync/settings", response_model=SyncState)
def set_sync_settings(library_id: int, body: SyncSettings, user: CurrentUser, session: SessionDep) -> SyncState:
    """Scheduled re-sync: every `sync_interval_hours` (stored in the library's settings)."""
    return service.set_resync_interval(
        session=session, user=user, library_id=library_id, hours=body.sync_interval_hours
    )


@router.post(
    "/api/libraries/{library_id}/import/csv", response_model=CsvImportResult, status_code=status.HTTP_201_CREATED
)
def import_csv(
    library_id: int,
    user: CurrentUser,
    session: SessionDep,
    file: Annotated[UploadFile, File(description="Discogs collection CSV export")],
) -> CsvImportResult:
    """Albums from a Discogs collection export, created at once; tracklists are then filled by a sync
    (mode=tracklists) when a Discogs token is set."""
    return service.import_csv(session=session, user=user, library_id=library_id, stream=file.file)
