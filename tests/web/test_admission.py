"""Admission control (services/web/api/admission.py) and the pool sizing / pool-exhausted 503 (issue 16).

No timing: requests are held in flight with asyncio events and released explicitly; the queue tests wait
for the middleware's own waiter list, never for the clock.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, StreamingResponse
from starlette.routing import Route

from services.web.api.admission import AdmissionControl


class Held:
    """A toy app whose /slow requests stay in flight until released."""

    def __init__(self) -> None:
        self.entered: list[asyncio.Event] = []
        self.release = asyncio.Event()

    async def slow(self, request: Request) -> PlainTextResponse:
        entered = asyncio.Event()
        self.entered.append(entered)
        entered.set()
        await self.release.wait()
        return PlainTextResponse("slow done")

    async def fast(self, request: Request) -> PlainTextResponse:
        return PlainTextResponse("fast")

    async def boom(self, request: Request) -> PlainTextResponse:
        raise RuntimeError("the route failed")

    async def upload(self, request: Request) -> PlainTextResponse:
        size = len(await request.body())
        return await self.slow(request) if size else PlainTextResponse("empty")

    async def stream(self, request: Request) -> StreamingResponse:
        async def body():
            yield b"first"
            await self.release.wait()  # the client is still receiving: the body is not done
            yield b"last"
        return StreamingResponse(body())

    def app(self) -> Starlette:
        return Starlette(routes=[
            Route("/slow", self.slow), Route("/fast", self.fast), Route("/boom", self.boom),
            Route("/upload", self.upload, methods=["POST"]), Route("/stream", self.stream),
            Route("/health", self.fast), Route("/static/app.css", self.fast), Route("/api/jobs/events", self.fast),
        ])


def _client(app) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
                             base_url="http://testserver")


async def _hold(client: httpx.AsyncClient, held: Held, n: int) -> list[asyncio.Task]:
    tasks = [asyncio.create_task(client.get("/slow")) for _ in range(n)]
    while len(held.entered) < n:  # both inside the route, i.e. in flight
        await asyncio.sleep(0)
    return tasks


def test_third_request_is_refused_with_503_and_retry_after_then_served_after_release():
    async def scenario():
        held = Held()
        gate = AdmissionControl(held.app(), max_inflight=2, queue_timeout_ms=0)
        async with _client(gate) as client:
            slow = await _hold(client, held, 2)
            assert gate.work.inflight == 2

            refused = await client.get("/fast")
            assert refused.status_code == 503
            assert refused.json() == {"detail": "the server is busy; try again shortly", "code": "overloaded"}
            assert refused.headers["Retry-After"] == "1"
            assert gate.refused == 1

            # Exempt while full: health checks, static files, the job event stream.
            for path in ("/health", "/static/app.css", "/api/jobs/events"):
                r = await client.get(path)
                assert r.status_code == 200, path

            held.release.set()
            assert [(await t).status_code for t in slow] == [200, 200]
            assert gate.work.inflight == 0
            again = await client.get("/fast")
            assert again.status_code == 200 and again.text == "fast"
            assert gate.work.inflight == 0

    asyncio.run(scenario())


def test_a_queued_request_gets_the_slot_a_finished_request_gives_back():
    async def scenario():
        held = Held()
        # A generous wait: the queued request must be served on release, never time out here.
        gate = AdmissionControl(held.app(), max_inflight=1, queue_timeout_ms=600_000)
        async with _client(gate) as client:
            (slow,) = await _hold(client, held, 1)
            queued = asyncio.create_task(client.get("/fast"))
            while not gate.work._waiters:
                await asyncio.sleep(0)
            assert not queued.done()
            held.release.set()
            assert (await slow).status_code == 200
            r = await queued
            assert r.status_code == 200 and r.text == "fast"
            assert gate.work.inflight == 0 and not gate.work._waiters and gate.refused == 0

    asyncio.run(scenario())


def test_a_queued_request_is_refused_when_its_wait_runs_out():
    async def scenario():
        held = Held()
        gate = AdmissionControl(held.app(), max_inflight=1, queue_timeout_ms=1)
        async with _client(gate) as client:
            (slow,) = await _hold(client, held, 1)
            r = await client.get("/fast")  # the slot is never released during its wait
            assert r.status_code == 503 and r.json()["code"] == "overloaded"
            assert not gate.work._waiters
            held.release.set()
            assert (await slow).status_code == 200
            assert (await client.get("/fast")).status_code == 200
            assert gate.work.inflight == 0

    asyncio.run(scenario())


def test_a_failing_request_gives_its_slot_back():
    async def scenario():
        held = Held()
        gate = AdmissionControl(held.app(), max_inflight=1, queue_timeout_ms=0)
        async with _client(gate) as client:
            assert (await client.get("/boom")).status_code == 500
            assert gate.work.inflight == 0
            assert (await client.get("/fast")).status_code == 200

    asyncio.run(scenario())


def test_uploads_take_their_own_slots_not_the_work_ones():
    """A slow upload does not hold a work slot; uploads beyond their own limit are refused."""
    async def scenario():
        held = Held()
        gate = AdmissionControl(held.app(), max_inflight=1, max_uploads=1, queue_timeout_ms=0)
        async with _client(gate) as client:
            upload = asyncio.create_task(client.post("/upload", files={"file": ("a.mp3", b"ID3" + b"x" * 100)}))
            while not held.entered:
                await asyncio.sleep(0)
            assert gate.uploads.inflight == 1 and gate.work.inflight == 0
            assert (await client.get("/fast")).status_code == 200  # work goes on beside the upload
            big = await client.post("/upload", content=b"x" * (2 << 20))  # a large body is an upload too
            assert big.status_code == 503 and big.json()["code"] == "overloaded"
            small = await client.post("/upload", content=b"")  # a small form is work, and work is free
            assert small.status_code == 200 and small.text == "empty"
            held.release.set()
            assert (await upload).status_code == 200
            assert gate.uploads.inflight == 0 and gate.work.inflight == 0

    asyncio.run(scenario())


def test_a_response_frees_its_work_slot_once_its_headers_are_sent():
    """Sending a body at the client's pace (an audio file) is not work: the slot is free after the headers."""
    async def scenario():
        held = Held()
        gate = AdmissionControl(held.app(), max_inflight=1, queue_timeout_ms=0)
        started = asyncio.Event()
        messages: list[dict] = []

        requested = []

        async def receive():
            if not requested:
                requested.append(True)
                return {"type": "http.request", "body": b"", "more_body": False}
            await asyncio.Event().wait()  # the client stays connected (the response cancels this wait)

        async def send(message):
            messages.append(message)
            if message["type"] == "http.response.start":
                started.set()

        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
                 "scheme": "http", "path": "/stream", "raw_path": b"/stream", "query_string": b"",
                 "root_path": "", "headers": [], "client": ("127.0.0.1", 1), "server": ("testserver", 80)}
        streaming = asyncio.create_task(gate(scope, receive, send))
        await started.wait()
        async with _client(gate) as client:
            assert gate.work.inflight == 0
            assert (await client.get("/fast")).status_code == 200
            held.release.set()
            await streaming
        assert b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body") == b"firstlast"
        assert gate.work.inflight == 0

    asyncio.run(scenario())


