"""Login, logout, the current user and personal API tokens."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, HTTPException, Response, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from services.common.models import ApiToken, User
from services.common.settings import get_settings
from services.web.api.deps import CurrentUser, SessionDep
from services.web.core.security import (
    SESSION_COOKIE,
    hash_password,
    make_session_cookie,
    new_api_token,
    verify_dummy,
    verify_password,
)

router = APIRouter(prefix="/api/auth", tags=["auth"])


class LoginRequest(BaseModel):
    username: str = Field(min_length=1, max_length=150)
    password: str = Field(min_length=1, max_length=1024)


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    username: str
    is_admin: bool


class TokenCreate(BaseModel):
    name: str = Field("api", min_length=1, max_length=100)


class TokenCreated(BaseModel):
    id: int
    name: str
    token: str = Field(description="Shown once; send as `Authorization: Bearer <token>`")


class TokenOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None


class PasswordChange(BaseModel):
    current_password: str = Field(min_length=1)
    new_password: str = Field(min_length=8, max_length=1024)


def set_session_cookie(response: Response, user: User) -> None:
    settings = get_settings()
    response.set_cookie(
        SESSION_COOKIE,
        make_session_cookie(user_id=user.id, session_version=user.session_version),
        max_age=settings.session_max_age_days * 86400,
        httponly=True,
        samesite="lax",
        secure=settings.cookie_secure,
    )


def check_credentials(session: SessionDep, username: str, password: str) -> User:
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        verify_dummy(password)
    if user is None or not user.is_active or not verify_password(user.password_hash, password):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "wrong username or password")
    return user


@router.post("/login", response_model=UserOut)
def login(body: LoginRequest, session: SessionDep, response: Response) -> User:
    """Check the password and set the session cookie used by the browser UI."""
    user = check_credentials(session, body.username, body.password)
    set_session_cookie(response, user)
    return user


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
def logout(response: Response) -> Response:
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.get("/me", response_model=UserOut)
def me(user: CurrentUser) -> User:
    return user


@router.post("/password", status_code=status.HTTP_204_NO_CONTENT)
def change_password(body: PasswordChange, user: CurrentUser, session: SessionDep) -> Response:
    """Change the password; every existing session cookie stops working."""
    if not verify_password(user.password_hash, body.current_password):
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "current password is wrong")
    user.password_hash = hash_password(body.new_password)
    user.session_version += 1
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/tokens", response_model=TokenCreated, status_code=status.HTTP_201_CREATED)
def create_token(user: CurrentUser, session: SessionDep, body: TokenCreate | None = None) -> TokenCreated:
    """Create a personal API token. The token is returned once and stored only as a hash."""
    token, digest = new_api_token()
    row = ApiToken(user_id=user.id, name=(body or TokenCreate()).name, token_hash=digest, prefix=token[:12])
    session.add(row)
    session.flush()
    return TokenCreated(id=row.id, name=row.name, token=token)


@router.get("/tokens", response_model=list[TokenOut])
def list_tokens(user: CurrentUser, session: SessionDep) -> list[ApiToken]:
    return list(
        session.scalars(
            select(ApiToken)
            .where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
            .order_by(ApiToken.id)
        )
    )


@router.delete("/tokens/{token_id}", status_code=status.HTTP_204_NO_CONTENT)
def revoke_token(token_id: int, user: CurrentUser, session: SessionDep) -> Response:
    row = session.get(ApiToken, token_id)
    if row is None or row.user_id != user.id or row.revoked_at is not None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "token not found")
    row.revoked_at = datetime.now(UTC)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
