"""Login, logout (this browser, or everywhere), the current user, password changes and personal API tokens."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field

from services.common.models import ApiToken, User
from services.domain.accounts import service
from services.web.api.cookies import clear_session_cookie, session_token_of, set_session_cookie
from services.web.api.deps import (
    CurrentUser,
    LoginThrottleDep,
    SessionDep,
    client_address,
    password_work,
)

router = APIRouter(prefix="/api/auth", tags=["auth"])


class LoginRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=150)
    password: str = Field(min_length=1, max_length=1024)


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    username: str
    is_admin: bool


class TokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
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
    model_config = ConfigDict(extra="forbid")
    current_password: str = Field(min_length=1, max_length=1024)
    new_password: str = Field(min_length=8, max_length=1024)


class PasswordChangedOut(BaseModel):
    detail: str
    ended_sessions: int = Field(description="Other signed-in browsers logged out")
    revoked_tokens: int = Field(description="Personal API tokens revoked (create new ones)")


class LoggedOut(BaseModel):
    detail: str
    ended_sessions: int


async def begin_session(request: Request, response: Response, *, session, throttle, username: str,
                        password: str) -> User:
    """Throttled sign-in (hashing in the password pool) that sets the session cookie: shared with the
    browser's /login form."""
    signed = await password_work(service.login, session=session, username=username, password=password,
                                 address=client_address(request), throttle=throttle)
    set_session_cookie(response, request, user_id=signed.user.id, session_token=signed.session_token)
    return signed.user


def end_browser_session(request: Request, response: Response, *, session) -> None:
    """Delete this browser's session row (its cookie then answers 401 anywhere) and clear the cookie."""
    token = session_token_of(request)
    if token:
        service.end_session(session=session, session_token=token)
    clear_session_cookie(response, request)


@router.post("/login", response_model=UserOut, responses={429: {"description": "Too many failed sign-ins: "
                                                                "see Retry-After"}})
async def login(body: LoginRequest, request: Request, session: SessionDep, throttle: LoginThrottleDep,
                response: Response) -> User:
    """Check the password and set the session cookie used by the browser UI. After repeated failures for
    the account or from the address, answers 429 with Retry-After (even for the right password)."""
    return await begin_session(request, response, session=session, throttle=throttle, username=body.username,
                               password=body.password)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
def logout(request: Request, session: SessionDep) -> Response:
    """End this browser's session: the cookie stops working everywhere it was copied to."""
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    end_browser_session(request, response, session=session)
    return response


@router.post("/logout-everywhere", response_model=LoggedOut)
def logout_everywhere(request: Request, user: CurrentUser, session: SessionDep, response: Response) -> LoggedOut:
    """End every browser session of yours, this one included (API tokens stay: revoke them separately)."""
    ended = service.end_sessions(session=session, user=user)
    clear_session_cookie(response, request)
    return LoggedOut(detail=f"logged out of {ended} session(s)", ended_sessions=ended)


@router.get("/me", response_model=UserOut)
def me(user: CurrentUser) -> User:
    return user


@router.post("/password", response_model=PasswordChangedOut)
async def change_password(body: PasswordChange, request: Request, user: CurrentUser,
                          session: SessionDep) -> PasswordChangedOut:
    """Change the password. This browser stays signed in; every other session is logged out and every
    personal API token is revoked (the response says how many)."""
    changed = await password_work(
        service.change_password, session=session, user=user, current_password=body.current_password,
        new_password=body.new_password, keep_session_id=getattr(request.state, "session_id", None),
    )
    return PasswordChangedOut(
        detail=(f"password changed; {changed.ended_sessions} other session(s) logged out and "
                f"{changed.revoked_tokens} API token(s) revoked"),
        ended_sessions=changed.ended_sessions, revoked_tokens=changed.revoked_tokens,
    )


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
