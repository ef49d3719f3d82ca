"""User accounts (admins create them); your own account's Discogs token and the library shares offered to you."""

from __future__ import annotations

from fastapi import APIRouter, Response, status
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from services.common.models import User
from services.domain.accounts import service
from services.domain.libraries import service as libraries
from services.web.api.deps import AdminUser, CurrentUser, SessionDep, password_work
from services.web.api.routes.auth import UserOut

router = APIRouter(prefix="/api/users", tags=["users"])


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=150, pattern=r"^[A-Za-z0-9_.@\-]+$")
    password: str = Field(min_length=8, max_length=1024)
    is_admin: bool = False


class DiscogsTokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    token: SecretStr | None = Field(
        None, description="Your personal access token from discogs.com/settings/developers; null or empty clears it"
    )


class DiscogsTokenOut(BaseModel):
    token: str | None = Field(None, description="Your own token, masked (its last 4 characters); null when unset")
    can_sync: bool = Field(description="Whether your syncs have a Discogs token: your own, or the server's for an admin")
    uses: str | None = Field(None, description='"own", "server" (admins only) or null')


def discogs_status(user: User) -> DiscogsTokenOut:
    own = service.own_discogs_token(user)
    effective = service.discogs_token_for(user)
    uses = "own" if own else ("server" if effective else None)
    return DiscogsTokenOut(token=service.masked(own), can_sync=effective is not None, uses=uses)


@router.get("", response_model=list[UserOut])
def list_users(_: AdminUser, session: SessionDep) -> list[User]:
    return service.list_users(session=session)


@router.post("", response_model=UserOut, status_code=status.HTTP_201_CREATED)
async def create_user(body: UserCreate, _: AdminUser, session: SessionDep) -> User:
    return await password_work(service.create_user, session=session, username=body.username,
                               password=body.password, is_admin=body.is_admin)


@router.get("/me/discogs", response_model=DiscogsTokenOut)
def get_discogs_token(user: CurrentUser) -> DiscogsTokenOut:
    """Whether you have a Discogs token of your own (masked; never shown in full again)."""
    return discogs_status(user)


@router.put("/me/discogs", response_model=DiscogsTokenOut)
def set_discogs_token(body: DiscogsTokenIn, user: CurrentUser, session: SessionDep) -> DiscogsTokenOut:
    """Set (or clear, with null or "") your own Discogs token, stored encrypted. Your syncs use it in
    preference to the server's DISCOGS_USER_TOKEN, which only admins may use."""
    service.set_discogs_token(session=session, user=user, token=body.token.get_secret_value() if body.token else None)
    return discogs_status(user)


# --- library shares: invitations you accept or decline, shares you leave -----------------------------


class InvitationOut(BaseModel):
    library_id: int
    name: str
    owner: str = Field(description="The username of the user who invited you")


@router.get("/me/invitations", response_model=list[InvitationOut])
def list_invitations(user: CurrentUser, session: SessionDep) -> list[InvitationOut]:
    """Libraries other users invited you to follow (read-only), waiting for your answer."""
    return [InvitationOut(library_id=library.id, name=library.name, owner=owner.username)
            for library, owner in libraries.share_invitations(session=session, user=user)]


@router.post("/me/invitations/{library_id}/accept", response_model=InvitationOut)
def accept_invitation(library_id: int, user: CurrentUser, session: SessionDep) -> InvitationOut:
    """Accept: the library appears among yours, read-only (404 when there is no such invitation)."""
    library = libraries.accept_share(session=session, user=user, library_id=library_id)
    owner = session.get(User, library.owner_id)
    return InvitationOut(library_id=library.id, name=library.name, owner=owner.username)


@router.post("/me/invitations/{library_id}/decline", status_code=status.HTTP_204_NO_CONTENT)
def decline_invitation(library_id: int, user: CurrentUser, session: SessionDep) -> Response:
    libraries.decline_share(session=session, user=user, library_id=library_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.delete("/me/shares/{library_id}", status_code=status.HTTP_204_NO_CONTENT)
def leave_share(library_id: int, user: CurrentUser, session: SessionDep) -> Response:
    """Stop following a library shared with you (404 when it is not shared with you)."""
    libraries.leave_share(session=session, user=user, library_id=library_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
