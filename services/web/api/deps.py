"""Request dependencies: the database session and the authenticated user (cookie or Bearer token)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from services.common.db import session_scope
from services.common.models import User
from services.domain.accounts import service as accounts
from services.domain.errors import Forbidden, NotAuthenticated
from services.web.api.cookies import SESSION_COOKIE, read_session_cookie


def get_session() -> Iterator[Session]:
    """One session per request: committed when the route returns, rolled back when it raises."""
    with session_scope() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


def authenticate(request: Request, session: Session) -> User | None:
    """The user behind the request's Bearer token, or else its session cookie."""
    auth = request.headers.get("authorization", "")
    if auth:
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        return accounts.user_for_token(session=session, token=token.strip())
    cookie = request.cookies.get(SESSION_COOKIE)
    parsed = read_session_cookie(cookie) if cookie else None
    if parsed is None:
        return None
    user_id, version = parsed
    return accounts.user_for_session(session=session, user_id=user_id, session_version=version)


def get_current_user(request: Request, session: SessionDep) -> User:
    user = authenticate(request, session)
    if user is None:
        raise NotAuthenticated("not authenticated")
    request.state.user = user
    request.state.username = user.username  # for error pages rendered after the session closed
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]


def require_admin(user: CurrentUser) -> User:
    if not user.is_admin:
        raise Forbidden("admin only")
    return user


AdminUser = Annotated[User, Depends(require_admin)]
