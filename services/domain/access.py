"""The one permission rule: which libraries a user may read, and which they may change.

Read: libraries you own (including your friends' imports) and those shared with you.
Write: libraries you own that are not a friend's read-only import.
Operate (sync, schedule, delete): libraries you own, friends' imports included.
"""

from __future__ import annotations

from typing import TypeVar

from sqlalchemy import ColumnElement, Select, exists, or_, select
from sqlalchemy.orm import Session, aliased

from services.common.models import Library, LibraryShare, Track, User
from services.domain.errors import Forbidden, NotFound

T = TypeVar("T")


def visible_library_ids(user: User) -> Select:
    """Subquery of library ids the user may read: own libraries and those shared with them."""
    return readable_library_ids(user.id)


def readable_library_ids(user_id: int) -> Select:
    """`visible_library_ids` by user id (for rows that name their user, e.g. a playlist's owner)."""
    shared = select(LibraryShare.library_id).where(LibraryShare.user_id == user_id, LibraryShare.pending.is_(False))
    return select(Library.id).where(or_(Library.owner_id == user_id, Library.id.in_(shared)))


# Its own name, so never correlated with a Track of the enclosing query; made once (adapting a fresh alias's
# columns cost ~1.7 ms a playlist read).
_READABLE_TRACK = aliased(Track, name="readable_track")


def track_readable(track_pk: ColumnElement[int], user_id: int | ColumnElement[int]) -> ColumnElement[bool]:
    """SQL condition: the track `track_pk` (a column, e.g. a playlist item's) is in a library the user may
    read. Rows pointing at tracks of an unshared library are hidden with it, and shown again on re-sharing."""
    track = _READABLE_TRACK
    return exists().where(track.id == track_pk, track.library_id.in_(readable_library_ids(user_id)))


def visible_row(*, session: Session, user: User, model: type[T], row_id: int, what: str) -> T:
    """A row of a library-owned table (albums, tracks) if the user may read its library; NotFound otherwise."""
    row = session.scalar(select(model).where(model.id == row_id, model.library_id.in_(visible_library_ids(user))))
    if row is None:
        raise NotFound(f"{what} not found")
    return row


def owns(user: User, library: Library) -> bool:
    return library.owner_id == user.id


def can_write(user: User, library: Library) -> bool:
    return owns(user, library) and not library.is_friend


def readable_library(*, session: Session, user: User, library_id: int) -> Library:
    """The library if the user may read it; NotFound otherwise."""
    library = session.scalar(
        select(Library).where(Library.id == library_id, Library.id.in_(visible_library_ids(user)))
    )
    if library is None:
        raise NotFound("library not found")
    return library


def owned_library(*, session: Session, user: User, library_id: int) -> Library:
    """The library if the user owns it (friends' imports included): they may sync or delete it."""
    library = readable_library(session=session, user=user, library_id=library_id)
    if not owns(user, library):
        raise Forbidden("library is shared with you read-only")
    return library


def writable_library(*, session: Session, user: User, library_id: int) -> Library:
    """The library if the user may change its records: owned, and not a friend's read-only import."""
    library = owned_library(session=session, user=user, library_id=library_id)
    if library.is_friend:
        raise Forbidden("friend libraries are read-only")
    return library
