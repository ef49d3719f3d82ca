"""Contract between the web app and the sync worker for Discogs collection import.

The worker stores `SyncProgress` in the RQ job's meta (and durably in `sync_runs`); the web app
reads it back for `GET /api/libraries/{id}/sync` and `GET /api/sync/jobs/{job_id}`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

SyncMode = Literal["full", "tracklists", "refresh"]  # refresh: full + fetch every release again
SyncStage = Literal["queued", "starting", "collection", "removals", "releases", "finished", "failed"]


class ReleaseFailure(BaseModel):
    release_id: int
    reason: str


class SyncProgress(BaseModel):
    """Where a sync is; percent covers the collection pages (10%) and the releases (90%)."""

    model_config = ConfigDict(extra="ignore")

    library_id: int
    run_id: int | None = None
    mode: SyncMode = "full"
    status: Literal["queued", "running", "finished", "failed"] = "running"
    stage: SyncStage = "starting"
    percent: float = Field(0.0, ge=0, le=100)
    pages_done: int = 0
    pages_total: int | None = None
    releases_done: int = 0
    releases_total: int = 0
    releases_fetched: int = Field(0, description="GET /releases/{id} calls made by this run")
    releases_failed: int = 0
    releases_removed: int = 0
    failures: list[ReleaseFailure] = Field(
        default_factory=list, description="The first failures, with reasons"
    )
    error: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None


class SyncJobStatus(BaseModel):
    """An RQ job and the progress it reported."""

    job_id: str
    job_status: str = Field(description="RQ status: queued, started, finished, failed, scheduled, ...")
    progress: SyncProgress | None = None
    result: dict | None = None
    error: str | None = None


class CsvImportResult(BaseModel):
    library_id: int
    rows: int
    albums_created: int
    albums_updated: int
    sync_job_id: str | None = Field(
        None, description="Tracklist fill job, enqueued when a Discogs token is set"
    )
