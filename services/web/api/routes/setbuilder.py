"""Set building: reorder or extend a playlist, build a new set from search results, versions."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import select

from services.common.contracts.setbuilder import CurveName, EnergyPoint, GenerateResponse, SetOptions, Weights
from services.common.models import Playlist, PlaylistVersion
from services.web.api.deps import CurrentUser, SessionDep
from services.web.playlists.service import get_owned_playlist, set_playlist_tracks
from services.web.setbuilder import service

router = APIRouter(prefix="/api", tags=["set builder"])

MAX_SET_TRACKS = 2000


class BuildOptions(BaseModel):
    """What a DJ tunes; track ids are track primary keys from this API."""

    model_config = ConfigDict(extra="forbid")
    energy_curve: CurveName | list[EnergyPoint] = "none"
    first_track_id: int | None = None
    last_track_id: int | None = None
    bpm_min: float | None = Field(None, gt=0)
    bpm_max: float | None = Field(None, gt=0)
    max_bpm_step: float | None = Field(None, ge=0)
    pitch_range_pct: float = Field(8.0, gt=0, le=50)
    allow_half_double: bool = True
    weights: Weights = Field(default_factory=Weights)
    seed: int = 0
    time_budget_s: float = Field(5.0, gt=0, le=120)

    def to_set_options(self, *, count: int | None = None, minutes: float | None = None) -> SetOptions:
        try:
            return SetOptions(
                count=count,
                minutes=minutes,
                first_id=str(self.first_track_id) if self.first_track_id is not None else None,
                last_id=str(self.last_track_id) if self.last_track_id is not None else None,
                energy_curve=self.energy_curve,
                bpm_min=self.bpm_min,
                bpm_max=self.bpm_max,
                max_bpm_step=self.max_bpm_step,
                pitch_range_pct=self.pitch_range_pct,
                allow_half_double=self.allow_half_double,
                weights=self.weights,
                seed=self.seed,
                time_budget_s=self.time_budget_s,
            )
        except ValueError as exc:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None


class PlaylistGenerate(BaseModel):
    mode: Literal["order", "greedy"] = Field("order", description="order: GA + local search; greedy: instant")
    extend_with: list[int] = Field(
        default_factory=list,
        max_length=MAX_SET_TRACKS,
        description="candidate track ids to extend the playlist from",
    )
    add_count: int | None = Field(None, ge=1, description="with extend_with: how many tracks to add")
    save: bool = Field(True, description="false: preview only; true: store (old order kept as a version)")
    options: BuildOptions = Field(default_factory=BuildOptions)

    @model_validator(mode="after")
    def _extend(self) -> PlaylistGenerate:
        if self.extend_with and self.add_count is None:
            raise ValueError("extend_with needs add_count")
        if self.add_count is not None and not self.extend_with:
            raise ValueError("add_count needs extend_with candidates")
        return self


class SetBuild(BaseModel):
    track_ids: list[int] = Field(min_length=1, max_length=MAX_SET_TRACKS, description="e.g. search results")
    mode: Literal["order", "select", "greedy"] = "select"
    count: int | None = Field(None, ge=1)
    minutes: float | None = Field(None, gt=0)
    name: str | None = Field(None, min_length=1, max_length=200, description="save as a new playlist")
    options: BuildOptions = Field(default_factory=BuildOptions)


class GenerateResult(BaseModel):
    playlist_id: int | None
    version_id: int | None = None
    result: GenerateResponse


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
    playlist = get_owned_playlist(session=session, user=user, playlist_id=playlist_id)
    current = [item.track_pk for item in playlist.items]
    if body.extend_with:
        candidates = [pk for pk in dict.fromkeys(body.extend_with) if pk not in set(current)]
        if body.add_count > len(candidates):
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT,
                f"add_count {body.add_count} is larger than the {len(candidates)} new candidates",
            )
        # The extension flows on from the playlist's last track.
        anchor = current[-1:]
        opts = body.options.model_copy(update={"first_track_id": anchor[0] if anchor else None})
        result = service.generate(
            session=session,
            user=user,
            track_pks=anchor + candidates,
            mode="select",
            options=opts.to_set_options(count=body.add_count + len(anchor)),
        )
        new_order = current + [int(i) for i in result.order[len(anchor) :]]
    else:
        if len(current) < 2:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "the playlist needs at least 2 tracks")
        result = service.generate(
            session=session,
            user=user,
            track_pks=current,
            mode=body.mode,
            options=body.options.to_set_options(),
        )
        new_order = [int(i) for i in result.order]
    version_id = None
    if body.save:
        version = service.snapshot(
            session=session,
            playlist=playlist,
            reason="before extend" if body.extend_with else f"before {body.mode}",
        )
        version_id = version.id
        set_playlist_tracks(session=session, user=user, playlist=playlist, track_pks=new_order)
    return GenerateResult(playlist_id=playlist.id, version_id=version_id, result=result)


@router.post("/sets/build", response_model=GenerateResult)
def build_set(body: SetBuild, user: CurrentUser, session: SessionDep) -> GenerateResult:
    """Build a set from a pool (e.g. search results); with `name`, save it as a new playlist."""
    if body.mode == "select" and body.count is None and body.minutes is None:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "select mode needs count or minutes")
    result = service.generate(
        session=session,
        user=user,
        track_pks=body.track_ids,
        mode=body.mode,
        options=body.options.to_set_options(count=body.count, minutes=body.minutes),
    )
    playlist_id = None
    if body.name:
        playlist = Playlist(
            owner_id=user.id,
            name=body.name,
            description=f"Built by the set builder ({result.search.algorithm}, score {result.score:.2f})",
        )
        session.add(playlist)
        session.flush()
        set_playlist_tracks(
            session=session, user=user, playlist=playlist, track_pks=[int(i) for i in result.order]
        )
        playlist_id = playlist.id
    return GenerateResult(playlist_id=playlist_id, result=result)


@router.get("/playlists/{playlist_id}/versions", response_model=list[VersionOut])
def list_versions(playlist_id: int, user: CurrentUser, session: SessionDep) -> list[PlaylistVersion]:
    playlist = get_owned_playlist(session=session, user=user, playlist_id=playlist_id)
    return list(
        session.scalars(
            select(PlaylistVersion)
            .where(PlaylistVersion.playlist_id == playlist.id)
            .order_by(PlaylistVersion.id.desc())
        )
    )


@router.post("/playlists/{playlist_id}/versions/{version_id}/restore", status_code=status.HTTP_204_NO_CONTENT)
def restore_version(playlist_id: int, version_id: int, user: CurrentUser, session: SessionDep) -> None:
    """Put a saved order back (the current one is kept as a version too)."""
    playlist = get_owned_playlist(session=session, user=user, playlist_id=playlist_id)
    service.restore_version(session=session, user=user, playlist=playlist, version_id=version_id)
