"""Libraries: one Discogs username's collection each; owned, or shared with you read-only."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Response, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from services.common.models import Library, LibraryShare, User
from services.web.api.deps import (
    CurrentUser,
    SessionDep,
    get_visible_library,
    get_writable_library,
    visible_library_ids,
)

router = APIRouter(prefix="/api/libraries", tags=["libraries"])


class LibraryCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    discogs_username: str | None = Field(None, min_length=1, max_length=150, pattern=r"^[A-Za-z0-9_.\-]+$")


class LibraryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    name: str
    discogs_username: str | None
    is_friend: bool
    owner_id: int
    settings: dict[str, Any]
    last_synced_at: datetime | None
    read_only: bool = False


class ShareRequest(BaseModel):
    username: str = Field(min_length=1, max_length=150)


def library_out(library: Library, user: User) -> LibraryOut:
    out = LibraryOut.model_validate(library)
    out.read_only = library.is_friend or library.owner_id != user.id
    return out


@router.get("", response_model=list[LibraryOut])
def list_libraries(user: CurrentUser, session: SessionDep) -> list[LibraryOut]:
    """Libraries you own, your friends' read-only imports, and libraries shared with you."""
    rows = session.scalars(
        select(Library).where(Library.id.in_(visible_library_ids(user))).order_by(Library.id)
    )
    return [library_out(lib, user) for lib in rows]


@router.post("", response_model=LibraryOut, status_code=status.HTTP_201_CREATED)
def create_library(body: LibraryCreate, user: CurrentUser, session: SessionDep) -> LibraryOut:
    library = Library(owner_id=user.id, name=body.name, discogs_username=body.discogs_username)
    session.add(library)
    try:
        session.flush()
    except IntegrityError:
        raise HTTPException(
            status.HTTP_409_CONFLICT, "you already have a library for that Discogs username"
        ) from None
    return library_out(library, user)


@router.get("/{library_id}", response_model=LibraryOut)
def get_library(library_id: int, user: CurrentUser, session: SessionDep) -> LibraryOut:
    return library_out(get_visible_library(session, user, library_id), user)


@router.delete("/{library_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_library(library_id: int, user: CurrentUser, session: SessionDep) -> Response:
    library = get_visible_library(session, user, library_id)
    if library.owner_id != user.id:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "library is shared with you read-only")
    session.delete(library)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{library_id}/shares", status_code=status.HTTP_204_NO_CONTENT)
def share_library(library_id: int, body: ShareRequest, user: CurrentUser, session: SessionDep) -> Response:
    """Let another user of this server follow the library read-only."""
    library = get_writable_library(session, user, library_id)
    other = session.scalar(select(User).where(User.username == body.username))
    if other is None or other.id == user.id:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "user not found")
    if session.get(LibraryShare, (library.id, other.id)) is None:
        session.add(LibraryShare(library_id=library.id, user_id=other.id))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.delete("/{library_id}/shares/{username}", status_code=status.HTTP_204_NO_CONTENT)
def unshare_library(library_id: int, username: str, user: CurrentUser, session: SessionDep) -> Response:
    library = get_writable_library(session, user, library_id)
    other = session.scalar(select(User).where(User.username == username))
    share = session.get(LibraryShare, (library.id, other.id)) if other else None
    if share is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "share not found")
    session.delete(share)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
