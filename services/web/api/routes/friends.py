"""Friends: follow a Discogs username; its public collection is imported as a read-only library."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Response, status
from pydantic import BaseModel, ConfigDict, Field

from services.domain.collection.service import follow_friend_and_sync
from services.domain.libraries import service
from services.domain.libraries.service import DISCOGS_USERNAME_PATTERN
from services.web.api.deps import CurrentUser, SessionDep

router = APIRouter(prefix="/api/friends", tags=["friends"])


class FriendIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(pattern=DISCOGS_USERNAME_PATTERN, description="Their Discogs username")


class FriendOut(BaseModel):
    username: str
    library_id: int
    name: str
    last_synced_at: datetime | None
    sync_job_id: str | None = None


@router.get("", response_model=list[FriendOut])
def friends(user: CurrentUser, session: SessionDep) -> list[FriendOut]:
    return [
        FriendOut(
            username=lib.discogs_username or "", library_id=lib.id, name=lib.name, last_synced_at=lib.last_synced_at
        )
        for lib in service.list_friends(session=session, user=user)
    ]


@router.post("", response_model=FriendOut, status_code=status.HTTP_201_CREATED)
def add_friend(body: FriendIn, user: CurrentUser, session: SessionDep) -> FriendOut:
    """Follow; the import starts at once in the background (with the server's Discogs token)."""
    library, job_id = follow_friend_and_sync(session=session, user=user, username=body.username)
    return FriendOut(
        username=body.username,
        library_id=library.id,
        name=library.name,
        last_synced_at=library.last_synced_at,
        sync_job_id=job_id,
    )


@router.delete("/{username}", status_code=status.HTTP_204_NO_CONTENT)
def remove_friend(username: str, user: CurrentUser, session: SessionDep) -> Response:
    """Unfollow: the friend library and all its albums and tracks are removed."""
    service.unfollow_friend(session=session, user=user, username=username)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