def test_the_app_is_behind_admission_control(app, user_client):
    """The real app registers the middleware; when every slot is taken its routes answer 503 at once,
    while /health and static files still answer."""
    from fastapi.testclient import TestClient

    assert any(m.cls is AdmissionControl for m in app.user_middleware)
    gate = AdmissionControl(app, max_inflight=1, queue_timeout_ms=0)
    with TestClient(gate) as c:
        c.cookies = user_client.cookies
        assert c.get("/api/playlists").status_code == 200
        gate.work.inflight = 1  # every slot taken
        r = c.get("/api/playlists")
        assert r.status_code == 503 and r.json()["code"] == "overloaded" and r.headers["Retry-After"] == "1"
        assert c.get("/health").status_code == 200
        assert c.get("/static/app.css").status_code == 200
        gate.work.inflight = 0
        assert c.get("/api/playlists").status_code == 200


def test_pool_sizing_keeps_every_worker_under_max_connections():
    from services.common.db import RESERVED_CONNECTIONS, pool_sizing
    from services.common.settings import Settings

    for workers in (1, 2, 4, 8, 16, 32):
        for max_connections in (100, 200, 500):
            size, overflow = pool_sizing(Settings(WEB_WORKERS=workers, DB_MAX_CONNECTIONS=max_connections))
            assert size >= 1 and overflow >= 0
            assert workers * (size + overflow) <= max_connections - RESERVED_CONNECTIONS, (workers, max_connections)
    assert pool_sizing(Settings(WEB_WORKERS=2, DB_POOL_SIZE=3, DB_MAX_OVERFLOW=0)) == (3, 0)
    assert Settings(WEB_WORKERS=0).resolved_web_workers >= 1


