"""The request-size limit on every route (MAX_REQUEST_MB): 413 `too_large` by Content-Length before the
body is read, and by counting for chunked bodies; streamed uploads may go up to their own caps."""

from __future__ import annotations

import io
import json
import math
import socket
import struct
import wave

import anyio
import pytest

from services.common import db
from services.common.models import Library, Track
from services.common.settings import get_settings
from services.web.api.limits import MB, RequestSizeLimit, limit_for

CHUNK = 64 * 1024


@pytest.fixture
def one_mb_cap(env_setting):
    """MAX_REQUEST_MB=1 for this test (the middleware reads the setting per request)."""
    env_setting(MAX_REQUEST_MB="1")


class Body:
    """An ASGI receive() that hands out `chunks` chunks of 64 KB as a chunked body, counting what was taken."""

    def __init__(self, chunks: int) -> None:
        self.chunks = chunks
        self.taken = 0

    async def __call__(self) -> dict:
        if self.taken >= self.chunks:
            return {"type": "http.disconnect"}
        self.taken += 1
        return {"type": "http.request", "body": b"x" * CHUNK, "more_body": self.taken < self.chunks}


def _call(app, method: str, path: str, headers: list[tuple[bytes, bytes]], receive) -> tuple[int, dict]:
    """One request through the ASGI app: (status, JSON body)."""
    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
             "headers": [(b"host", b"testserver"), (b"origin", b"http://testserver"), *headers],
             "client": ("127.0.0.1", 1234),
             "server": ("testserver", 80)}
    anyio.run(app, scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], json.loads(body)


def test_content_length_over_the_cap_is_refused_before_reading(one_mb_cap):
    calls = {"app": 0, "receive": 0}

    async def inner(scope, receive, send):  # pragma: no cover - must not be reached
        calls["app"] += 1

    async def receive():  # pragma: no cover - must not be called
        calls["receive"] += 1
        return {"type": "http.request", "body": b"", "more_body": False}

    status, body = _call(RequestSizeLimit(inner), "POST", "/api/playlists",
                         [(b"content-length", str(MB + 1).encode())], receive)
    assert status == 413
    assert body == {"detail": "the request body is larger than 1 MB", "code": "too_large"}
    assert calls == {"app": 0, "receive": 0}


def test_content_length_over_the_cap_on_a_real_server(live_server, make_user):
    """A real socket: headers announcing 1 byte over the default 25 MB, no body sent -> 413 at once."""
    alice = make_user("alice")
    cookie = "; ".join(f"{k}={v}" for k, v in alice.cookies.items())
    host, port = live_server.removeprefix("http://").split(":")
    limit = get_settings().max_request_mb * MB
    assert limit == 25 * MB
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall((f"POST /api/playlists HTTP/1.1\r\nHost: {host}:{port}\r\nCookie: {cookie}\r\n"
                      f"Origin: {live_server}\r\n"
                      f"Content-Type: application/json\r\nContent-Length: {limit + 1}\r\n\r\n").encode())
        response = b""
        while b"\r\n\r\n" not in response or not response.rstrip().endswith(b"}"):
            data = sock.recv(65536)
            if not data:
                break
            response += data
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413"), head
    assert json.loads(body) == {"detail": "the request body is larger than 25 MB", "code": "too_large"}


def test_chunked_body_over_the_cap_is_refused_while_streaming(app, make_user, one_mb_cap):
    alice = make_user("alice")
    cookie = "; ".join(f"{k}={v}" for k, v in alice.cookies.items()).encode()
    body = Body(chunks=10_000)  # 625 MB if it were all read
    status, answer = _call(app, "POST", "/api/playlists",
                           [(b"cookie", cookie), (b"content-type", b"application/json"),
                            (b"transfer-encoding", b"chunked")], body)
    assert status == 413 and answer["code"] == "too_large" and "1 MB" in answer["detail"]
    assert body.taken == MB // CHUNK + 1  # stopped at the first chunk past the cap


def test_chunked_body_under_the_cap_reaches_the_route(app, make_user, one_mb_cap):
    alice = make_user("alice")
    cookie = "; ".join(f"{k}={v}" for k, v in alice.cookies.items()).encode()
    payload = json.dumps({"name": "set"}).encode()
    sent = False

    async def receive() -> dict:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": payload, "more_body": False}

    status, answer = _call(app, "POST", "/api/playlists", [(b"cookie", cookie), (b"content-type", b"application/json"),
                                                            (b"transfer-encoding", b"chunked")], receive)
    assert status == 201 and answer["name"] == "set"


