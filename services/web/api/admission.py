"""Admission control: at most WEB_MAX_INFLIGHT requests in flight per worker process (default: as many as
its connection pool holds, pool size + overflow, since every API request needs a connection; more would
only wait inside for one, and a long internal queue is what turned load into 500s and 30 s waits).

A request beyond that waits up to WEB_QUEUE_TIMEOUT_MS for a slot, then is answered at once with
503 `{"detail", "code": "overloaded"}` and `Retry-After: 1` -- a quick refusal the client can retry,
instead of a queue that grows into timeouts and exhausted connection pools (issue 16).

Exempt: `/health` (the supervisor and the container health checks must see a busy server as up),
static files (no database, cheap), and the long-lived event stream `/api/jobs/events` (it is open
for as long as a page is, and would otherwise hold a slot for 30 minutes).

Pure ASGI (no BaseHTTPMiddleware): nothing is buffered and streamed responses keep their slot until
they end. The slot bookkeeping uses a counter and per-waiter futures created on the running loop, so
one instance works whatever loop serves it.
"""

from __future__ import annotations

import asyncio
from collections import deque

from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from services.common.db import pool_sizing
from services.common.http import error_response
from services.common.settings import get_settings
from services.web.api.asgi import HTTPMiddleware

EXEMPT_PATHS = frozenset({"/health", "/favicon.ico", "/api/jobs/events"})
EXEMPT_PREFIXES = ("/static/",)
MIN_INFLIGHT = 4
RETRY_AFTER_SECONDS = "1"
DETAIL = "the server is busy; try again shortly"


def exempt(path: str) -> bool:
    return path in EXEMPT_PATHS or path.startswith(EXEMPT_PREFIXES)


class AdmissionControl(HTTPMiddleware):
    """Limits in-flight HTTP requests; `max_inflight` / `queue_timeout_ms` default to the settings."""

    def __init__(self, app: ASGIApp, *, max_inflight: int | None = None,
                 queue_timeout_ms: int | None = None) -> None:
        super().__init__(app)
        settings = get_settings()
        if max_inflight is None:
            pool_size, max_overflow = pool_sizing(settings)
            max_inflight = settings.web_max_inflight or max(MIN_INFLIGHT, pool_size + max_overflow)
        self.max_inflight = max_inflight
        timeout_ms = queue_timeout_ms if queue_timeout_ms is not None else settings.web_queue_timeout_ms
        self.queue_timeout = max(0, timeout_ms) / 1000
        self.inflight = 0
        self.refused = 0  # since start, for logs and tests
        self._waiters: deque[asyncio.Future[None]] = deque()

    def passes_through(self, scope: Scope) -> bool:
        return super().passes_through(scope) or exempt(scope["path"])

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not await self._acquire():
            self.refused += 1
            response = error_response(503, DETAIL, "overloaded", headers={"Retry-After": RETRY_AFTER_SECONDS})
            await response(scope, receive, send)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            self._release()

    async def _acquire(self) -> bool:
        if self.inflight < self.max_inflight and not self._waiters:
            self.inflight += 1
            return True
        if self.queue_timeout <= 0:
            return False
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(self.queue_timeout):
                await waiter
        except TimeoutError:
            if waiter.done() and not waiter.cancelled():
                return True  # the slot was handed over just as the wait ran out: keep it
            self._forget(waiter)
            return False
        except BaseException:  # the client went away while waiting: give back a slot handed over meanwhile
            if waiter.done() and not waiter.cancelled():
                self._release()
            else:
                self._forget(waiter)
            raise
        return True  # the releasing request handed its slot over (inflight unchanged)

    def _forget(self, waiter: asyncio.Future[None]) -> None:
        waiter.cancel()
        try:
            self._waiters.remove(waiter)
        except ValueError:
            pass

    def _release(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # hand the slot to the oldest waiter
                return
        self.inflight -= 1


def install_admission_control(app: FastAPI) -> None:
    """Register last, so it is the outermost of the app's own middleware."""
    app.add_middleware(AdmissionControl)
