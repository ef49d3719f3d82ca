"""The browser's session cookie: signed (itsdangerous), HttpOnly, SameSite=Lax, ended by a password change."""

from __future__ import annotations

from fastapi import Response
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from services.common.models import User
from services.common.settings import get_settings
from services.domain.accounts.security import secret_key

SESSION_COOKIE = "djp_session"


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_key(), salt="djp-session")


def make_session_cookie(*, user_id: int, session_version: int) -> str:
    return _serializer().dumps({"uid": user_id, "v": session_version})


def read_session_cookie(value: str) -> tuple[int, int] | None:
    """(user id, session version) from a valid, unexpired cookie; None otherwise."""
    max_age = get_settings().session_max_age_days * 86400
    try:
        data = _serializer().loads(value, max_age=max_age)
    except (BadSignature, SignatureExpired):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("uid"), int):
        return None
    return data["uid"], int(data.get("v", 0))


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


def clear_session_cookie(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE)