def test_json_route_over_the_cap_through_the_client(make_user, one_mb_cap):
    alice = make_user("alice")
    r = alice.post("/api/playlists", content=b"{" + b" " * (MB + 10) + b"}",
                   headers={"content-type": "application/json"})
    assert r.status_code == 413 and r.json()["code"] == "too_large"


def _wav(seconds: float) -> bytes:
    """A 44.1 kHz stereo 16-bit sine: 176 KB per second."""
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(44100)
        frames = bytearray()
        for i in range(int(44100 * seconds)):
            v = int(8000 * math.sin(2 * math.pi * 440 * i / 44100))
            frames += struct.pack("<hh", v, v)
        w.writeframes(bytes(frames))
    return out.getvalue()


def _track(owner_id: int) -> int:
    with db.session_scope() as s:
        lib = Library(owner_id=owner_id, name="Crates")
        s.add(lib)
        s.flush()
        t = Track(track_id="42-A1", library_id=lib.id, title="Tone", artist="Test")
        s.add(t)
        s.flush()
        return t.id


def test_audio_upload_may_exceed_the_global_cap_up_to_its_own(make_user, one_mb_cap, env_setting):
    alice = make_user("alice")
    pk = _track(alice.user_id)
    audio = _wav(12)
    assert 2 * MB < len(audio) < 3 * MB
    assert limit_for("POST", f"/api/tracks/{pk}/audio") >= get_settings().analysis_max_upload_mb * MB
    up = alice.post(f"/api/tracks/{pk}/audio", files={"file": ("tone.wav", audio, "audio/wav")})
    assert up.status_code == 201, up.text
    # The same size elsewhere is refused by the global cap...
    other = alice.post(f"/api/tracks/{pk}/analyze", content=audio, headers={"content-type": "application/json"})
    assert other.status_code == 413 and other.json()["code"] == "too_large"
    # ... and the audio route stops at its own cap.
    env_setting(ANALYSIS_MAX_UPLOAD_MB="2")
    r = alice.post(f"/api/tracks/{pk}/audio", files={"file": ("tone.wav", audio, "audio/wav")})
    assert r.status_code == 413 and r.json()["code"] == "too_large"


def test_allowances_are_the_routes_own_caps(one_mb_cap):
    from services.web.api.uploads import MULTIPART_OVERHEAD

    assert limit_for("POST", "/api/playlists") == MB
    assert limit_for("GET", "/api/tracks/1/audio") == MB  # downloads of audio send no body
    assert limit_for("POST", "/api/tracks/1/audio") == get_settings().analysis_max_upload_mb * MB + MULTIPART_OVERHEAD
    assert limit_for("POST", "/api/libraries/3/import/csv") == 50 * MB + MULTIPART_OVERHEAD
    assert limit_for("POST", "/libraries/3/import-csv") == 50 * MB + MULTIPART_OVERHEAD
    assert limit_for("POST", "/api/playlists/import") == 20 * MB + MULTIPART_OVERHEAD
    assert limit_for("POST", "/api/tracks/1/audio/extra") == MB


def test_csv_import_is_allowed_past_the_global_cap(make_user, one_mb_cap):
    """The CSV import keeps its own 50 MB cap: a 2 MB export is imported although the global cap is 1 MB."""
    alice = make_user("alice")
    library_id = alice.post("/api/libraries", json={"name": "Big"}).json()["id"]
    header = ("Catalog#,Artist,Title,Label,Format,Rating,Released,release_id,CollectionFolder,Date Added,"
              "Collection Media Condition,Collection Sleeve Condition,Collection Notes\n")
    rows = "".join(f"C,Artist,Title {n} {'x' * 150},L,LP,,1999,{n},U,2023-05-01 10:11:12,,,\n"
                   for n in range(1, 12_001))
    data = (header + rows).encode()
    assert len(data) > 2 * MB
    r = alice.post(f"/api/libraries/{library_id}/import/csv", files={"file": ("big.csv", data, "text/csv")})
    assert r.status_code == 201, r.text
    assert r.json()["rows"] == 12_000
