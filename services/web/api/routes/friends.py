"""Friends: follow a Discogs username; its public collection is imported as a read-only library."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Response, status
from pydantic import BaseModel, Field

from services.web.api.deps import CurrentUser, SessionDep
from services.web.collection import jobs
from services.web.collection.libraries import follow_friend, list_friends, unfollow_friend

router = APIRouter(prefix="/api/friends", tags=["friends"])


class FriendIn(BaseModel):
    username: str = Field(
        min_length=1, max_length=150, pattern=r"^[A-Za-z0-9_.\-]+$", description="Their Discogs username"
    )


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
            username=lib.discogs_username or "",
            library_id=lib.id,
            name=lib.name,
            last_synced_at=lib.last_synced_at,
        )
        for lib in list_friends(session=session, user=user)
    ]


@router.post("", response_model=FriendOut, status_code=status.HTTP_201_CREATED)
def add_friend(body: FriendIn, user: CurrentUser, session: SessionDep) -> FriendOut:
    """Follow; the import starts at once in the background (with the server's Discogs token)."""
    library = follow_friend(session=session, user=user, username=body.username)
    session.commit()
    job_id = jobs.start_sync_after_import(library_id=library.id, mode="full")
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
    unfollow_friend(session=session, user=user, username=username)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
