"""The browser's session cookie: signed (itsdangerous), HttpOnly, SameSite=Lax, Secure over HTTPS.

It carries the user id and a random session id whose row (`user_sessions`) must still exist: logging out
deletes the row, so a copied cookie stops working at once; a password change ends every other session.

`Secure` is set when the request came over HTTPS (`request.url.scheme`; behind a TLS-terminating proxy,
run uvicorn with `--proxy-headers --forwarded-allow-ips=<proxy>` so X-Forwarded-Proto is believed) or
always when COOKIE_SECURE=true.
"""

from __future__ import annotations

from fastapi import Request, Response
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from services.common.settings import get_settings
from services.domain.accounts.security import secret_key

SESSION_COOKIE = "djp_session"


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_key(), salt="djp-session")


def make_session_cookie(*, user_id: int, session_token: str) -> str:
    return _serializer().dumps({"uid": user_id, "sid": session_token})


def read_session_cookie(value: str) -> tuple[int, str] | None:
    """(user id, session token) from a valid, unexpired cookie; None otherwise (older cookies without a
    session id included: their users sign in again once)."""
    max_age = get_settings().session_max_age_days * 86400
    try:
        data = _serializer().loads(value, max_age=max_age)
    except (BadSignature, SignatureExpired):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("uid"), int) or not isinstance(data.get("sid"), str):
        return None
    return data["uid"], data["sid"]


def cookie_secure(request: Request) -> bool:
    return get_settings().cookie_secure or request.url.scheme == "https"


def set_session_cookie(response: Response, request: Request, *, user_id: int, session_token: str) -> None:
    settings = get_settings()
    response.set_cookie(
        SESSION_COOKIE,
        make_session_cookie(user_id=user_id, session_token=session_token),
        max_age=settings.session_max_age_days * 86400,
        httponly=True,
        samesite="lax",
        secure=cookie_secure(request),
    )


def clear_session_cookie(response: Response, request: Request | None = None) -> None:
    response.delete_cookie(SESSION_COOKIE, httponly=True, samesite="lax",
                           secure=cookie_secure(request) if request is not None else False)


def session_token_of(request: Request) -> str | None:
    """The session token of the request's cookie, when it has a valid one."""
    cookie = request.cookies.get(SESSION_COOKIE)
    parsed = read_session_cookie(cookie) if cookie else None
    return parsed[1] if parsed else None
