"""Accounts: password and token sign-in (throttled), server-side browser sessions, password changes,
personal API tokens, a user's own Discogs token, users (admins)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.common.models import ApiToken, User, UserSession
from services.common.settings import get_settings
from services.domain.accounts.discogs_tokens import (  # noqa: F401 (re-exported)
    DISCOGS_TOKEN_MAX,
    discogs_token_for,
    own_discogs_token,
    set_discogs_token,
)
from services.domain.accounts.security import (
    hash_api_token,
    hash_password,
    new_api_token,
    new_session_token,
    verify_dummy,
    verify_password,
)
from services.domain.accounts.throttle import LoginThrottle
from services.domain.errors import Conflict, NotAuthenticated, NotFound, Refused


def sign_in(*, session: Session, username: str, password: str) -> User:
    """The active user with this password; NotAuthenticated otherwise (same answer and timing for an
    unknown user as for a wrong password). Not throttled: the web app calls `login`."""
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        verify_dummy(password)
    if user is None or not user.is_active or not verify_password(user.password_hash, password):
        raise NotAuthenticated("wrong username or password")
    return user


@dataclass(frozen=True)
class SignedIn:
    user: User
    session_token: str  # the random id the signed cookie carries; only its SHA-256 is stored


def login(*, session: Session, username: str, password: str, address: str | None,
          throttle: LoginThrottle | None = None) -> SignedIn:
    """Throttled sign-in that starts a server-side session. RateLimited while the account or the address
    is locked (even with the right password), Unavailable when the throttle store is down,
    NotAuthenticated for a wrong username or password."""
    throttle = throttle or LoginThrottle()
    throttle.reserve(username=username, address=address)  # claimed before verifying: parallel guesses count
    try:
        user = sign_in(session=session, username=username, password=password)
    except NotAuthenticated:
        throttle.failed(username=username, address=address)
        raise
    except BaseException:
        throttle.release(username=username, address=address)
        raise
    throttle.succeeded(username=username, address=address)
    return SignedIn(user=user, session_token=start_session(session=session, user=user))


# --- browser sessions (one row per signed-in browser; the cookie carries a random id) ---------------


def start_session(*, session: Session, user: User) -> str:
    """A new session row; returns the token for the cookie. The user's expired rows are dropped here."""
    token, digest = new_session_token()
    oldest = datetime.now(UTC) - timedelta(days=get_settings().session_max_age_days)
    session.execute(delete(UserSession).where(UserSession.user_id == user.id, UserSession.created_at < oldest))
    session.add(UserSession(user_id=user.id, token_hash=digest))
    session.flush()
    return token


def user_for_session(*, session: Session, user_id: int, session_token: str) -> tuple[User, int] | None:
    """(the active user, their session row id) of a live session cookie; None once it was ended
    (logout, logout everywhere, a password change elsewhere)."""
    row = session.execute(
        select(User, UserSession.id)
        .join(UserSession, UserSession.user_id == User.id)
        .where(UserSession.token_hash == hash_api_token(session_token), User.id == user_id)
    ).first()
    if row is None or not row[0].is_active:
        return None
    return row[0], row[1]


def end_session(*, session: Session, session_token: str) -> None:
    """Log out this browser: its cookie answers 401 from now on (ending an ended session is harmless)."""
    session.execute(delete(UserSession).where(UserSession.token_hash == hash_api_token(session_token)))
    session.flush()


def end_sessions(*, session: Session, user: User, keep_session_id: int | None = None) -> int:
    """Log out everywhere (but the session `keep_session_id`); returns how many sessions ended."""
    query = delete(UserSession).where(UserSession.user_id == user.id)
    if keep_session_id is not None:
        query = query.where(UserSession.id != keep_session_id)
    ended = session.execute(query).rowcount or 0
    session.flush()
    return ended


@dataclass(frozen=True)
class PasswordChanged:
    ended_sessions: int
    revoked_tokens: int


def change_password(*, session: Session, user: User, current_password: str, new_password: str,
                    keep_session_id: int | None = None) -> PasswordChanged:
    """Every other session ends and every personal API token is revoked (whoever knew the old password
    may have made one); the session `keep_session_id` (the one changing it) stays signed in."""
    if not verify_password(user.password_hash, current_password):
        raise Refused("current password is wrong", code="wrong_password")
    user.password_hash = hash_password(new_password)
    revoked = session.execute(
        update(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=datetime.now(UTC))
    ).rowcount or 0
    ended = end_sessions(session=session, user=user, keep_session_id=keep_session_id)
    session.flush()
    return PasswordChanged(ended_sessions=ended, revoked_tokens=revoked)


# --- personal API tokens ----------------------------------------------------------------------------

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


# --- a user's own Discogs token (discogs_tokens.py; re-exported for the web app) ------------------------


def masked(token: str | None) -> str | None:
    """What the UI may show of a token: its last 4 characters."""
    if not token:
        return None
    return "•" * 8 + token[-4:] if len(token) > 8 else "•" * 8


# --- users --------------------------------------------------------------------------------------------


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
