"""Libraries: your own collections, friends' read-only imports, shares with other users, settings."""

from __future__ import annotations

import logging
import re
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.common.models import Library, LibraryShare, User
from services.common.settings import Settings, get_settings
from services.domain.access import owned_library, visible_library_ids, writable_library
from services.domain.errors import Conflict, Invalid, NotFound, Refused

log = logging.getLogger(__name__)

DISCOGS_USERNAME_PATTERN = r"^[A-Za-z0-9_.\-]{1,150}$"
NAME_MAX = 200
FRIEND_NEEDS_TOKEN = ("Following a friend's collection needs a Discogs token: set DISCOGS_USER_TOKEN (a personal "
                      "access token from discogs.com/settings/developers) on the server and restart it, then follow "
                      "again. Without a token nothing would ever be imported.")


FRIEND_NEEDS_OWN_TOKEN = ("Following a friend's collection needs a Discogs token: set your own (a personal access "
                          "token from discogs.com/settings/developers) in Settings; only an admin may use the "
                          "server's token.")


def list_libraries(*, session: Session, user: User) -> list[Library]:
    """Libraries you own, your friends' read-only imports, and libraries shared with you."""
    return list(session.scalars(select(Library).where(Library.id.in_(visible_library_ids(user))).order_by(Library.id)))


def _add(session: Session, library: Library, conflict: str) -> Library:
    try:
        with session.begin_nested():  # a clash rolls back this insert only
            session.add(library)
            session.flush()
    except IntegrityError:
        raise Conflict(conflict) from None
    return library


def clean_name(name: str | None) -> str:
    """A library name: surrounding spaces dropped, 1-200 characters."""
    name = (name or "").strip()
    if not name:
        raise Invalid("a library needs a name", code="bad_name")
    if len(name) > NAME_MAX:
        raise Invalid(f"a library name has at most {NAME_MAX} characters", code="bad_name")
    return name


def create_library(*, session: Session, user: User, name: str, discogs_username: str | None = None) -> Library:
    library = Library(owner_id=user.id, name=clean_name(name), discogs_username=discogs_username or None,
                      settings={})
    return _add(session, library, "you already have a library for that Discogs username")


def rename_library(*, session: Session, user: User, library_id: int, name: str) -> Library:
    """Rename a library you own (a friend's import included: the name is yours, its records are not)."""
    library = owned_library(session=session, user=user, library_id=library_id)
    library.name = clean_name(name)
    session.flush()
    return library


def first_own_library(*, session: Session, user: User) -> Library:
    """The user's first library of their own (not a friend's), created when they have none yet."""
    library = session.scalar(select(Library).where(Library.owner_id == user.id, Library.is_friend.is_(False))
                             .order_by(Library.id).limit(1))
    if library is None:
        library = create_library(session=session, user=user, name=f"{user.username}'s records")
    return library


def delete_library(*, session: Session, user: User, library_id: int) -> None:
    """Removes the library and, by cascade, its albums, tracks and sync runs; its queued and running
    jobs are cancelled, and its audio folder (AUDIO_DIR/library_<id>/) is removed once the delete is
    committed (a failure to remove it is logged; the delete stands)."""
    from services.common.audio_files import remove_library_folder
    from services.domain.analysis.audio import after_commit
    from services.domain.jobcenter.service import cancel_library_jobs

    library = owned_library(session=session, user=user, library_id=library_id)
    doomed = library.id
    session.delete(library)
    session.flush()
    cancel_library_jobs(doomed)
    audio_dir = get_settings().resolved_audio_dir
    after_commit(session, lambda: remove_library_folder(audio_dir, doomed))


def _other_user(session: Session, user: User, username: str) -> User | None:
    other = session.scalar(select(User).where(User.username == username))
    return other if other is not None and other.id != user.id else None


def share_library(*, session: Session, user: User, library_id: int, username: str) -> None:
    """Invite another user of this server to follow the library read-only; it is shared once they accept.
    The answer is the same whether or not the username exists (or is yours): sharing reveals no accounts.
    Inviting twice is harmless."""
    library = writable_library(session=session, user=user, library_id=library_id)
    other = _other_user(session, user, username)
    if other is not None and session.get(LibraryShare, (library.id, other.id)) is None:
        session.add(LibraryShare(library_id=library.id, user_id=other.id, pending=True))
        session.flush()


def unshare_library(*, session: Session, user: User, library_id: int, username: str) -> None:
    """Withdraw an invitation or end a share. Harmless when there is none (the same answer for unknown
    usernames, so this reveals no accounts either)."""
    library = writable_library(session=session, user=user, library_id=library_id)
    other = _other_user(session, user, username)
    share = session.get(LibraryShare, (library.id, other.id)) if other else None
    if share is not None:
        session.delete(share)
        session.flush()


