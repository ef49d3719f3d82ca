"""Libraries: one Discogs username's collection each; owned, or shared with you read-only."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Response, status
from pydantic import BaseModel, ConfigDict, Field

from services.common.models import Library, User
from services.domain.access import can_write, readable_library
from services.domain.libraries import service
from services.domain.libraries.service import DISCOGS_USERNAME_PATTERN
from services.web.api.deps import CurrentUser, SessionDep

router = APIRouter(prefix="/api/libraries", tags=["libraries"])


class LibraryCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    discogs_username: str | None = Field(None, pattern=DISCOGS_USERNAME_PATTERN)


class LibraryRename(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)


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
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=150)


def library_out(library: Library, user: User) -> LibraryOut:
    out = LibraryOut.model_validate(library)
    out.read_only = not can_write(user, library)
    return out


@router.get("", response_model=list[LibraryOut])
def list_libraries(user: CurrentUser, session: SessionDep) -> list[LibraryOut]:
    """Libraries you own, your friends' read-only imports, and libraries shared with you."""
    return [library_out(lib, user) for lib in service.list_libraries(session=session, user=user)]


@router.post("", response_model=LibraryOut, status_code=status.HTTP_201_CREATED)
def create_library(body: LibraryCreate, user: CurrentUser, session: SessionDep) -> LibraryOut:
    library = service.create_library(
        session=session, user=user, name=body.name, discogs_username=body.discogs_username
    )
    return library_out(library, user)


@router.get("/{library_id}", response_model=LibraryOut)
def get_library(library_id: int, user: CurrentUser, session: SessionDep) -> LibraryOut:
    return library_out(readable_library(session=session, user=user, library_id=library_id), user)


@router.patch("/{library_id}", response_model=LibraryOut)
def rename_library(library_id: int, body: LibraryRename, user: CurrentUser, session: SessionDep) -> LibraryOut:
    """Rename a library you own (friends' imports included)."""
    return library_out(service.rename_library(session=session, user=user, library_id=library_id, name=body.name), user)


@router.delete("/{library_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_library(library_id: int, user: CurrentUser, session: SessionDep) -> Response:
    service.delete_library(session=session, user=user, library_id=library_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{library_id}/shares", status_code=status.HTTP_204_NO_CONTENT)
def share_library(library_id: int, body: ShareRequest, user: CurrentUser, session: SessionDep) -> Response:
    """Let another user of this server follow the library read-only."""
    service.share_library(session=session, user=user, library_id=library_id, username=body.username)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.delete("/{library_id}/shares/{username}", status_code=status.HTTP_204_NO_CONTENT)
def unshare_library(library_id: int, username: str, user: CurrentUser, session: SessionDep) -> Response:
    service.unshare_library(session=session, user=user, library_id=library_id, username=username)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
