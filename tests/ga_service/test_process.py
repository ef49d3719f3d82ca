"""Start the real service (`python -m services.ga_service`) and call it through the client."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from services.common.contracts.setbuilder import GenerateRequest
from services.domain.setbuilder.client import SetBuilderClient, SetBuilderClientError
from services.ga_service.service import generate_set
from tests.ga_service.helpers import make_tracks

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def service_url():
    port = _free_port()
    env = {**os.environ, "GA_PORT": str(port), "BIND_HOST": "127.0.0.1", "GA_WORKERS": "2"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "services.ga_service"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                out = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
                pytest.fail(f"service exited early with {proc.returncode}:\n{out}")
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("service did not come up within 60 s")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_generate_through_client(service_url):
    with SetBuilderClient(service_url) as client:
        health = client.health()
        assert health["pool"]["running"] is True and health["pool"]["workers"] == 2
        req = GenerateRequest.model_validate(
            {"mode": "order", "tracks": make_tracks(24, 9), "options": {"seed": 3, "energy_curve": "peak"}}
        )
        resp = client.generate(req)
        assert sorted(resp.order) == sorted(t.id for t in req.tracks)
        assert resp.search.islands == 2
        # Same seed, same answer, whether the islands ran on the pool or in this process.
        assert client.generate(req).order == resp.order
        assert generate_set(request=req).order == resp.order


def test_client_raises_on_422(service_url):
    with SetBuilderClient(service_url) as client, pytest.raises(SetBuilderClientError) as err:
        client.generate({"mode": "select", "tracks": make_tracks(5, 1), "options": {"count": 9}})
    assert err.value.status == 422
    assert "larger than the pool" in str(err.value)


def test_client_raises_when_unreachable():
    client = SetBuilderClient(f"http://127.0.0.1:{_free_port()}", timeout=2)
    with client, pytest.raises(SetBuilderClientError) as err:
        client.generate({"tracks": make_tracks(3, 1)})
    assert err.value.status is None