def test_in_flight_limit_defaults_to_four_and_follows_the_setting(monkeypatch):
    from services.common.db import pool_sizing
    from services.common.settings import get_settings

    monkeypatch.delenv("WEB_MAX_INFLIGHT", raising=False)
    get_settings.cache_clear()
    try:
        assert AdmissionControl(None).max_inflight == 4 <= sum(pool_sizing())  # each at work holds a connection
        assert AdmissionControl(None).uploads.limit == 4
        monkeypatch.setenv("WEB_MAX_INFLIGHT", "7")
        get_settings.cache_clear()
        assert AdmissionControl(None).max_inflight == 7
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()


@pytest.fixture
def tiny_pool(monkeypatch):
    """One pooled connection, no overflow, a short wait for it."""
    from tests.conftest import reset_caches

    monkeypatch.setenv("DB_POOL_SIZE", "1")
    monkeypatch.setenv("DB_MAX_OVERFLOW", "0")
    monkeypatch.setenv("DB_POOL_TIMEOUT", "0.2")
    reset_caches()
    yield
    monkeypatch.undo()
    reset_caches()


def test_an_exhausted_pool_answers_503_overloaded_not_500(user_client, tiny_pool):
    from services.common.db import get_engine

    assert user_client.get("/api/playlists").status_code == 200
    with get_engine().connect():  # the only connection, held: the request cannot get one
        r = user_client.get("/api/playlists")
        assert r.status_code == 503, r.text
        assert r.json() == {"detail": "the server is busy; try again shortly", "code": "overloaded"}
        assert r.headers["Retry-After"] == "1"
    assert user_client.get("/api/playlists").status_code == 200


def test_health_does_not_wait_for_a_saturated_pool(user_client, tiny_pool):
    from services.common.db import get_engine

    with get_engine().connect():  # requests hold every pooled connection
        r = user_client.get("/health")
        assert r.status_code == 200, r.text
        assert r.json()["checks"]["database"] == "ok"


def test_reading_with_a_token_writes_nothing(user_client):
    """The read path of a Bearer request commits no change (last_used_at at most every 5 minutes)."""
    from sqlalchemy import event, text

    from services.common.db import get_engine

    token = user_client.post("/api/auth/tokens", json={"name": "load"}).json()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    assert user_client.get("/api/playlists", headers=headers).status_code == 200  # the first use is recorded
    with get_engine().connect() as conn:
        before = conn.execute(text("SELECT last_used_at FROM api_tokens")).scalar()
    assert before is not None

    writes: list[str] = []

    def spy(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().split(None, 1)[0].upper() in ("INSERT", "UPDATE", "DELETE"):
            writes.append(statement)

    event.listen(get_engine(), "before_cursor_execute", spy)
    try:
        for path in ("/api/playlists", "/api/tracks?ids=1,2", "/api/albums", "/api/tracks/search?q=x", "/"):
            assert user_client.get(path, headers=headers).status_code == 200, path
    finally:
        event.remove(get_engine(), "before_cursor_execute", spy)
    assert writes == []


def test_an_open_job_event_stream_holds_no_database_connection(live_server, user_client):
    """A page keeps /api/jobs/events open for up to 30 minutes: it must not keep a pooled connection
    (each one-second poll borrows one briefly). Sampled until the pool is seen empty; a stream that
    held its request's connection would never let it reach zero."""
    import time

    from services.common.db import get_engine

    pool = get_engine().pool
    with httpx.Client(base_url=live_server, cookies=dict(user_client.cookies), timeout=30) as c:
        with c.stream("GET", "/api/jobs/events") as r:
            assert r.status_code == 200
            assert r.headers["content-type"].startswith("text/event-stream")
            deadline = time.monotonic() + 30  # generous: the pool is empty between polls
            seen_empty = False
            while not seen_empty and time.monotonic() < deadline:
                seen_empty = pool.checkedout() == 0
                time.sleep(0.01)
            assert seen_empty, "the event stream keeps a database connection checked out"
