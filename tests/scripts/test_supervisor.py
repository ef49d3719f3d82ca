"""`make up`'s supervisor (scripts/stack.py) restarts what crashes and says when the stack is ready.

One real stack on embedded defaults for the whole story: a service that cannot start is retried and
the "is up" line waits for every /health; then a worker, the web app, the embedded redis-server and
the embedded PostgreSQL are each killed with SIGKILL and come back and serve. Deadlines are generous
and only bound the wait; what is asserted is the cause (a new pid, the supervisor's "restarting" line,
the routes answering again), never how fast.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import psutil
import pytest
import redis
from rq import Worker

from services.common.processes import pid_alive
from services.common.settings import Settings
from tests.conftest import free_port
from tests.scripts.test_stack import BANNER_PASSWORD, ROOT, RunningStack, _exits_within

RECOVERY = 120.0  # seconds: a bound on each wait, not a speed target


def _load_stack_module():
    spec = importlib.util.spec_from_file_location("stack_script", ROOT / "scripts" / "stack.py")
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    sys.modules["stack_script"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


stack_script = _load_stack_module()


# --- the policy, without processes ----------------------------------------------------------------


def test_backoff_doubles_to_the_maximum_and_stays_there():
    backoff = stack_script.Backoff(first=1, maximum=30, stable_after=60)
    delays = [backoff.next_delay(ran_for=0.5) for _ in range(8)]
    assert delays == [1, 2, 4, 8, 16, 30, 30, 30]
    assert backoff.at_max


def test_backoff_starts_over_after_a_stable_run():
    backoff = stack_script.Backoff(first=1, maximum=30, stable_after=60)
    for _ in range(4):
        backoff.next_delay(ran_for=1)
    assert backoff.next_delay(ran_for=59) == 16  # still crashing
    assert backoff.next_delay(ran_for=60) == 1  # it stayed up a minute: the earlier crashes are forgotten
    assert backoff.next_delay(ran_for=2) == 2


def test_exit_status_is_described():
    assert stack_script.describe_exit(-signal.SIGKILL) == "killed by SIGKILL"
    assert stack_script.describe_exit(1) == "exit status 1"
    assert stack_script.describe_exit(0) == "exit status 0"


def test_service_urls_follow_the_ports_unless_set(monkeypatch):
    for name in ("ESSENTIA_API_URL", "GA_SERVICE_URL", "BIND_HOST"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ESSENTIA_PORT", "9101")
    monkeypatch.setenv("GA_PORT", "9102")
    urls = stack_script.derived_service_urls(Settings(_env_file=None))
    assert urls == {"ESSENTIA_API_URL": "http://127.0.0.1:9101", "GA_SERVICE_URL": "http://127.0.0.1:9102"}

    monkeypatch.setenv("GA_SERVICE_URL", "http://sets.example:8002")  # explicit: kept as given
    monkeypatch.setenv("BIND_HOST", "0.0.0.0")
    urls = stack_script.derived_service_urls(Settings(_env_file=None))
    assert urls == {"ESSENTIA_API_URL": "http://127.0.0.1:9101"}


# --- the real stack -------------------------------------------------------------------------------


class _Answers503(BaseHTTPRequestHandler):
    """Something else on the set builder's port, unhealthy: the real one cannot bind there."""

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        body = b'{"status": "unavailable"}'
        self.send_response(503)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


def _wait_until(stack: RunningStack, what: str, check: Callable[[], object], timeout: float = RECOVERY):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            result = check()
        except (httpx.HTTPError, redis.RedisError, OSError, psutil.Error, ValueError):
            result = None
        if result:
            return result
        if stack.proc.poll() is not None:
            pytest.fail(f"the supervisor exited ({stack.proc.returncode}) waiting for {what}:\n{stack.output[-4000:]}")
        time.sleep(0.5)
    pytest.fail(f"gave up waiting for {what} after {timeout:.0f}s:\n{stack.output[-4000:]}")


