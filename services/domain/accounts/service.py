"""Accounts: password and token sign-in, password changes, personal API tokens, users (admins)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.common.models import ApiToken, User
from services.domain.accounts.security import (
    hash_api_token,
    hash_password,
    new_api_token,
    verify_dummy,
    verify_password,
)
from services.domain.errors import Conflict, NotAuthenticated, NotFound, Refused


def sign_in(*, session: Session, username: str, password: str) -> User:
    """The active user with this password; NotAuthenticated otherwise (same answer and timing for an
    unknown user as for a wrong password)."""
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        verify_dummy(password)
    if user is None or not user.is_active or not verify_password(user.password_hash, password):
        raise NotAuthenticated("wrong username or password")
    return user


LAST_USED_EVERY = timedelta(minutes=5)


def user_for_token(*, session: Session, token: str) -> User | None:
    """The active owner of a live personal API token. Its last use is recorded at most once per
    LAST_USED_EVERY (decided on the value just read), so most requests write nothing."""
    row = session.execute(
        select(ApiToken, User)
        .join(User, User.id == ApiToken.user_id)
        .where(ApiToken.token_hash == hash_api_token(token), ApiToken.revoked_at.is_(None))
    ).first()
    if row is None:
        return None
    api_token, user = row
    now = datetime.now(UTC)
    if api_token.last_used_at is None or now - api_token.last_used_at >= LAST_USED_EVERY:
        api_token.last_used_at = now
    return user if user.is_active else None


def user_for_session(*, session: Session, user_id: int, session_version: int) -> User | None:
    """The active user of a signed session cookie, unless a password change has ended that session."""
    user = session.get(User, user_id)
    if user is None or not user.is_active or user.session_version != session_version:
        return None
    return user


def change_password(*, session: Session, user: User, current_password: str, new_password: str) -> None:
    """Every existing session cookie stops working."""
    if not verify_password(user.password_hash, current_password):
        raise Refused("current password is wrong", code="wrong_password")
    user.password_hash = hash_password(new_password)
    user.session_version += 1
    session.flush()


def create_api_token(*, session: Session, user: User, name: str) -> tuple[ApiToken, str]:
    """A new personal token: returned once, stored only as a hash."""
    token, digest = new_api_token()
    row = ApiToken(user_id=user.id, name=name, token_hash=digest, prefix=token[:12])
    session.add(row)
    session.flush()
    return row, token


def list_api_tokens(*, session: Session, user: User) -> list[ApiToken]:
    return list(session.scalars(
        select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None)).order_by(ApiToken.id)
    ))


def revoke_api_token(*, session: Session, user: User, token_id: int) -> None:
    row = session.get(ApiToken, token_id)
    if row is None or row.user_id != user.id or row.revoked_at is not None:
        raise NotFound("token not found")
    row.revoked_at = datetime.now(UTC)
    session.flush()


def find_user(*, session: Session, username: str | None = None) -> User:
    """The named user, or the first admin when no name is given (the CLI acts as them)."""
    if username:
        user = session.scalar(select(User).where(User.username == username))
    else:
        user = session.scalar(select(User).where(User.is_admin.is_(True)).order_by(User.id).limit(1))
    if user is None:
        raise NotFound(f"user {username!r} not found" if username else "no admin user yet")
    return user


def list_users(*, session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.id)))


def create_user(*, session: Session, username: str, password: str, is_admin: bool = False) -> User:
    user = User(username=username, password_hash=hash_password(password), is_admin=is_admin)
    try:
        with session.begin_nested():
            session.add(user)
            session.flush()
    except IntegrityError:
        raise Conflict("username already taken") from None
    return user
