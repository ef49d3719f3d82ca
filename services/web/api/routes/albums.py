"""Albums: list (search, sort, missing filters), detail with tracks and raw Discogs JSON, edit, manual create."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field

from services.domain.collection import albums as service
from services.web.api.deps import CurrentUser, SessionDep
from services.web.api.responses import model_response
from services.web.api.routes.tracks import TrackOut

router = APIRouter(tags=["albums"])


class AlbumOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    library_id: int
    release_id: int = Field(description="Discogs release id; negative for records created by hand")
    title: str
    artist: str
    year: int | None
    genres: list[str]
    styles: list[str]
    label: str | None
    catalog_number: str | None
    country: str | None
    format: str | None
    thumbnail: str | None
    discogs_url: str | None
    date_added: datetime | None
    rating: int | None
    notes: str | None
    condition: str | None
    purchase_price: Decimal | None
    deleted_at: datetime | None


class AlbumPage(BaseModel):
    items: list[AlbumOut]
    total: int
    limit: int
    offset: int


class AlbumDetail(AlbumOut):
    tracks: list[TrackOut]
    discogs: dict[str, Any] | None = Field(
        None, description="The raw `GET /releases/{id}` JSON, when fetched"
    )


class AlbumUpdate(BaseModel):
    """Your own fields (a Discogs sync never overwrites them) and, for a record made by hand (negative
    `release_id`), its title, artist and year: a new title or year goes to its tracks too, a new artist to
    the tracks credited to the old one. A Discogs release's title, artist and year answer 400
    `from_discogs` (a sync keeps them up to date)."""

    model_config = ConfigDict(extra="forbid")
    title: str | None = Field(None, max_length=500, description="Not empty (trimmed)")
    artist: str | None = Field(None, max_length=500, description="Not empty (trimmed)")
    year: int | None = Field(None, description="From 1900 to next year; null when unknown")
    rating: int | None = Field(None, ge=1, le=5)
    notes: str | None = Field(None, max_length=10000)
    condition: str | None = Field(None, max_length=200)
    purchase_price: Decimal | None = Field(None, ge=0, max_digits=10, decimal_places=2)


class ManualTrack(BaseModel):
    model_config = ConfigDict(extra="forbid")
    position: str | None = Field(None, max_length=32, description="A1, B2... (defaults to the track number)")
    title: str = Field(min_length=1, max_length=500)
    artist: str | None = Field(None, max_length=500)
    duration: str | None = Field(None, pattern=r"^\d{1,2}(:\d{1,2}){1,2}$", description='"m:ss" or "h:mm:ss"')


class ManualAlbum(BaseModel):
    """A record that is not on Discogs (white labels, dubplates, test pressings)."""

    model_config = ConfigDict(extra="forbid")
    title: str = Field(min_length=1, max_length=500)
    artist: str = Field(min_length=1, max_length=500)
    year: int | None = Field(None, description="From 1900 to next year")
    label: str | None = Field(None, max_length=300)
    catalog_number: str | None = Field(None, max_length=100)
    format: str | None = Field(None, max_length=200)
    genres: list[str] = Field(default_factory=list, max_length=20)
    styles: list[str] = Field(default_factory=list, max_length=30)
    notes: str | None = Field(None, max_length=10000)
    tracks: list[ManualTrack] = Field(default_factory=list, max_length=200)


@router.get("/api/albums", response_model=AlbumPage)
def list_albums(
    user: CurrentUser,
    session: SessionDep,
    library_id: int | None = None,
    q: Annotated[
        str | None, Query(max_length=200, description="Words matched in artist, title, label, cat#")
    ] = None,
    sort: service.AlbumSort = "date_added",
    order: Literal["asc", "desc"] = "desc",
    missing: Annotated[
        list[service.Missing] | None,
        Query(description="Albums with a track lacking: audio, analysis, apple (URL), youtube (URL)"),
    ] = None,
    include_deleted: bool = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Response:
    """Albums in the libraries you can see."""
    rows, total = service.list_albums(
        session=session,
        user=user,
        library_id=library_id,
        q=q,
        sort=sort,
        order=order,
        missing=missing,
        include_deleted=include_deleted,
        limit=limit,
        offset=offset,
    )
    return model_response(AlbumPage(
        items=[AlbumOut.model_validate(a) for a in rows], total=total, limit=limit, offset=offset
    ))


def _detail(session, album) -> AlbumDetail:
    out = AlbumDetail.model_validate({**AlbumOut.model_validate(album).model_dump(), "tracks": []})
    out.tracks = [TrackOut.model_validate(t) for t in service.album_tracks(session=session, album=album)]
    out.discogs = service.raw_release(session=session, album=album)
    return out


@router.get("/api/albums/{album_id}", response_model=AlbumDetail)
def get_album(album_id: int, user: CurrentUser, session: SessionDep) -> Response:
    return model_response(_detail(session, service.get_album(session=session, user=user, album_id=album_id)))


@router.patch("/api/albums/{album_id}", response_model=AlbumOut)
def update_album(album_id: int, body: AlbumUpdate, user: CurrentUser, session: SessionDep) -> AlbumOut:
    album = service.update_album(
        session=session, user=user, album_id=album_id, changes=body.model_dump(exclude_unset=True)
    )
    return AlbumOut.model_validate(album)


@router.post(
    "/api/libraries/{library_id}/albums", response_model=AlbumDetail, status_code=status.HTTP_201_CREATED
)
def create_album(library_id: int, body: ManualAlbum, user: CurrentUser, session: SessionDep) -> AlbumDetail:
    """Create a record that is not on Discogs, with its tracks."""
    album = service.create_manual_album(
        session=session,
        user=user,
        library_id=library_id,
        title=body.title,
        artist=body.artist,
        year=body.year,
        label=body.label,
        catalog_number=body.catalog_number,
        format=body.format,
        genres=body.genres,
        styles=body.styles,
        notes=body.notes,
        tracks=[t.model_dump() for t in body.tracks],
    )
    return _detail(session, album)


class TracklistIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tracks: list[ManualTrack] = Field(min_length=1, max_length=200)


@router.post("/api/albums/{album_id}/tracks", response_model=list[TrackOut], status_code=status.HTTP_201_CREATED)
def add_tracks(album_id: int, body: TracklistIn, user: CurrentUser, session: SessionDep) -> list[TrackOut]:
    """Type in a tracklist (records made by hand, CSV imports, whose exports have no tracklists). A position
    defaults to the next track number; one already on the record answers 422."""
    added = service.add_album_tracks(session=session, user=user, album_id=album_id,
                                     tracks=[t.model_dump() for t in body.tracks])
    return [TrackOut.model_validate(t) for t in added]
