"""Library bootstrap and settings: the admin's own Discogs library, friends, scheduled re-syncs."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import HTTPException, status
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.common.models import Library, User
from services.common.settings import Settings

log = logging.getLogger(__name__)


def ensure_discogs_library(session: Session, settings: Settings) -> Library | None:
    """When DISCOGS_USERNAME is set, the first admin owns a library for it (created once, on start-up)."""
    username = (settings.discogs_username or "").strip()
    if not username:
        return None
    admin = session.scalar(select(User).where(User.is_admin.is_(True)).order_by(User.id).limit(1))
    if admin is None:
        return None
    library = session.scalar(
        select(Library).where(Library.owner_id == admin.id, Library.discogs_username == username)
    )
    if library is None:
        library = Library(owner_id=admin.id, name=f"{username}'s collection", discogs_username=username,
                          is_friend=False, settings={})
        session.add(library)
        session.commit()
        log.info("created library %s for Discogs user %s", library.id, username)
    return library


def collection_startup(session: Session, settings: Settings) -> None:
    """Web start-up: the DISCOGS_USERNAME library exists, and every library with a re-sync interval has
    its next sync scheduled (e.g. after Redis lost its data). Redis problems are logged, not fatal."""
    ensure_discogs_library(session, settings)
    from services.web.collection.jobs import RESYNC_SETTING, schedule_resync, scheduled_resync_at

    ids = session.scalars(select(Library.id).where(Library.settings[RESYNC_SETTING].as_float() > 0)).all()
    for library_id in ids:
        try:
            if scheduled_resync_at(library_id) is None:
                schedule_resync(library_id=library_id)
        except Exception as exc:  # noqa: BLE001 - start-up must not fail on the job queue
            log.warning("could not schedule the re-sync of library %s: %s", library_id, exc)


def follow_friend(*, session: Session, user: User, username: str) -> Library:
    """A friend's public Discogs collection as a read-only library of the follower."""
    existing = session.scalar(
        select(Library).where(Library.owner_id == user.id, Library.discogs_username == username)
    )
    if existing is not None:
        what = "friend" if existing.is_friend else "your own library"
        raise HTTPException(status.HTTP_409_CONFLICT, f"you already have {username} ({what})")
    library = Library(owner_id=user.id, name=f"{username} (friend)", discogs_username=username, is_friend=True,
                      settings={})
    session.add(library)
    try:
        session.flush()
    except IntegrityError:
        raise HTTPException(status.HTTP_409_CONFLICT, f"you already follow {username}") from None
    return library


def friend_library(*, session: Session, user: User, username: str) -> Library:
    library = session.scalar(
        select(Library).where(Library.owner_id == user.id, Library.is_friend.is_(True),
                              Library.discogs_username == username)
    )
    if library is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"you do not follow {username}")
    return library


def list_friends(*, session: Session, user: User) -> list[Library]:
    return list(session.scalars(
        select(Library).where(Library.owner_id == user.id, Library.is_friend.is_(True)).order_by(Library.id)
    ))


def unfollow_friend(*, session: Session, user: User, username: str) -> None:
    """Removes the friend library and, by cascade, its albums, tracks and sync runs."""
    session.delete(friend_library(session=session, user=user, username=username))
    session.flush()


def update_settings(*, library: Library, changes: dict[str, Any]) -> Library:
    merged = dict(library.settings or {})
    for key, value in changes.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    library.settings = merged
    return library
