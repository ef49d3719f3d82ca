"""Login, logout, the current user and personal API tokens."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Response, status
from pydantic import BaseModel, ConfigDict, Field

from services.common.models import ApiToken, User
from services.domain.accounts import service
from services.web.api.cookies import clear_session_cookie, set_session_cookie
from services.web.api.deps import CurrentUser, SessionDep

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


@router.post("/login", response_model=UserOut)
def login(body: LoginRequest, session: SessionDep, response: Response) -> User:
    """Check the password and set the session cookie used by the browser UI."""
    user = service.sign_in(session=session, username=body.username, password=body.password)
    set_session_cookie(response, user)
    return user


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
def logout() -> Response:
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    clear_session_cookie(response)
    return response


@router.get("/me", response_model=UserOut)
def me(user: CurrentUser) -> User:
    return user


@router.post("/password", status_code=status.HTTP_204_NO_CONTENT)
def change_password(body: PasswordChange, user: CurrentUser, session: SessionDep) -> Response:
    """Change the password; every existing session cookie stops working."""
    service.change_password(
        session=session, user=user, current_password=body.current_password, new_password=body.new_password
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/tokens", response_model=TokenCreated, status_code=status.HTTP_201_CREATED)
def create_token(user: CurrentUser, session: SessionDep, body: TokenCreate | None = None) -> TokenCreated:
    """Create a personal API token. The token is returned once and stored only as a hash."""
    row, token = service.create_api_token(session=session, user=user, name=(body or TokenCreate()).name)
    return TokenCreated(id=row.id, name=row.name, token=token)


@router.get("/tokens", response_model=list[TokenOut])
def list_tokens(user: CurrentUser, session: SessionDep) -> list[ApiToken]:
    return service.list_api_tokens(session=session, user=user)


@router.delete("/tokens/{token_id}", status_code=status.HTTP_204_NO_CONTENT)
def revoke_token(token_id: int, user: CurrentUser, session: SessionDep) -> Response:
    service.revoke_api_token(session=session, user=user, token_id=token_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
