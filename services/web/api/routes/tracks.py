"""Tracks: detail, edit (validated PATCH of your own fields), soft delete and restore, batch fetch."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field, field_validator

from services.domain.analysis import corrections
from services.domain.errors import Invalid
from services.domain.tracks import service
from services.web.api.deps import CurrentUser, SessionDep

router = APIRouter(prefix="/api/tracks", tags=["tracks"])


class TrackOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    track_id: str = Field(description='Discogs-derived "<releaseId>-<position>" (the primary key is `id`)')
    library_id: int
    album_id: int | None
    release_id: int | None
    title: str
    artist: str | None
    album: str | None
    year: int | None
    position: str | None
    duration_seconds: float | None
    genres: list[str]
    styles: list[str]
    tags: list[str]
    notes: str | None
    star_rating: int | None
    bpm: float | None
    key: str | None
    scale: str | None
    camelot: str | None
    energy: float | None
    danceability: float | None
    analyzed_at: datetime | None
    bpm_source: Literal["user", "style"] | None = Field(
        None, description='"user" when bpm is the DJ\'s correction (re-analysis keeps it), "style" when the '
        "analysis's other octave was taken because the track's Discogs styles count it there (dubstep at 140, "
        "drum & bass at 170s), null when it is the analysis's own reading")
    key_source: Literal["user"] | None = Field(None, description="The same for key, scale and camelot")
    analysed_bpm: float | None = Field(None, description="The analysis's own tempo (differs from bpm when corrected)")
    analysed_camelot: str | None = Field(None, description="The analysis's own key, Camelot")
    bpm_candidates: list[dict[str, Any]] | None = Field(
        None, description='The analysed tempo and its octave alternatives: [{"bpm", "confidence" 0..1, '
        '"relation": "chosen" | "half" | "double"}], highest confidence first')
    key_confidence: float | None = Field(None, description="Confidence of the analysed key, 0..1")
    key_alternative: dict[str, Any] | None = Field(
        None, description='The runner-up key: {"key", "scale", "camelot", "confidence"}')
    local_audio_path: str | None
    audio_source: dict[str, Any] | None = Field(
        None, description='Where the audio came from: {"method": "upload" | "import" | "yt-dlp" | "youtube-search" '
        '| "gamdl", "at", ...} (an import: "filename", "matched_by", "score"; a download: "url", "why", "title")')
    apple_music_url: str | None
    spotify_url: str | None
    youtube_url: str | None
    soundcloud_url: str | None
    link_origins: dict[str, str] = Field(default_factory=dict, description='Where each platform link came from: '
                                         '"manual" (set by hand: never replaced) or "matched" (enrichment)')
    deleted_at: datetime | None


class TrackUpdate(BaseModel):
    """Your own fields (a Discogs sync never overwrites them), and title/artist/position of tracks that are
    not from a Discogs tracklist (records made by hand, tracklists typed in). Send null to clear one."""

    model_config = ConfigDict(extra="forbid")
    title: str | None = Field(None, min_length=1, max_length=500)
    artist: str | None = Field(None, max_length=500)
    position: str | None = Field(None, min_length=1, max_length=32)
    duration_seconds: float | None = Field(None, gt=0, le=86400)
    notes: str | None = Field(None, max_length=10000)
    tags: list[Annotated[str, Field(min_length=1, max_length=64)]] | None = Field(None, max_length=50)
    star_rating: int | None = Field(None, ge=0, le=5)
    apple_music_url: str | None = Field(None, max_length=2000)
    spotify_url: str | None = Field(None, max_length=2000)
    youtube_url: str | None = Field(None, max_length=2000)
    soundcloud_url: str | None = Field(None, max_length=2000)

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        try:
            return service.clean_tags(value)
        except Invalid as exc:
            raise ValueError(exc.detail) from None

    @field_validator("apple_music_url", "spotify_url", "youtube_url", "soundcloud_url")
    @classmethod
    def _url(cls, value: str | None, info) -> str | None:
        try:
            return service.clean_platform_url(info.field_name, value)
        except Invalid as exc:
            raise ValueError(exc.detail) from None


class TrackIds(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ids: list[int] = Field(min_length=1, max_length=1000)
    include_deleted: bool = False


@router.post("/batch", response_model=list[TrackOut])
def batch(body: TrackIds, user: CurrentUser, session: SessionDep) -> list[TrackOut]:
    """Tracks by primary key, in the order asked; ids you cannot see are left out."""
    rows = service.tracks_by_ids(
        session=session, user=user, ids=body.ids, include_deleted=body.include_deleted
    )
    return [TrackOut.model_validate(t) for t in rows]


@router.get("", response_model=list[TrackOut])
def batch_get(
    user: CurrentUser,
    session: SessionDep,
    ids: Annotated[str, Query(pattern=r"^\d+(,\d+){0,499}$", description="Comma-separated ids")],
) -> list[TrackOut]:
    rows = service.tracks_by_ids(session=session, user=user, ids=[int(i) for i in ids.split(",")])
    return [TrackOut.model_validate(t) for t in rows]


@router.get("/{track_pk}", response_model=TrackOut)
def get_track(track_pk: int, user: CurrentUser, session: SessionDep) -> TrackOut:
    return TrackOut.model_validate(service.get_track(session=session, user=user, track_pk=track_pk))


@router.patch("/{track_pk}", response_model=TrackOut)
def update_track(track_pk: int, body: TrackUpdate, user: CurrentUser, session: SessionDep) -> TrackOut:
    changes = body.model_dump(exclude_unset=True)
    track = service.update_track(session=session, user=user, track_pk=track_pk, changes=changes)
    return TrackOut.model_validate(track)


@router.delete("/{track_pk}", status_code=status.HTTP_204_NO_CONTENT)
def delete_track(track_pk: int, user: CurrentUser, session: SessionDep) -> Response:
    """Soft delete: hidden everywhere, restorable, and a sync does not bring it back."""
    service.set_track_deleted(session=session, user=user, track_pk=track_pk, deleted=True)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{track_pk}/restore", response_model=TrackOut)
def restore_track(track_pk: int, user: CurrentUser, session: SessionDep) -> TrackOut:
    track = service.set_track_deleted(session=session, user=user, track_pk=track_pk, deleted=False)
    return TrackOut.model_validate(track)


class CorrectionIn(BaseModel):
    """Your correction of the analysed tempo and/or key (kept when the track is analysed again), or
    `accept` the analysis's alternative: "bpm_alternative" (the other octave) or "key_alternative"."""

    model_config = ConfigDict(extra="forbid")
    bpm: float | None = Field(None, description=f"{corrections.BPM_MIN:g}-{corrections.BPM_MAX:g}")
    camelot: str | None = Field(None, max_length=20, description="Camelot (8A), Open Key (1m) or a key name (Am)")
    accept: Literal["bpm_alternative", "key_alternative"] | None = None


@router.post("/{track_pk}/corrections", response_model=TrackOut)
def correct_track(track_pk: int, body: CorrectionIn, user: CurrentUser, session: SessionDep) -> TrackOut:
    track = corrections.correct_analysis(session=session, user=user, track_pk=track_pk, bpm=body.bpm,
                                         key=body.camelot, accept=body.accept)
    return TrackOut.model_validate(track)


@router.delete("/{track_pk}/corrections", response_model=TrackOut)
def revert_corrections(
    track_pk: int, user: CurrentUser, session: SessionDep,
    what: Annotated[Literal["bpm", "key", "all"], Query(description="Which correction to drop")] = "all",
) -> TrackOut:
    """Back to the analysed tempo and/or key."""
    return TrackOut.model_validate(corrections.revert_correction(session=session, user=user, track_pk=track_pk,
                                                                 what=what))
