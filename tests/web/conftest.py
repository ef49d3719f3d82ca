"""Fixtures for web tests that need the other services running as real processes."""

from __future__ import annotations

import os
import subprocess
import threading
import sys
import time
from pathlib import Path

import httpx
import pytest
import uvicorn

from services.common.settings import get_settings
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def ga_service_url():
    port = free_port()
    env = {**os.environ, "GA_PORT": str(port), "GA_WORKERS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "services.ga_service"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail("set builder service did not start")
    yield url
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture
def ga_env(ga_service_url, monkeypatch):
    monkeypatch.setenv("GA_SERVICE_URL", ga_service_url)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def live_server(app):
    """The app served by a real uvicorn in a thread (browsers, event streams): its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
            break
        except httpx.HTTPError:
            time.sleep(0.1)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)
