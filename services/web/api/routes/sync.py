"""Discogs sync (background job with live progress), CSV export upload, scheduled re-sync settings."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, File, HTTPException, UploadFile, status
from pydantic import BaseModel, ConfigDict, Field
from redis.exceptions import RedisError

from services.common.contracts.discogs import CsvImportResult, SyncJobStatus, SyncProgress
from services.common.models import Library, User
from services.common.settings import get_settings
from services.web.api.deps import CurrentUser, SessionDep, get_visible_library, get_writable_library
from services.web.collection import jobs
from services.web.collection.albums import library_counts
from services.web.collection.csv_import import CsvImportError, import_albums, parse_collection_csv
from services.web.collection.libraries import update_settings

router = APIRouter(tags=["sync"])


class SyncState(BaseModel):
    library_id: int
    job: SyncJobStatus | None = Field(None, description="The latest sync job enqueued for this library")
    last_run: SyncProgress | None = Field(
        None, description="The latest sync run, durable (survives restarts)"
    )
    next_scheduled_sync: datetime | None = None
    counts: dict[str, int]


class SyncSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sync_interval_hours: float | None = Field(
        None,
        ge=1,
        le=24 * 30,
        description="Re-sync from Discogs every N hours (RQ scheduler); null turns it off",
    )


def _syncable(session, user: User, library_id: int) -> Library:
    """Owner only: your own libraries and your friends' imports (shared-with-you ones are read-only)."""
    library = get_visible_library(session, user, library_id)
    if library.owner_id != user.id:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "library is shared with you read-only")
    return library


def _require_token() -> None:
    if get_settings().discogs_user_token is None:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST,
            "DISCOGS_USER_TOKEN is not set: set it to sync from Discogs, or upload a CSV export",
        )


def _redis_unavailable(exc: Exception) -> HTTPException:
    return HTTPException(
        status.HTTP_503_SERVICE_UNAVAILABLE, f"job queue unavailable (Redis): {type(exc).__name__}"
    )


def _state(session, library: Library) -> SyncState:
    job_state = None
    next_at = None
    try:
        job = jobs.current_job(library.id)
        job_state = jobs.job_status(job) if job is not None else None
        next_at = jobs.scheduled_resync_at(library.id)
    except RedisError:
        pass
    return SyncState(
        library_id=library.id,
        job=job_state,
        last_run=jobs.latest_progress(session, library.id),
        next_scheduled_sync=next_at,
        counts=library_counts(session=session, library=library),
    )


@router.post(
    "/api/libraries/{library_id}/sync", response_model=SyncState, status_code=status.HTTP_202_ACCEPTED
)
def start_sync(
    library_id: int,
    user: CurrentUser,
    session: SessionDep,
    mode: Literal["full", "refresh", "tracklists"] = "full",
) -> SyncState:
    """Enqueue a Discogs sync (returns the running one if there is one). `refresh` refetches every release;
    `tracklists` only fills missing tracklists (CSV imports)."""
    library = _syncable(session, user, library_id)
    _require_token()
    if mode != "tracklists" and not library.discogs_username:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST,
            "library has no Discogs username: upload a CSV export, or sync mode=tracklists",
        )
    try:
        jobs.enqueue_sync(library_id=library.id, mode=mode)
    except RedisError as exc:
        raise _redis_unavailable(exc) from None
    return _state(session, library)


@router.get("/api/libraries/{library_id}/sync", response_model=SyncState)
def sync_state(library_id: int, user: CurrentUser, session: SessionDep) -> SyncState:
    """Live progress: pages and releases done of total, current stage, failures with reasons."""
    return _state(session, get_visible_library(session, user, library_id))


@router.get("/api/sync/jobs/{job_id}", response_model=SyncJobStatus)
def job_state(job_id: str, user: CurrentUser, session: SessionDep) -> SyncJobStatus:
    try:
        job = jobs.fetch_job(job_id)
    except RedisError as exc:
        raise _redis_unavailable(exc) from None
    library_id = (job.meta or {}).get("library_id") if job is not None else None
    if job is None or library_id is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "job not found")
    get_visible_library(session, user, int(library_id))  # 404 unless you may see that library
    return jobs.job_status(job)


@router.put("/api/libraries/{library_id}/sync/settings", response_model=SyncState)
def set_sync_settings(
    library_id: int, body: SyncSettings, user: CurrentUser, session: SessionDep
) -> SyncState:
    """Scheduled re-sync: every `sync_interval_hours` (stored in the library's settings)."""
    library = _syncable(session, user, library_id)
    if body.sync_interval_hours and not library.discogs_username:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "library has no Discogs username to re-sync")
    update_settings(library=library, changes={jobs.RESYNC_SETTING: body.sync_interval_hours})
    session.commit()
    try:
        jobs.schedule_resync(library_id=library.id)
    except RedisError as exc:
        raise _redis_unavailable(exc) from None
    return _state(session, library)


@router.post(
    "/api/libraries/{library_id}/import/csv",
    response_model=CsvImportResult,
    status_code=status.HTTP_201_CREATED,
)
async def import_csv(
    library_id: int,
    user: CurrentUser,
    session: SessionDep,
    file: Annotated[UploadFile, File(description="Discogs collection CSV export")],
) -> CsvImportResult:
    """Albums from a Discogs collection export, created at once; tracklists are then filled by a sync
    (mode=tracklists) when a Discogs token is set."""
    library = get_writable_library(session, user, library_id)
    data = await file.read()
    try:
        albums = parse_collection_csv(data)
    except CsvImportError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    created, updated = import_albums(session.connection(), library.id, albums)
    session.commit()
    job_id = jobs.start_sync_after_import(library_id=library.id, mode="tracklists")
    return CsvImportResult(
        library_id=library.id,
        rows=len(albums),
        albums_created=created,
        albums_updated=updated,
        sync_job_id=job_id,
    )
