"""Tracks: detail, edit (validated PATCH of your own fields), soft delete and restore, batch fetch."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field, field_validator

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
    local_audio_path: str | None
    apple_music_url: str | None
    spotify_url: str | None
    youtube_url: str | None
    soundcloud_url: str | None
    deleted_at: datetime | None


_URL_HOSTS = {
    "apple_music_url": ("apple.com",),
    "spotify_url": ("spotify.com",),
    "youtube_url": ("youtube.com", "youtu.be"),
    "soundcloud_url": ("soundcloud.com",),
}


class TrackUpdate(BaseModel):
    """Your own fields: a Discogs sync never overwrites them. Send null to clear one."""

    model_config = ConfigDict(extra="forbid")
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
        return list(dict.fromkeys(t.strip() for t in value if t.strip()))

    @field_validator("apple_music_url", "spotify_url", "youtube_url", "soundcloud_url")
    @classmethod
    def _url(cls, value: str | None, info) -> str | None:
        if value is None or value == "":
            return None
        parts = urlsplit(value.strip())
        host = (parts.hostname or "").lower()
        if parts.scheme not in ("http", "https") or not host:
            raise ValueError("must be an http(s) URL")
        allowed = _URL_HOSTS[info.field_name]
        if not any(host == h or host.endswith("." + h) for h in allowed):
            raise ValueError(f"must be a link to {' or '.join(allowed)}")
        return value.strip()


class TrackIds(BaseModel):
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
