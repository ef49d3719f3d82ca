"""`make up` end to end: scripts/stack.py on embedded defaults, as a user would run it.

Starts the real stack in a temporary DATA_DIR on free ports, waits for every /health, checks that a
worker registered in Redis and that the admin can log in, stops it with Ctrl-C (SIGINT), checks that
no process is left, then starts it again and checks that the data survived.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import psutil
import pytest
import redis
from rq import Worker

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
BANNER_PASSWORD = re.compile(r"Generated password \(shown once, change it after login\): (\S+)")


class RunningStack:
    def __init__(self, data_dir: Path, ports: dict[str, int], *, explicit_urls: bool = True) -> None:
        env = {k: v for k, v in os.environ.items()
               if k not in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "SERVICE_TOKEN",
                            "ESSENTIA_API_URL", "GA_SERVICE_URL")}
        env.update(
            DATA_DIR=str(data_dir),
            WEB_PORT=str(ports["web"]),
            ESSENTIA_PORT=str(ports["essentia"]),
            GA_PORT=str(ports["ga"]),
            PYTHONUNBUFFERED="1",
        )
        if explicit_urls:
            env.update(ESSENTIA_API_URL=f"http://127.0.0.1:{ports['essentia']}",
                       GA_SERVICE_URL=f"http://127.0.0.1:{ports['ga']}")
        self.proc = subprocess.Popen(
            [sys.executable, "scripts/stack.py", "up"], cwd=ROOT, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        self.lines: list[str] = []
        self.ready = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)
            if "DJ Playlist is up" in line:
                self.ready.set()

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_ready(self, timeout: float = 180) -> None:
        if not self.ready.wait(timeout):
            self.stop()
            pytest.fail(f"stack did not become healthy:\n{self.output[-4000:]}")

    def descendants(self) -> list[psutil.Process]:
        try:
            return psutil.Process(self.proc.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGINT)
        return self.proc.wait(timeout=60)


def _exits_within(pid: int, seconds: float) -> bool:
    """True once the process is gone (a zombie awaiting its reaper counts as gone)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.1)
    return False


@pytest.mark.slow
def test_make_up_serves_persists_and_stops_cleanly(tmp_path):
    data_dir = tmp_path / "data"
    ports = {"web": free_port(), "essentia": free_port(), "ga": free_port()}

    stack = RunningStack(data_dir, ports)
    try:  # a failed assertion must not leave the stack running (it would load every later test)
        stack.wait_ready()
        for name, port in ports.items():
            r = httpx.get(f"http://127.0.0.1:{port}/health", timeout=5)
            assert r.status_code == 200, (name, r.text)
        match = BANNER_PASSWORD.search(stack.output)
        assert match, stack.output[-3000:]
        password = match.group(1)

        conn = redis.Redis.from_url(f"unix://{data_dir / 'redis' / 'redis.sock'}")
        deadline = time.monotonic() + 30
        while len(Worker.all(connection=conn)) < 2 and time.monotonic() < deadline:
            time.sleep(0.5)
        # One worker for syncs, one for searches, analyses and downloads: a sync never holds up the rest.
        queues = sorted(sorted(q.name for q in w.queues) for w in Worker.all(connection=conn))
        assert queues == [["analysis", "download", "embeddings", "enrichment", "search"], ["sync"]]

        # Internal services want the token generated in DATA_DIR; without it they answer 401.
        token_file = data_dir / "service_token"
        assert token_file.stat().st_mode & 0o777 == 0o600
        ga = f"http://127.0.0.1:{ports['ga']}/generate"
        assert httpx.post(ga, json={"tracks": [{"id": "a"}]}).status_code == 401
        authorized = httpx.post(ga, json={"tracks": [{"id": "a"}, {"id": "b"}]},
                                headers={"Authorization": f"Bearer {token_file.read_text().strip()}"})
        assert authorized.status_code == 200

        web = f"http://127.0.0.1:{ports['web']}"
        login = httpx.post(f"{web}/api/auth/login", json={"username": "admin", "password": password})
        assert login.status_code == 200
        cookies = login.cookies
        created = httpx.post(f"{web}/api/playlists", json={"name": "Survives restarts"}, cookies=cookies,
                             headers={"Origin": web})  # a cookie write needs its Origin (CSRF)
        assert created.status_code == 201

        children = stack.descendants()
        assert len(children) >= 4
        pg_pid = int((data_dir / "postgres" / "postmaster.pid").read_text().split()[0])
    except BaseException:
        stack.stop()
        raise
    assert stack.stop() == 0
    gone, alive = psutil.wait_procs(children, timeout=10)
    assert not alive, f"left behind: {[p.pid for p in alive]}"
    assert _exits_within(pg_pid, 15), f"embedded postgres still running; the stack said:\n{stack.output[-4000:]}"
    assert not (data_dir / "stack.pid").exists()
    assert not (data_dir / "postgres" / "postmaster.pid").exists()
    assert "stopped." in stack.output

    # Second start: no new admin banner, same password works, the playlist is still there.
    again = RunningStack(data_dir, ports)
    again.wait_ready()
    try:
        assert not BANNER_PASSWORD.search(again.output)
        login = httpx.post(f"{web}/api/auth/login", json={"username": "admin", "password": password})
        assert login.status_code == 200
        names = [p["name"] for p in httpx.get(f"{web}/api/playlists", cookies=login.cookies).json()]
        assert names == ["Survives restarts"]
    finally:
        assert again.stop() == 0


def test_second_stack_refuses_while_first_runs(tmp_path):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "stack.pid").write_text(str(os.getpid()))  # a live pid: "already running"
    env = {**os.environ, "DATA_DIR": str(data_dir)}
    proc = subprocess.run([sys.executable, "scripts/stack.py", "up"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 2
    assert "already running" in proc.stderr
