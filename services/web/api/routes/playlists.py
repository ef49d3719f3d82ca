"""Playlists owned by the current user."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Response, status
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import select

from services.common.models import Playlist
from services.web.api.deps import CurrentUser, SessionDep
from services.web.playlists.service import (
    append_playlist_tracks,
    get_owned_playlist,
    set_playlist_tracks,
)

router = APIRouter(prefix="/api/playlists", tags=["playlists"])


class PlaylistCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    description: str | None = Field(None, max_length=5000)
    track_ids: list[int] = Field(default_factory=list, description="Track primary keys, in order")


class PlaylistUpdate(BaseModel):
    name: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = Field(None, max_length=5000)

    @field_validator("name")
    @classmethod
    def _name_not_null(cls, value: str | None) -> str:
        if value is None:
            raise ValueError("a playlist needs a name; omit the field to keep it")
        return value


class TrackIds(BaseModel):
    track_ids: list[int] = Field(max_length=10000)


class PlaylistItemOut(BaseModel):
    position: int
    track_id: int
    title: str
    artist: str | None
    bpm: float | None
    camelot: str | None
    energy: float | None
    duration_seconds: float | None


class PlaylistOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    name: str
    description: str | None
    created_at: datetime
    updated_at: datetime


class PlaylistDetail(PlaylistOut):
    items: list[PlaylistItemOut]


def _detail(playlist: Playlist) -> PlaylistDetail:
    items = [
        PlaylistItemOut(
            position=item.position,
            track_id=item.track_pk,
            title=item.track.title,
            artist=item.track.artist,
            bpm=item.track.bpm,
            camelot=item.track.camelot,
            energy=item.track.energy,
            duration_seconds=item.track.duration_seconds,
        )
        for item in playlist.items
    ]
    return PlaylistDetail(**PlaylistOut.model_validate(playlist).model_dump(), items=items)


@router.get("", response_model=list[PlaylistOut])
def list_playlists(user: CurrentUser, session: SessionDep) -> list[Playlist]:
    return list(session.scalars(select(Playlist).where(Playlist.owner_id == user.id).order_by(Playlist.id)))


@router.post("", response_model=PlaylistDetail, status_code=status.HTTP_201_CREATED)
def create_playlist(body: PlaylistCreate, user: CurrentUser, session: SessionDep) -> PlaylistDetail:
    playlist = Playlist(owner_id=user.id, name=body.name, description=body.description)
    session.add(playlist)
    session.flush()
    set_playlist_tracks(session=session, user=user, playlist=playlist, track_pks=body.track_ids)
    return _detail(get_owned_playlist(session=session, user=user, playlist_id=playlist.id))


@router.get("/{playlist_id}", response_model=PlaylistDetail)
def get_playlist(playlist_id: int, user: CurrentUser, session: SessionDep) -> PlaylistDetail:
    return _detail(get_owned_playlist(session=session, user=user, playlist_id=playlist_id))


@router.patch("/{playlist_id}", response_model=PlaylistDetail)
def update_playlist(
    playlist_id: int, body: PlaylistUpdate, user: CurrentUser, session: SessionDep
) -> PlaylistDetail:
    playlist = get_owned_playlist(session=session, user=user, playlist_id=playlist_id)
    for field, value in body.model_dump(exclude_unset=True).items():
        setattr(playlist, field, value)
    session.flush()
    return _detail(playlist)


@router.put("/{playlist_id}/tracks", response_model=PlaylistDetail)
def replace_tracks(
    playlist_id: int, body: TrackIds, user: CurrentUser, session: SessionDep
) -> PlaylistDetail:
    """Set the playlist's tracks to exactly this order."""
    playlist = get_owned_playlist(session=session, user=user, playlist_id=playlist_id)
    set_playlist_tracks(session=session, user=user, playlist=playlist, track_pks=body.track_ids)
    return _detail(get_owned_playlist(session=session, user=user, playlist_id=playlist_id))


@router.post("/{playlist_id}/tracks", response_model=PlaylistDetail)
def add_tracks(playlist_id: int, body: TrackIds, user: CurrentUser, session: SessionDep) -> PlaylistDetail:
    """Append tracks at the end."""
    playlist = get_owned_playlist(session=session, user=user, playlist_id=playlist_id)
    append_playlist_tracks(session=session, user=user, playlist=playlist, track_pks=body.track_ids)
    return _detail(get_owned_playlist(session=session, user=user, playlist_id=playlist_id))


@router.delete("/{playlist_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_playlist(playlist_id: int, user: CurrentUser, session: SessionDep) -> Response:
    session.delete(get_owned_playlist(session=session, user=user, playlist_id=playlist_id))
    return Response(status_code=status.HTTP_204_NO_CONTENT)
