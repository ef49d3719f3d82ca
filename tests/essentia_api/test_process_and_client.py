"""The service as a real process (`python -m services.essentia_api`) driven by AnalysisClient."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from services.domain.analysis.client import AnalysisClient, AnalysisServiceError

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_service(audio_dir: Path, log_path: Path) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    env = dict(
        os.environ,
        ESSENTIA_PORT=str(port),
        BIND_HOST="127.0.0.1",
        AUDIO_DIR=str(audio_dir),
        ANALYSIS_WORKERS="1",
        ANALYSIS_MAX_UPLOAD_MB="5",
    )
    log = log_path.open("wb")
    # Own session, so teardown can check that the server's pool workers went with it.
    proc = subprocess.Popen(
        [sys.executable, "-m", "services.essentia_api"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        if proc.poll() is not None:
            pytest.fail(f"service exited: {log_path.read_text()[-2000:]}")
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return proc, url
        except httpx.TransportError:
            time.sleep(0.1)
    _stop(proc)
    pytest.fail("service did not come up")


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _stop(proc: subprocess.Popen) -> bool:
    """SIGTERM the server; True if it and every process it started were gone within 15 s."""
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
    for _ in range(50):
        if not _group_alive(proc.pid):
            return True
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGKILL)  # never leave workers behind, even when the check fails
    return False


@pytest.fixture(scope="module")
def service_url(audio_dir, tmp_path_factory):
    proc, url = _start_service(audio_dir, tmp_path_factory.mktemp("svc") / "server.log")
    try:
        yield url
    finally:
        _stop(proc)


def test_sigterm_stops_server_and_pool_workers(audio_dir, tmp_path):
    proc, url = _start_service(audio_dir, tmp_path / "server.log")
    assert httpx.get(url + "/health", timeout=5).json()["pool"]["started"] is True
    assert _stop(proc), "pool workers outlived the server"


def test_real_process_health_and_analyze(service_url, audio_dir):
    with AnalysisClient(service_url) as client:
        health = client.health()
        assert health["essentia_version"] and health["pool"]["workers"] == 1
        by_path = client.analyze_path("house.wav")
        assert by_path.camelot == "8A" and abs(by_path.bpm - 124) < 1
        by_bytes = client.analyze_bytes("house.wav", (audio_dir / "house.wav").read_bytes())
        assert by_bytes.bpm == by_path.bpm and by_bytes.beats == by_path.beats


def test_client_raises_on_4xx(service_url):
    with AnalysisClient(service_url) as client:
        with pytest.raises(AnalysisServiceError) as err:
            client.analyze_path("../secrets.wav")
        assert err.value.status_code == 400 and err.value.is_client_error
        with pytest.raises(AnalysisServiceError) as err:
            client.analyze_bytes("bad.mp3", b"not audio at all" * 100)
        assert err.value.status_code == 422 and err.value.code == "unreadable_audio"


def test_client_raises_on_5xx_and_unreachable():
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(503, json={"detail": "busy", "code": "busy"})

    client = AnalysisClient("http://analysis", transport=httpx.MockTransport(handler))
    with pytest.raises(AnalysisServiceError) as err:
        client.analyze_path("x.mp3")
    assert err.value.status_code == 503 and not err.value.is_client_error
    with pytest.raises(AnalysisServiceError) as err:
        AnalysisClient(f"http://127.0.0.1:{_free_port()}", timeout=2).analyze_path("x.mp3")
    assert err.value.status_code == 0 and err.value.code == "unreachable"