def _child_pid(stack: RunningStack, module: str, arg: str | None = None) -> int | None:
    """The pid of the supervisor's (live) child running `python -m module [arg …]`."""
    try:
        children = psutil.Process(stack.proc.pid).children()
    except psutil.NoSuchProcess:
        return None
    for child in children:
        try:
            cmd = child.cmdline()
            if child.status() == psutil.STATUS_ZOMBIE:
                continue
        except psutil.Error:
            continue
        if cmd[1:3] == ["-m", module] and (arg is None or arg in cmd[3:]):
            return child.pid
    return None


def _new_pid(stack: RunningStack, old: int, find: Callable[[], int | None]) -> Callable[[], int | None]:
    def check() -> int | None:
        pid = find()
        return pid if pid and pid != old and pid_alive(pid) else None

    return check


def _pid_file(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _restart_logged(stack: RunningStack, name: str, pid: int) -> bool:
    return re.search(rf"\b{re.escape(name)} \(pid {pid}\) (exited|is not running)[^\n]*; restarting in \d+s",
                     stack.output) is not None


def _teardown(stack: RunningStack, data_dir: Path) -> None:
    """Stop with Ctrl-C and check nothing is left; kill whatever is, so no test leaves processes."""
    children = stack.descendants()
    servers = [pid for pid in (_pid_file(data_dir / "postgres" / "postmaster.pid"),
                               _pid_file(data_dir / "redis" / "redis.pid")) if pid and pid_alive(pid)]
    try:
        assert stack.stop() == 0, stack.output[-3000:]
        _, alive = psutil.wait_procs(children, timeout=15)
        assert not alive, f"left behind: {[p.pid for p in alive]}"
        for pid in servers:
            assert _exits_within(pid, 30), f"embedded server {pid} still running"
        assert "stopped." in stack.output
        assert not (data_dir / "stack.pid").exists()
    finally:
        if stack.proc.poll() is None:
            stack.proc.kill()
            stack.proc.wait(timeout=30)
        for proc in children:
            try:
                proc.kill()
            except psutil.Error:
                pass
        for pid in servers:
            if pid_alive(pid):
                os.kill(pid, signal.SIGKILL)


@pytest.mark.slow
def test_supervisor_restarts_every_kind_of_child(tmp_path):
    data_dir = tmp_path / "data"
    ports = {"web": free_port(), "essentia": free_port(), "ga": free_port()}
    # The set builder's port is taken by something unhealthy: the real one exits and is retried,
    # and the stack must not call itself up while one /health does not answer.
    squatter = ThreadingHTTPServer(("127.0.0.1", ports["ga"]), _Answers503)
    threading.Thread(target=squatter.serve_forever, daemon=True).start()
    released = False
    # No ESSENTIA_API_URL / GA_SERVICE_URL: the supervisor derives them from the ports.
    stack = RunningStack(data_dir, ports, explicit_urls=False)
    try:
        _wait_until(stack, "the set builder to fail and be retried",
                    lambda: re.search(r"\bga \(pid \d+\) exited \(exit status \d+\); restarting", stack.output))
        for name in ("web", "essentia"):
            _wait_until(stack, f"{name} /health",
                        lambda name=name: httpx.get(f"http://127.0.0.1:{ports[name]}/health",
                                                    timeout=5).status_code == 200)
        # ga's /health still answers 503: neither the "is up" line nor the admin banner's "ready at".
        assert "DJ Playlist is up" not in stack.output
        assert "DJ Playlist is ready at" not in stack.output
        squatter.shutdown()
        squatter.server_close()
        released = True
        stack.wait_ready(timeout=RECOVERY)
        for name, port in ports.items():
            assert httpx.get(f"http://127.0.0.1:{port}/health", timeout=5).status_code == 200, name
        assert re.search(r"\bga restarted \(pid \d+\)", stack.output)
        assert stack.output.index("DJ Playlist is ready at") < stack.output.index("DJ Playlist is up")

        web_pid = _child_pid(stack, "services.web")
        assert web_pid
        environ = psutil.Process(web_pid).environ()
        assert environ["ESSENTIA_API_URL"] == f"http://127.0.0.1:{ports['essentia']}"
        assert environ["GA_SERVICE_URL"] == f"http://127.0.0.1:{ports['ga']}"

        web = f"http://127.0.0.1:{ports['web']}"
        match = BANNER_PASSWORD.search(stack.output)
        assert match, stack.output[-3000:]
        login = httpx.post(f"{web}/api/auth/login", json={"username": "admin", "password": match.group(1)})
        assert login.status_code == 200
        cookies = login.cookies
        assert httpx.post(f"{web}/api/playlists", json={"name": "Outlives crashes"},
                          cookies=cookies, headers={"Origin": web}).status_code == 201

        def playlists_served() -> bool:
            r = httpx.get(f"{web}/api/playlists", cookies=cookies, timeout=10)
            return r.status_code == 200 and [p["name"] for p in r.json()] == ["Outlives crashes"]

        def redis_routes_served() -> bool:
            health = httpx.get(f"{web}/health", timeout=10)
            jobs = httpx.get(f"{web}/api/jobs", cookies=cookies, timeout=10)
            return health.status_code == 200 and health.json()["checks"]["redis"] == "ok" and jobs.status_code == 200

        conn = redis.Redis.from_url(f"unix://{data_dir / 'redis' / 'redis.sock'}", socket_timeout=5)

        def workers_registered() -> bool:
            # Each live worker child is registered in (the current) Redis under its own pid.
            pids = {_child_pid(stack, "services.download_worker", "sync"),
                    _child_pid(stack, "services.download_worker", "search")}
            registered = {w.pid for w in Worker.all(connection=conn)}
            return None not in pids and pids <= registered

        _wait_until(stack, "both workers registered", workers_registered)

        # 1. A worker.
        def find_worker() -> int | None:
            return _child_pid(stack, "services.download_worker", "search")

        old = find_worker()
        assert old
        os.kill(old, signal.SIGKILL)
        _wait_until(stack, "a new worker", _new_pid(stack, old, find_worker))
        assert _restart_logged(stack, "worker", old)
        assert f"worker (pid {old}) exited (killed by SIGKILL)" in stack.output
        _wait_until(stack, "the new worker registered", workers_registered)

        # 2. The web app.
        def find_web() -> int | None:
            return _child_pid(stack, "services.web")

        old = find_web()
        assert old
        os.kill(old, signal.SIGKILL)
        _wait_until(stack, "a new web process", _new_pid(stack, old, find_web))
        assert f"web (pid {old}) exited (killed by SIGKILL)" in stack.output
        assert _restart_logged(stack, "web", old)
        _wait_until(stack, "web /health", lambda: httpx.get(f"{web}/health", timeout=5).status_code == 200)
        _wait_until(stack, "the playlists after the web restart", playlists_served)

        # 3. The embedded redis-server (not a child: it daemonizes; found by its pid file).
        redis_pid_file = data_dir / "redis" / "redis.pid"
        old = _pid_file(redis_pid_file)
        assert old and pid_alive(old)
        os.kill(old, signal.SIGKILL)
        _wait_until(stack, "a new redis-server", _new_pid(stack, old, lambda: _pid_file(redis_pid_file)))
        assert _restart_logged(stack, "redis", old)
        _wait_until(stack, "redis answering", conn.ping)
        _wait_until(stack, "web routes using Redis", redis_routes_served)
        _wait_until(stack, "the workers registered in the new redis-server", workers_registered)

        # 4. The embedded PostgreSQL.
        postmaster = data_dir / "postgres" / "postmaster.pid"
        old = _pid_file(postmaster)
        assert old and pid_alive(old)
        os.kill(old, signal.SIGKILL)
        _wait_until(stack, "a new postmaster", _new_pid(stack, old, lambda: _pid_file(postmaster)))
        assert _restart_logged(stack, "postgres", old)
        _wait_until(stack, "the playlists after the database restart", playlists_served)
        health = httpx.get(f"{web}/health", timeout=10)
        assert health.status_code == 200, health.text
        assert json.loads(health.text)["checks"] == {"database": "ok", "redis": "ok"}

        # Nothing above took the stack down: every child is still the supervisor's and alive.
        for module, arg in (("services.web", None), ("services.essentia_api", None), ("services.ga_service", None),
                            ("services.download_worker", "sync"), ("services.download_worker", "search")):
            assert _child_pid(stack, module, arg), (module, arg)
        assert "stopping the stack" not in stack.output
    finally:
        if not released:
            squatter.shutdown()
            squatter.server_close()
        _teardown(stack, data_dir)
