"""Playlists owned by the current user."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Response, status
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy.orm import object_session

from services.common.models import Playlist
from services.domain.playlists import service
from services.web.api.deps import CurrentUser, SessionDep
from services.web.api.responses import model_response

router = APIRouter(prefix="/api/playlists", tags=["playlists"])


class PlaylistCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    description: str | None = Field(None, max_length=5000)
    track_pks: list[int] = Field(default_factory=list, max_length=10000, description="Track primary keys, in order")


class PlaylistUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = Field(None, max_length=5000)

    @field_validator("name")
    @classmethod
    def _name_not_null(cls, value: str | None) -> str:
        if value is None:
            raise ValueError("a playlist needs a name; omit the field to keep it")
        return value


class TrackPks(BaseModel):
    model_config = ConfigDict(extra="forbid")
    track_pks: list[int] = Field(max_length=10000, description="Track primary keys, in order")


class PlaylistItemOut(BaseModel):
    position: int
    track_pk: int
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
    hidden_tracks: int = Field(0, description="Tracks of the playlist not shown: their library is no longer "
                                              "shared with you (shown again if it is shared again)")


def _detail(playlist: Playlist) -> PlaylistDetail:
    view = service.playlist_view(session=object_session(playlist), playlist=playlist)
    items = [
        PlaylistItemOut(position=position, track_pk=row.track_pk, title=row.title, artist=row.artist, bpm=row.bpm,
                        camelot=row.camelot, energy=row.energy, duration_seconds=row.duration_seconds)
        for position, row in enumerate(view.items)
    ]
    return PlaylistDetail(**PlaylistOut.model_validate(playlist).model_dump(), items=items,
                          hidden_tracks=view.hidden_tracks)


@router.get("", response_model=list[PlaylistOut])
def list_playlists(user: CurrentUser, session: SessionDep) -> list[Playlist]:
    return service.list_playlists(session=session, user=user)


@router.post("", response_model=PlaylistDetail, status_code=status.HTTP_201_CREATED)
def create_playlist(body: PlaylistCreate, user: CurrentUser, session: SessionDep) -> PlaylistDetail:
    return _detail(service.create_playlist(
        session=session, user=user, name=body.name, description=body.description, track_pks=body.track_pks
    ))


@router.get("/{playlist_id}", response_model=PlaylistDetail)
def get_playlist(playlist_id: int, user: CurrentUser, session: SessionDep) -> Response:
    return model_response(_detail(service.get_playlist(session=session, user=user, playlist_id=playlist_id,
                                                       load_items=False)))


@router.patch("/{playlist_id}", response_model=PlaylistDetail)
def update_playlist(playlist_id: int, body: PlaylistUpdate, user: CurrentUser, session: SessionDep) -> PlaylistDetail:
    return _detail(service.update_playlist(
        session=session, user=user, playlist_id=playlist_id, changes=body.model_dump(exclude_unset=True)
    ))


@router.put("/{playlist_id}/tracks", response_model=PlaylistDetail)
def replace_tracks(playlist_id: int, body: TrackPks, user: CurrentUser, session: SessionDep) -> PlaylistDetail:
    """Set the playlist's tracks to exactly this order."""
    return _detail(service.replace_tracks(session=session, user=user, playlist_id=playlist_id, track_pks=body.track_pks))


@router.post("/{playlist_id}/tracks", response_model=PlaylistDetail)
def add_tracks(playlist_id: int, body: TrackPks, user: CurrentUser, session: SessionDep) -> PlaylistDetail:
    """Append tracks at the end."""
    return _detail(service.append_tracks(session=session, user=user, playlist_id=playlist_id, track_pks=body.track_pks))


class DuplicateBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(None, max_length=200, description='Name of the copy (default "<name> (copy)")')


@router.post("/{playlist_id}/duplicate", response_model=PlaylistDetail, status_code=status.HTTP_201_CREATED)
def duplicate_playlist(
    playlist_id: int, user: CurrentUser, session: SessionDep, body: DuplicateBody | None = None
) -> PlaylistDetail:
    """A copy of the playlist (name, description, tracks in order; not its versions)."""
    name = body.name if body else None
    return _detail(service.duplicate_playlist(session=session, user=user, playlist_id=playlist_id, name=name))


@router.delete("/{playlist_id}/tracks/{position}", response_model=PlaylistDetail)
def remove_track(playlist_id: int, position: int, user: CurrentUser, session: SessionDep) -> PlaylistDetail:
    """Take the track at this position (0-based, as in `items`) out; the order before is kept as a version."""
    return _detail(service.remove_item(session=session, user=user, playlist_id=playlist_id, position=position))


@router.delete("/{playlist_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_playlist(playlist_id: int, user: CurrentUser, session: SessionDep) -> Response:
    service.delete_playlist(session=session, user=user, playlist_id=playlist_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