def share_invitations(*, session: Session, user: User) -> list[tuple[Library, User]]:
    """Libraries other users invited this user to follow, not yet accepted: (library, its owner)."""
    rows = session.execute(
        select(Library, User).join(LibraryShare, LibraryShare.library_id == Library.id)
        .join(User, User.id == Library.owner_id)
        .where(LibraryShare.user_id == user.id, LibraryShare.pending.is_(True)).order_by(LibraryShare.created_at)
    ).all()
    return [(library, owner) for library, owner in rows]


def followed_shares(*, session: Session, user: User) -> list[tuple[Library, User]]:
    """Libraries other users share with this user (accepted, read-only): (library, its owner), by name."""
    rows = session.execute(
        select(Library, User).join(LibraryShare, LibraryShare.library_id == Library.id)
        .join(User, User.id == Library.owner_id)
        .where(LibraryShare.user_id == user.id, LibraryShare.pending.is_(False)).order_by(Library.name, Library.id)
    ).all()
    return [(library, owner) for library, owner in rows]


def _my_share(session: Session, user: User, library_id: int, *, pending: bool | None) -> LibraryShare:
    share = session.get(LibraryShare, (library_id, user.id))
    if share is None or (pending is not None and share.pending != pending):
        raise NotFound("invitation not found" if pending else "share not found")
    return share


def accept_share(*, session: Session, user: User, library_id: int) -> Library:
    """Accept an invitation: the library becomes readable (read-only)."""
    share = _my_share(session, user, library_id, pending=True)
    share.pending = False
    session.flush()
    return session.get(Library, library_id)


def decline_share(*, session: Session, user: User, library_id: int) -> None:
    """Decline an invitation (the owner may invite again)."""
    session.delete(_my_share(session, user, library_id, pending=True))
    session.flush()


def leave_share(*, session: Session, user: User, library_id: int) -> None:
    """Stop following a library shared with you (an open invitation is declined the same way)."""
    session.delete(_my_share(session, user, library_id, pending=None))
    session.flush()


def update_settings(*, library: Library, changes: dict[str, Any]) -> Library:
    """Merge setting changes; a None value removes the setting."""
    merged = dict(library.settings or {})
    for key, value in changes.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    library.settings = merged
    return library


# --- friends --------------------------------------------------------------------------------------


def friends_enabled(user: User | None = None) -> bool:
    """Following a friend needs a Discogs token (their collection comes from the API): the user's own, or
    the server's for an admin (without a user: whether the server has one)."""
    if user is not None:
        from services.domain.accounts.discogs_tokens import discogs_token_for

        return discogs_token_for(user) is not None
    return get_settings().discogs_user_token is not None


def follow_friend(*, session: Session, user: User, username: str) -> Library:
    """A friend's public Discogs collection as a read-only library of the follower.

    Refused without a Discogs token: the library could never be filled (its only source is the API)."""
    username = username.strip()
    if not re.fullmatch(DISCOGS_USERNAME_PATTERN, username):
        raise Invalid("a Discogs username has 1-150 letters, digits, _ . - only", code="bad_username")
    if not friends_enabled(user):
        raise Refused(FRIEND_NEEDS_TOKEN if user.is_admin else FRIEND_NEEDS_OWN_TOKEN, code="discogs_token_missing")
    existing = session.scalar(
        select(Library).where(Library.owner_id == user.id, Library.discogs_username == username)
    )
    if existing is not None:
        what = "friend" if existing.is_friend else "your own library"
        raise Conflict(f"you already have {username} ({what})")
    # The name says whose records they are; pages add "(friend, read-only)" from is_friend.
    library = Library(owner_id=user.id, name=f"{username}'s collection", discogs_username=username, is_friend=True,
                      settings={})
    return _add(session, library, f"you already follow {username}")


def friend_library(*, session: Session, user: User, username: str) -> Library:
    library = session.scalar(
        select(Library).where(Library.owner_id == user.id, Library.is_friend.is_(True),
                              Library.discogs_username == username)
    )
    if library is None:
        raise NotFound(f"you do not follow {username}")
    return library


def list_friends(*, session: Session, user: User) -> list[Library]:
    return list(session.scalars(
        select(Library).where(Library.owner_id == user.id, Library.is_friend.is_(True)).order_by(Library.id)
    ))


def unfollow_friend(*, session: Session, user: User, username: str) -> None:
    """Removes the friend library and, by cascade, its albums, tracks and sync runs."""
    session.delete(friend_library(session=session, user=user, username=username))
    session.flush()


# --- start-up -------------------------------------------------------------------------------------


def ensure_discogs_library(*, session: Session, settings: Settings) -> Library | None:
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
