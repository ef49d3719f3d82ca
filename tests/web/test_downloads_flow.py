"""Downloads end to end: the API queues, a real worker (yt-dlp, ffmpeg) fetches from a local HTTP
server, the real analysis service analyses, the track is updated and its audio streamed with Range;
the job center lists, cancels, retries and streams job changes; a worker killed mid-download is
recovered."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from services.common import db
from services.common.models import Library, Track
from services.common.settings import get_settings
from services.domain import jobs
from tests.conftest import TEST_PASSWORD, free_port
from tests.domain.downloads.conftest import media_root  # noqa: F401  (session fixture)
from tests.fakes.media_server import MediaServer
from tests.web.test_analysis_flow import _wait_http

ROOT = Path(__file__).resolve().parents[2]


def _env(extra: dict[str, str]) -> dict[str, str]:
    return {"DOWNLOAD_ALLOWED_HOSTS": "127.0.0.1,127.0.0.2,localhost", "DOWNLOAD_ALLOW_PRIVATE_NETWORKS": "127.0.0.1/32",
            "DOWNLOAD_TIMEOUT_SECONDS": "3", "DOWNLOAD_RETRIES": "2", "DOWNLOAD_RETRY_DELAYS": "1", **extra}


def _worker(env: dict[str, str], *queues: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "services.download_worker", *queues], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def _descendants(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children = (task / "children").read_text().split()
        except OSError:
            continue
        for child in map(int, children):
            found += [child, *_descendants(child)]
    return found


def _dead(pid: int) -> bool:
    try:
        return "State:\tZ" in Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return True


def _kill_tree(pid: int) -> None:
    """SIGKILL a process and everything it started, as when its container or machine dies."""
    for victim in [pid, *_descendants(pid)]:
        try:
            os.kill(victim, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


@pytest.fixture(scope="module")
def download_stack(servers, media_root) -> Iterator[dict]:  # noqa: F811
    """A media server, the analysis service and one worker on the download and analysis queues."""
    port = free_port()
    with MediaServer(media_root) as media:
        extra = _env({"ESSENTIA_API_URL": f"http://127.0.0.1:{port}"})
        saved = {k: os.environ.get(k) for k in extra}
        os.environ.update(extra)
        get_settings.cache_clear()
        env = {**os.environ, **servers, "ESSENTIA_PORT": str(port), "ANALYSIS_WORKERS": "1"}
        essentia = subprocess.Popen([sys.executable, "-m", "services.essentia_api"], cwd=ROOT, env=env,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        stack = {"media": media, "env": env, "worker": _worker(env, "download", "analysis")}
        try:
            _wait_http(f"http://127.0.0.1:{port}/health", essentia)
            yield stack
        finally:
            _stop(stack["worker"])  # a test may have replaced it
            _stop(essentia)
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
            get_settings.cache_clear()


@pytest.fixture(autouse=True)
def empty_audio_dir(clean_db) -> None:
    """Ids restart with the truncated database: remove the files earlier tests left under their ids."""
    import shutil

    from services.common.db import get_redis

    for key in get_redis().scan_iter("djp:jobs:index:*"):
        get_redis().delete(key)  # and the job index lists no job of an earlier test's ids
    audio = get_settings().resolved_audio_dir
    for folder in audio.glob("library_*"):
        shutil.rmtree(folder, ignore_errors=True)


def _track(owner_id: int, *, friend: bool = False, **fields) -> tuple[int, int]:
    with db.session_scope() as s:
        lib = Library(owner_id=owner_id, name="Crates", is_friend=friend)
        s.add(lib)
        s.flush()
        t = Track(track_id="7-B2", library_id=lib.id, title=fields.pop("title", "Groove"), artist="Synth", **fields)
        s.add(t)
        s.flush()
        return t.id, lib.id


def _wait(client, job_id: str, *, until=("finished", "failed", "stopped", "canceled"), seconds: float = 420,
          check=None) -> dict:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        state = client.get(f"/api/jobs/{job_id}").json()
        if state.get("status") in until and (check is None or check(state)):
            return state
        time.sleep(0.3)
    pytest.fail(f"job {job_id} did not reach {until}: {state}")


def _library_files(library_id: int) -> list[str]:
    folder = get_settings().resolved_audio_dir / f"library_{library_id}"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def test_download_analyse_and_stream(make_user, download_stack):
    media = download_stack["media"]
    alice, bob = make_user("alice"), make_user("bob")
    pk, lib = _track(alice.user_id, youtube_url=f"{media.base}/files/groove.mp3", duration_seconds=8.0)
    r = alice.post(f"/api/tracks/{pk}/download")
    assert r.status_code == 202, r.text
    job = r.json()
    assert job["kind"] == "download" and job["track_pk"] == pk and job["status"] == "queued"
    again = alice.post(f"/api/tracks/{pk}/download").json()
    assert again["id"] == job["id"]  # one live download per track
    state = _wait(alice, job["id"])
    assert state["status"] == "finished", state
    assert state["stage"] == "done" and state["percent"] == 100
    assert set(state["details"]["timings"]) == {"downloading", "converting", "analysing", "saving"}
    assert state["details"]["method"] == "yt-dlp"

    track = alice.get(f"/api/tracks/{pk}").json()
    assert track["local_audio_path"] == f"library_{lib}/{pk}.m4a"
    assert track["bpm"] == pytest.approx(124.0, rel=0.02) and track["camelot"] and track["analyzed_at"]
    assert _library_files(lib) == [f"{pk}.m4a"]

    whole = alice.get(f"/api/tracks/{pk}/audio")
    assert whole.status_code == 200 and whole.headers["content-type"] == "audio/mp4"
    assert whole.headers["accept-ranges"] == "bytes"
    part = alice.get(f"/api/tracks/{pk}/audio", headers={"Range": "bytes=100-1099"})
    assert part.status_code == 206 and part.content == whole.content[100:1100]
    assert part.headers["content-range"] == f"bytes 100-1099/{len(whole.content)}"
    assert bob.get(f"/api/tracks/{pk}/audio").status_code == 404
    assert bob.get(f"/api/jobs/{job['id']}").status_code == 404
    assert [j["id"] for j in bob.get("/api/jobs").json()] == []
    listed = alice.get("/api/jobs", params={"kind": "download", "track_pk": pk}).json()
    assert [j["id"] for j in listed] == [job["id"]]

    # Running the finished job again (as after a crash between saving and reporting) changes nothing.
    file = get_settings().resolved_audio_dir / track["local_audio_path"]
    before = file.stat().st_mtime_ns
    rq_job = jobs.fetch_job(job["id"])
    jobs.queue(jobs.DOWNLOAD_QUEUE).enqueue_job(rq_job)
    repeated = _wait(alice, job["id"], check=lambda s: (s["details"].get("result") or {}).get("repeated"))
    assert repeated["status"] == "finished"
    assert file.stat().st_mtime_ns == before and _library_files(lib) == [f"{pk}.m4a"]
    assert alice.post(f"/api/jobs/{job['id']}/retry").status_code == 409  # finished jobs are not retried


def test_refused_urls_and_failing_sources(make_user, download_stack):
    media = download_stack["media"]
    alice, bob = make_user("alice"), make_user("bob")
    pk, lib = _track(alice.user_id)
    for url, words in [("ftp://127.0.0.1/x.mp3", "only http"), ("https://evil.example/x.mp3", "not allowed"),
                       (f"http://127.0.0.2:{media.port}/files/groove.mp3", "private or local")]:
        r = alice.post(f"/api/tracks/{pk}/download", json={"url": url})
        assert r.status_code == 422 and words in r.json()["detail"], r.text
    assert alice.post(f"/api/tracks/{pk}/download", json={"url": 5}).status_code == 422
    assert alice.post(f"/api/tracks/{pk}/download", json={"link": "x"}).status_code == 422
    assert bob.post(f"/api/tracks/{pk}/download").status_code == 404
    friend_pk, _ = _track(alice.user_id, friend=True)
    assert alice.post(f"/api/tracks/{friend_pk}/download").status_code == 202  # friends' imports: operate

    cases = {"files/missing.mp3": "404", "files/notaudio.mp3": "not audio",
             f"redirect?to=http://127.0.0.2:{media.port}/files/groove.mp3": "refused"}
    for path, words in cases.items():
        job = alice.post(f"/api/tracks/{pk}/download", json={"url": f"{media.base}/{path}"}).json()
        state = _wait(alice, job["id"])
        assert state["status"] == "failed" and words in state["error"], (path, state)
        assert state["stage"] == "failed"
    assert _library_files(lib) == []
    assert alice.get(f"/api/tracks/{pk}").json()["local_audio_path"] is None


def test_stalled_source_is_retried_then_fails(make_user, download_stack):
    alice = make_user("alice")
    pk, lib = _track(alice.user_id)
    job = alice.post(f"/api/tracks/{pk}/download", json={"url": f"{download_stack['media'].base}/stall/long.mp3"})
    state = _wait(alice, job.json()["id"])
    assert state["status"] == "failed" and "timed out" in state["error"].lower(), state
    assert state["retries_left"] == 0  # DOWNLOAD_RETRIES=2 were used up
    assert state["attempts"] == 3 and download_stack["media"].hits["/stall/long.mp3"] >= 3
    assert _library_files(lib) == []


@pytest.mark.timeout(600)
def test_cancel_and_retry(make_user, download_stack):
    media = download_stack["media"]
    alice, bob = make_user("alice"), make_user("bob")
    pk, lib = _track(alice.user_id)
    size = (media.root / "long.mp3").stat().st_size
    job = alice.post(f"/api/tracks/{pk}/download",
                     json={"url": f"{media.base}/slow/long.mp3?bps={size // 12}"}).json()
    _wait(alice, job["id"], until=("started",), check=lambda s: s["stage"] == "downloading" and s["percent"] > 0)
    assert bob.post(f"/api/jobs/{job['id']}/cancel").status_code == 404
    r = alice.post(f"/api/jobs/{job['id']}/cancel")
    assert r.status_code == 200, r.text
    state = _wait(alice, job["id"], until=("stopped", "canceled", "failed"))
    assert state["stage"] == "cancelled"
    assert alice.post(f"/api/jobs/{job['id']}/cancel").status_code == 409
    assert _library_files(lib) == []
    retried = alice.post(f"/api/jobs/{job['id']}/retry")
    assert retried.status_code == 200 and retried.json()["status"] in ("queued", "started")  # a free worker is quick
    done = _wait(alice, job["id"])
    assert done["status"] == "finished", done
    assert _library_files(lib) == [f"{pk}.m4a"]


@pytest.mark.timeout(900)  # two workers' lifetimes and a recovery: minutes on a loaded machine
def test_worker_killed_mid_download_is_recovered(make_user, download_stack):
    """SIGKILL of the whole worker (and its work horse) mid-download: no partial file in the library;
    a new worker retries the job to completion; exactly one file."""
    media, env = download_stack["media"], download_stack["env"]
    alice = make_user("alice")
    _stop(download_stack["worker"])  # this test runs its own workers
    pk, lib = _track(alice.user_id)
    size = (media.root / "long.mp3").stat().st_size
    first = _worker(env, "download", "analysis")
    try:
        job = alice.post(f"/api/tracks/{pk}/download",
                         json={"url": f"{media.base}/slow/long.mp3?bps={size // 40}"}).json()
        _wait(alice, job["id"], until=("started",), check=lambda s: s["stage"] == "downloading" and s["percent"] >= 2)
        horses = _descendants(first.pid)
        assert horses  # the work horse downloading the track
    except BaseException:
        download_stack["worker"] = _worker(env, "download", "analysis")  # later tests need a worker
        raise
    finally:
        _kill_tree(first.pid)  # the worker and its work horse (RQ puts the horse in its own group)
        first.wait(timeout=10)
    try:
        deadline = time.monotonic() + 20
        while not all(_dead(h) for h in horses) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert all(_dead(h) for h in horses)
        assert _library_files(lib) == []
        incoming = get_settings().resolved_audio_dir / ".incoming"
        assert (incoming / job["id"]).is_dir()  # the dead worker's partial download, outside the library
    finally:
        download_stack["worker"] = _worker(env, "download", "analysis")  # the machine comes back
    done = _wait(alice, job["id"], seconds=600)
    assert done["status"] == "finished", {k: done.get(k) for k in ("status", "stage", "attempts", "error", "meta")}
    assert done["attempts"] == 2 and done["error"] is None
    assert _library_files(lib) == [f"{pk}.m4a"]
    assert not (incoming / job["id"]).exists()


def test_job_events_stream_the_users_jobs(make_user, download_stack, live_server):
    alice = make_user("alice")
    make_user("bob")
    pk, _ = _track(alice.user_id, youtube_url=f"{download_stack['media'].base}/files/groove.mp3")
    with httpx.Client(base_url=live_server, timeout=30, headers={"Origin": live_server}) as web, \
            httpx.Client(base_url=live_server, timeout=30) as other:
        assert web.post("/api/auth/login", json={"username": "alice", "password": TEST_PASSWORD}).status_code == 200
        assert other.post("/api/auth/login", json={"username": "bob", "password": TEST_PASSWORD}).status_code == 200
        assert httpx.get(f"{live_server}/api/jobs/events").status_code == 401
        job_id = web.post(f"/api/tracks/{pk}/download").json()["id"]
        stages: list[str] = []
        deadline = time.monotonic() + 240
        with web.stream("GET", "/api/jobs/events") as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            import json

            for line in stream.iter_lines():
                if line.startswith("data:"):
                    event = json.loads(line[5:])
                    if event["id"] == job_id:
                        stages.append(event["stage"])
                        if event["status"] in ("finished", "failed"):
                            break
                if time.monotonic() > deadline:  # pings arrive every 15 s, so this is checked
                    pytest.fail(f"the job did not finish on the stream: {stages}")
        assert stages[-1] == "done" and len(stages) >= 2, stages
        with other.stream("GET", "/api/jobs/events") as stream:
            lines = []
            for line in stream.iter_lines():
                lines.append(line)
                if line.startswith(":"):  # the first ping: bob's stream carried nothing of alice's
                    break
                if len(lines) > 50:
                    break
        assert not any(job_id in line for line in lines)


def test_cookie_files_are_admin_only_and_never_returned(make_user, download_stack):
    admin, dj = make_user("root", is_admin=True), make_user("dj")
    text = ".apple.com\tTRUE\t/\tTRUE\t0\tmedia-user-token\tSECRET-VALUE\n"
    assert dj.put("/api/admin/cookies/gamdl", content=text).status_code == 403
    r = admin.put("/api/admin/cookies/gamdl", content=text)
    assert r.status_code == 200 and r.json()["present"] is True and "SECRET" not in r.text
    path = get_settings().resolved_cookies_dir / "gamdl-cookies.txt"
    assert path.read_text() == text and (path.stat().st_mode & 0o777) == 0o600
    listed = admin.get("/api/admin/cookies").json()
    assert {c["tool"]: c["present"] for c in listed} == {"gamdl": True, "ytdlp": False}
    assert "SECRET" not in admin.get("/api/admin/cookies").text
    assert admin.put("/api/admin/cookies/gamdl", content="hello").status_code == 422
    assert admin.put("/api/admin/cookies/other", content=text).status_code == 404
    assert admin.put("/api/admin/cookies/ytdlp", content="x" * (2 * 1024 * 1024)).status_code == 413
    assert admin.delete("/api/admin/cookies/gamdl").json()["present"] is False and not path.exists()


def test_upload_limit_is_enforced_while_streaming(make_user, env_setting):
    alice = make_user("alice")
    pk, lib = _track(alice.user_id)
    env_setting(ANALYSIS_MAX_UPLOAD_MB="1")
    boundary = "XyZ"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.wav\"\r\n"
            f"Content-Type: audio/wav\r\n\r\n").encode()
    sent = {"bytes": 0}

    def body():  # chunked: no Content-Length to refuse early on
        yield head
        for _ in range(40):  # 40 MB offered; the server stops reading after ~1 MB
            sent["bytes"] += 1024 * 1024
            yield b"\0" * (1024 * 1024)
        yield f"\r\n--{boundary}--\r\n".encode()

    r = alice.post(f"/api/tracks/{pk}/audio", content=body(),
                   headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert r.status_code == 413 and "larger than 1 MB" in r.json()["detail"]
    assert not list(get_settings().resolved_audio_dir.rglob("*.part"))
    assert alice.post(f"/api/tracks/{pk}/audio", content=b"x", headers={"Content-Type": "text/plain"}).status_code == 422
