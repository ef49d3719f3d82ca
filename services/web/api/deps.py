"""Request dependencies: database session and the authenticated user (cookie or Bearer token)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from services.common.db import new_session
from services.common.models import ApiToken, Library, LibraryShare, User
from services.web.core.security import SESSION_COOKIE, hash_api_token, read_session_cookie


def get_session() -> Iterator[Session]:
    session = new_session()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


SessionDep = Annotated[Session, Depends(get_session)]


class NotAuthenticated(HTTPException):
    def __init__(self, detail: str = "not authenticated") -> None:
        super().__init__(status.HTTP_401_UNAUTHORIZED, detail, headers={"WWW-Authenticate": "Bearer"})


def _user_from_token(session: Session, token: str) -> User | None:
    row = session.execute(
        select(ApiToken, User)
        .join(User, User.id == ApiToken.user_id)
        .where(ApiToken.token_hash == hash_api_token(token), ApiToken.revoked_at.is_(None))
    ).first()
    if row is None:
        return None
    api_token, user = row
    api_token.last_used_at = datetime.now(UTC)
    return user


def authenticate(request: Request, session: Session) -> User | None:
    auth = request.headers.get("authorization", "")
    if auth:
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        user = _user_from_token(session, token.strip())
    else:
        cookie = request.cookies.get(SESSION_COOKIE)
        parsed = read_session_cookie(cookie) if cookie else None
        if parsed is None:
            return None
        user_id, version = parsed
        user = session.get(User, user_id)
        if user is not None and user.session_version != version:
            return None
    if user is None or not user.is_active:
        return None
    return user


def get_current_user(request: Request, session: SessionDep) -> User:
    user = authenticate(request, session)
    if user is None:
        raise NotAuthenticated()
    request.state.user = user
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]


def require_admin(user: CurrentUser) -> User:
    if not user.is_admin:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "admin only")
    return user


AdminUser = Annotated[User, Depends(require_admin)]


def visible_library_ids(user: User):
    """Subquery of library ids the user may read: own libraries and those shared with them."""
    shared = select(LibraryShare.library_id).where(LibraryShare.user_id == user.id)
    return select(Library.id).where(or_(Library.owner_id == user.id, Library.id.in_(shared)))


def get_visible_library(session: Session, user: User, library_id: int) -> Library:
    """The library if the user may read it; 404 otherwise (never reveal others' ids)."""
    library = session.scalar(
        select(Library).where(Library.id == library_id, Library.id.in_(visible_library_ids(user)))
    )
    if library is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "library not found")
    return library


def get_writable_library(session: Session, user: User, library_id: int) -> Library:
    """The library if the user owns it and it is not a read-only friend import; else 404/403."""
    library = get_visible_library(session, user, library_id)
    if library.owner_id != user.id:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "library is shared with you read-only")
    if library.is_friend:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "friend libraries are read-only")
    return library
