"""Admission control: at most WEB_MAX_INFLIGHT requests at work per worker process (default 4: the web
process is CPU-bound Python, and more requests at once only share its GIL and PostgreSQL's cores, which
raised every answer's latency; docs/benchmarks.md "Web app under load" measured 20 against 4).

A request beyond that waits up to WEB_QUEUE_TIMEOUT_MS for a slot, then is answered at once with
503 `{"detail", "code": "overloaded"}` and `Retry-After: 1` -- a quick refusal the client can retry,
instead of a queue that grows into timeouts and exhausted connection pools (issue 16).

Transfers do not hold a work slot while bytes move at the client's pace:
* a request that sends a file (multipart/form-data, a body over TRANSFER_MIN_BYTES or of unknown length)
  takes a slot of its own lane instead, at most WEB_MAX_UPLOADS per process, so a few slow uploads over a
  home connection cannot hold every work slot;
* a response gives its work slot back once its headers are sent: what is left is sending the body (an audio
  file to a player, a backup), not work.

Exempt: `/health` (the supervisor and the container health checks must see a busy server as up),
static files (no database, cheap), and the long-lived event stream `/api/jobs/events` (it is open
for as long as a page is, and would otherwise hold a slot for 30 minutes).

Pure ASGI (no BaseHTTPMiddleware): nothing is buffered and streamed responses are passed on as they come.
The slot bookkeeping uses a counter and per-waiter futures created on the running loop, so one instance
works whatever loop serves it.
"""

from __future__ import annotations

import asyncio
from collections import deque

from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from services.common.http import error_response, request_headers
from services.common.settings import get_settings
from services.web.api.asgi import HTTPMiddleware

EXEMPT_PATHS = frozenset({"/health", "/favicon.ico", "/api/jobs/events"})
EXEMPT_PREFIXES = ("/static/",)
TRANSFER_MIN_BYTES = 1 << 20  # a request body larger than this is an upload (its own lane)
RETRY_AFTER_SECONDS = "1"
DETAIL = "the server is busy; try again shortly"


def exempt(path: str) -> bool:
    return path in EXEMPT_PATHS or path.startswith(EXEMPT_PREFIXES)


def is_upload(scope: Scope) -> bool:
    """Whether the request sends a file: multipart, a large body, or a body of unknown length (chunked)."""
    headers = request_headers(scope)
    if headers.get("content-type", "").lower().startswith("multipart/"):
        return True
    if "transfer-encoding" in headers:
        return True
    length = headers.get("content-length", "")
    return length.isdigit() and int(length) > TRANSFER_MIN_BYTES


class Lane:
    """`limit` slots; a request waits up to `queue_timeout` seconds (in arrival order) for one."""

    def __init__(self, limit: int, queue_timeout: float) -> None:
        self.limit = limit
        self.queue_timeout = queue_timeout
        self.inflight = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    async def acquire(self) -> bool:
        if self.inflight < self.limit and not self._waiters:
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
                self.release()
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

    def release(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # hand the slot to the oldest waiter
                return
        self.inflight -= 1


class AdmissionControl(HTTPMiddleware):
    """Limits requests at work (and uploads, apart); the limits and `queue_timeout_ms` default to the settings."""

    def __init__(self, app: ASGIApp, *, max_inflight: int | None = None, max_uploads: int | None = None,
                 queue_timeout_ms: int | None = None) -> None:
        super().__init__(app)
        settings = get_settings()
        timeout_ms = queue_timeout_ms if queue_timeout_ms is not None else settings.web_queue_timeout_ms
        queue_timeout = max(0, timeout_ms) / 1000
        self.work = Lane(max_inflight or settings.resolved_web_max_inflight, queue_timeout)
        self.uploads = Lane(max_uploads or settings.web_max_uploads, queue_timeout)
        self.refused = 0  # since start, for logs and tests

    @property
    def max_inflight(self) -> int:
        return self.work.limit

    def passes_through(self, scope: Scope) -> bool:
        return super().passes_through(scope) or exempt(scope["path"])

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        lane = self.uploads if is_upload(scope) else self.work
        if not await lane.acquire():
            self.refused += 1
            response = error_response(503, DETAIL, "overloaded", headers={"Retry-After": RETRY_AFTER_SECONDS})
            await response(scope, receive, send)
            return
        held = True

        def give_back() -> None:
            nonlocal held
            if held:
                held = False
                lane.release()

        async def send_then_free(message) -> None:
            await send(message)
            if message["type"] == "http.response.start" and lane is self.work:
                give_back()  # only the body is left to send

        try:
            await self.app(scope, receive, send_then_free)
        finally:
            give_back()


def install_admission_control(app: FastAPI) -> None:
    """Register last, so it is the outermost of the app's own middleware."""
    app.add_middleware(AdmissionControl)
