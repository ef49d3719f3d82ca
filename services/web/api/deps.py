"""Request dependencies: the database session, the authenticated user (cookie or Bearer token), the
sign-in throttle, and the small pool password hashing runs in."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Annotated, TypeVar

from fastapi import Depends, Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from services.common.db import end_session, new_session
from services.common.models import User
from services.domain.accounts import service as accounts
from services.domain.accounts.throttle import LoginThrottle
from services.domain.errors import Forbidden, NotAuthenticated, Unavailable
from services.web.api.cookies import SESSION_COOKIE, read_session_cookie
from services.web.api.query_params import check_query

T = TypeVar("T")


async def get_session() -> AsyncIterator[Session]:
    """One session per request: committed when the route returns, rolled back when it raises. Ended
    with scope="function" (below), so the commit happens before the response is sent: with FastAPI's
    default ("request") the client could get its 201 before the data was committed, read stale data
    on its next request, or never hear of a commit that failed.
    Made on the event loop (a session does no I/O before its first statement) and ended in the thread
    pool (COMMIT is I/O): one thread hop per request instead of a sync dependency's two."""
    session = new_session()
    try:
        yield session
    except BaseException:
        await run_in_threadpool(partial(end_session, session, failed=True))
        raise
    await run_in_threadpool(partial(end_session, session, failed=False))


SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def authenticate(request: Request, session: Session) -> User | None:
    """The user behind the request's Bearer token, or else its session cookie (whose session row id is
    left in `request.state.session_id`)."""
    auth = request.headers.get("authorization", "")
    if auth:
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        return accounts.user_for_token(session=session, token=token.strip())
    cookie = request.cookies.get(SESSION_COOKIE)
    parsed = read_session_cookie(cookie) if cookie else None
    if parsed is None:
        return None
    user_id, session_token = parsed
    found = accounts.user_for_session(session=session, user_id=user_id, session_token=session_token)
    if found is None:
        return None
    user, request.state.session_id = found
    return user


def get_current_user(request: Request, session: SessionDep) -> User:
    user = authenticate(request, session)
    if user is None:
        raise NotAuthenticated("not authenticated")
    request.state.user = user
    request.state.username = user.username  # for error pages rendered after the session closed
    check_query(request)  # unknown query parameters: 422, once the user is known (query_params.py)
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]


def require_admin(user: CurrentUser) -> User:
    if not user.is_admin:
        raise Forbidden("admin only")
    return user


AdminUser = Annotated[User, Depends(require_admin)]


# --- sign-in: throttle and password hashing -----------------------------------------------------------


def get_login_throttle() -> LoginThrottle:
    """The Redis-backed sign-in throttle (tests override this to inject a fake clock)."""
    return LoginThrottle()


LoginThrottleDep = Annotated[LoginThrottle, Depends(get_login_throttle)]


def client_address(request: Request) -> str | None:
    """The client's address (behind a proxy: uvicorn --proxy-headers makes it X-Forwarded-For's)."""
    return request.client.host if request.client else None


# Argon2 takes tens of milliseconds of CPU and 64 MB per hash. Sign-in, password changes and user creation
# hash in this small dedicated pool, never in the event loop's default thread pool (which every sync route
# and dependency shares): 16 parallel sign-ins then occupy one or two threads and wait for them, instead of
# taking 16 of the default pool's threads and both cores from every other request. Beyond the queue depth
# a sign-in is refused at once with 503 rather than queued into timeouts.
PASSWORD_WORK_THREADS = max(1, (os.cpu_count() or 2) // 2)
PASSWORD_WORK_QUEUE = 32
_password_pool = ThreadPoolExecutor(max_workers=PASSWORD_WORK_THREADS, thread_name_prefix="djp-password")
_password_slots = threading.BoundedSemaphore(PASSWORD_WORK_THREADS + PASSWORD_WORK_QUEUE)


async def password_work(fn: Callable[..., T], /, **kwargs) -> T:
    """Run `fn(**kwargs)` (a service call that hashes or verifies a password) in the password pool."""
    if not _password_slots.acquire(blocking=False):
        raise Unavailable("too many sign-ins at once; try again in a few seconds", code="busy")
    try:
        return await asyncio.get_running_loop().run_in_executor(_password_pool, partial(fn, **kwargs))
    finally:
        _password_slots.release()
