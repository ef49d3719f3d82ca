"""Fixtures for web tests that need the other services running as real processes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

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


