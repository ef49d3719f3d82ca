"""What the job center shows of a background job (sync, download, analysis, re-index)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from services.domain import jobs

# The kinds `jobs.enqueue` accepts, from its one registry (`jobs.KINDS`): a new kind is filterable at once.
JobKind = Literal[jobs.KINDS]  # type: ignore[valid-type]
JobStatus = Literal["queued", "started", "finished", "failed", "stopped", "canceled", "scheduled", "deferred"]
# Stages a download goes through; other kinds report their own (syncing, analyzing, ...).
DOWNLOAD_STAGES = ("queued", "downloading", "converting", "analysing", "saving", "done", "failed", "cancelled")


class JobView(BaseModel):
    id: str
    kind: str
    kind_label: str = Field("", description="The kind in words, as the pages show it")
    status: str
    stage: str | None = None
    percent: int = 0
    description: str | None = None
    library_id: int | None = None
    track_pk: int | None = None
    enqueued_at: datetime | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    error: str | None = None
    retries_left: int | None = None
    attempts: int = 0
    details: dict[str, Any] = Field(default_factory=dict, description="Kind-specific: method, source, why, "
                                    "timings, result")


class JobFilter(BaseModel):
    model_config = {"extra": "forbid"}

    kind: JobKind | None = None
    status: JobStatus | None = None
    library_id: int | None = None
    track_pk: int | None = None
    limit: int = Field(50, ge=1, le=500)
