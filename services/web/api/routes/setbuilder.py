"""Set building: reorder or extend a playlist, build a new set from search results, versions."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter, status
from pydantic import BaseModel, ConfigDict, Field

from services.common.contracts.setbuilder import GenerateResponse
from services.common.models import PlaylistVersion
from services.domain.playlists import service as playlists
from services.domain.setbuilder import service
from services.domain.setbuilder.models import SetBuildOptions, SetSummary
from services.web.api.deps import CurrentUser, SessionDep

router = APIRouter(prefix="/api", tags=["set builder"])

MAX_SET_TRACKS = 2000


class PlaylistGenerate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    mode: Literal["order", "greedy"] = Field("order", description="order: GA + local search; greedy: instant")
    extend_with: list[int] = Field(
        default_factory=list, max_length=MAX_SET_TRACKS, description="candidate track primary keys to extend from"
    )
    add_count: int | None = Field(None, ge=1, description="how many tracks to add: from extend_with, or without "
                                  "it from the playlist's suggestions (GET /api/playlists/{id}/suggestions)")
    save: bool = Field(True, description="false: preview only; true: store (old order kept as a version)")
    options: SetBuildOptions = Field(default_factory=SetBuildOptions)


class SetBuild(BaseModel):
    model_config = ConfigDict(extra="forbid")
    track_pks: list[int] = Field(
        min_length=1, max_length=MAX_SET_TRACKS, description="track primary keys, e.g. search results"
    )
    mode: Literal["order", "select", "greedy"] = "select"
    count: int | None = Field(None, ge=1)
    minutes: float | None = Field(None, gt=0)
    name: str | None = Field(None, min_length=1, max_length=200, description="save as a new playlist")
    options: SetBuildOptions = Field(default_factory=SetBuildOptions)


class GenerateResult(BaseModel):
    playlist_id: int | None
    version_id: int | None = None
    summary: SetSummary = Field(
        description="the set as a DJ sees it (track primary keys, energies 1-10): each transition's mix score "
        "0-100 with words, energy vs the curve's target per position, total duration, set score, and which "
        "tracks lack analysis and where they went"
    )
    result: GenerateResponse = Field(description="the set builder's own answer (track ids as strings, energies 0-1)")


class VersionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    reason: str
    track_pks: list[int]
    score: float | None
    created_at: datetime


@router.post("/playlists/{playlist_id}/generate", response_model=GenerateResult)
def generate_for_playlist(
    playlist_id: int, body: PlaylistGenerate, user: CurrentUser, session: SessionDep
) -> GenerateResult:
    """Reorder the playlist (order/greedy), or extend it with `add_count` tracks chosen from `extend_with`."""
    out = service.generate_for_playlist(
        session=session, user=user, playlist_id=playlist_id, mode=body.mode, options=body.options,
        extend_with=body.extend_with, add_count=body.add_count, save=body.save,
    )
    return GenerateResult(
        playlist_id=out.playlist_id, version_id=out.version_id, summary=out.summary, result=out.result
    )


@router.post("/sets/build", response_model=GenerateResult)
def build_set(body: SetBuild, user: CurrentUser, session: SessionDep) -> GenerateResult:
    """Build a set from a pool (e.g. search results); with `name`, save it as a new playlist."""
    out = service.build_set(
        session=session, user=user, track_pks=body.track_pks, mode=body.mode, count=body.count,
        minutes=body.minutes, name=body.name, options=body.options,
    )
    return GenerateResult(playlist_id=out.playlist_id, summary=out.summary, result=out.result)


@router.get("/playlists/{playlist_id}/versions", response_model=list[VersionOut])
def list_versions(playlist_id: int, user: CurrentUser, session: SessionDep) -> list[PlaylistVersion]:
    return playlists.list_versions(session=session, user=user, playlist_id=playlist_id)


@router.post("/playlists/{playlist_id}/versions/{version_id}/restore", status_code=status.HTTP_204_NO_CONTENT)
def restore_version(playlist_id: int, version_id: int, user: CurrentUser, session: SessionDep) -> None:
    """Put a saved order back (the current one is kept as a version too)."""
    playlists.restore_version(session=session, user=user, playlist_id=playlist_id, version_id=version_id)
