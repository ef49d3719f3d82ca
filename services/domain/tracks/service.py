"""Tracks: look-up by primary key, edits of the user's own fields, soft delete and restore."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.common.models import Track, User
from services.domain.access import visible_library_ids, visible_row, writable_library
from services.domain.errors import Conflict, NotFound


def get_track(*, session: Session, user: User, track_pk: int) -> Track:
    return visible_row(session=session, user=user, model=Track, row_id=track_pk, what="track")


def writable_track(*, session: Session, user: User, track_pk: int, live: bool = True) -> Track:
    """A track the user may change; `live`: refuse a soft-deleted one."""
    track = get_track(session=session, user=user, track_pk=track_pk)
    writable_library(session=session, user=user, library_id=track.library_id)
    if live and track.deleted_at is not None:
        raise Conflict("track is deleted: restore it first", code="track_deleted")
    return track


def update_track(*, session: Session, user: User, track_pk: int, changes: dict[str, Any]) -> Track:
    """Apply edits of the user's own fields; `tags: None` clears the tags."""
    track = writable_track(session=session, user=user, track_pk=track_pk)
    if "tags" in changes and changes["tags"] is None:
        changes = {**changes, "tags": []}
    for key, value in changes.items():
        setattr(track, key, value)
    session.flush()
    return track


def set_track_deleted(*, session: Session, user: User, track_pk: int, deleted: bool) -> Track:
    track = writable_track(session=session, user=user, track_pk=track_pk, live=False)
    track.deleted_at = datetime.now(UTC) if deleted else None
    session.flush()
    return track


def tracks_by_ids(*, session: Session, user: User, ids: list[int], include_deleted: bool = False) -> list[Track]:
    """Visible tracks in the order asked; ids not visible (or unknown) are left out."""
    found = _visible(session, user, ids, include_deleted=include_deleted)
    return [found[i] for i in dict.fromkeys(ids) if i in found]


def require_tracks(*, session: Session, user: User, track_pks: list[int]) -> dict[int, Track]:
    """Live tracks by primary key that the user may see; NotFound naming the first one that is not."""
    found = _visible(session, user, track_pks, include_deleted=False)
    missing = [pk for pk in track_pks if pk not in found]
    if missing:
        raise NotFound(f"track {missing[0]} not found")
    return found


def _visible(session: Session, user: User, ids: list[int], *, include_deleted: bool) -> dict[int, Track]:
    if not ids:
        return {}
    stmt = select(Track).where(Track.id.in_(set(ids)), Track.library_id.in_(visible_library_ids(user)))
    if not include_deleted:
        stmt = stmt.where(Track.deleted_at.is_(None))
    return {t.id: t for t in session.scalars(stmt)}
