"""User accounts (admins create them)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from services.common.models import User
from services.web.api.deps import AdminUser, SessionDep
from services.web.api.routes.auth import UserOut
from services.web.core.security import hash_password

router = APIRouter(prefix="/api/users", tags=["users"])


class UserCreate(BaseModel):
    username: str = Field(min_length=1, max_length=150, pattern=r"^[A-Za-z0-9_.@\-]+$")
    password: str = Field(min_length=8, max_length=1024)
    is_admin: bool = False


@router.get("", response_model=list[UserOut])
def list_users(_: AdminUser, session: SessionDep) -> list[User]:
    return list(session.scalars(select(User).order_by(User.id)))


@router.post("", response_model=UserOut, status_code=status.HTTP_201_CREATED)
def create_user(body: UserCreate, _: AdminUser, session: SessionDep) -> User:
    user = User(username=body.username, password_hash=hash_password(body.password), is_admin=body.is_admin)
    session.add(user)
    try:
        session.flush()
    except IntegrityError:
        raise HTTPException(status.HTTP_409_CONFLICT, "username already taken") from None
    return user
