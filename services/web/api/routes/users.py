"""User accounts (admins create them)."""

from __future__ import annotations

from fastapi import APIRouter, status
from pydantic import BaseModel, Field

from services.common.models import User
from services.domain.accounts import service
from services.web.api.deps import AdminUser, SessionDep
from services.web.api.routes.auth import UserOut

router = APIRouter(prefix="/api/users", tags=["users"])


class UserCreate(BaseModel):
    username: str = Field(min_length=1, max_length=150, pattern=r"^[A-Za-z0-9_.@\-]+$")
    password: str = Field(min_length=8, max_length=1024)
    is_admin: bool = False


@router.get("", response_model=list[UserOut])
def list_users(_: AdminUser, session: SessionDep) -> list[User]:
    return service.list_users(session=session)


@router.post("", response_model=UserOut, status_code=status.HTTP_201_CREATED)
def create_user(body: UserCreate, _: AdminUser, session: SessionDep) -> User:
    return service.create_user(session=session, username=body.username, password=body.password, is_admin=body.is_admin)
