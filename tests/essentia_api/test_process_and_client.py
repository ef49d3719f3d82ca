"""The service as a real process (`python -m services.essentia_api`) driven by AnalysisClient."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from services.essentia_api.client import AnalysisClient, AnalysisServiceError

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def service_url(audio_dir):
    port = _free_port()
    env = dict(
        os.environ,
        ESSENTIA_PORT=str(port),
        BIND_HOST="127.0.0.1",
        AUDIO_DIR=str(audio_dir),
        ANALYSIS_WORKERS="1",
        ANALYSIS_MAX_UPLOAD_MB="5",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "services.essentia_api"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            if proc.poll() is not None:
                pytest.fail(f"service exited: {proc.stdout.read().decode()[-2000:]}")
            try:
                if httpx.get(url + "/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            pytest.fail("service did not come up")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


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
