"""Run the whole stack locally as plain processes: `make up` (start) and `make down` (stop).

Starts the embedded PostgreSQL and redis-server when DATABASE_URL / REDIS_URL are unset, migrates,
creates the first admin, then supervises the web app, the analysis service, the set builder, a sync
worker and one (or --workers) worker for downloads, analyses and search, each in its own process group, with prefixed output. Ctrl-C (or SIGTERM) stops the children,
then the embedded servers it started, and removes its pid file.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from services.common.processes import pid_alive  # noqa: E402
from services.common.embedded import (  # noqa: E402
    ConfigurationError,
    start_embedded_postgres,
    start_embedded_redis,
    stop_embedded_postgres,
    stop_embedded_redis,
)
from services.common.service_auth import service_token  # noqa: E402
from services.common.settings import get_settings  # noqa: E402

COLORS = ["\033[36m", "\033[35m", "\033[33m", "\033[32m", "\033[34m"]
RESET = "\033[0m"


class Stack:
    def __init__(self, *, workers: int) -> None:
        self.settings = get_settings()
        self.data_dir = self.settings.data_dir
        self.pid_file = self.data_dir / "stack.pid"
        self.children: dict[str, subprocess.Popen] = {}
        self.started_postgres = False
        self.started_redis = False
        self.stopping = threading.Event()
        self.workers = workers
        self.env = dict(os.environ)

    # -- lifecycle -------------------------------------------------------------------------------

    def claim_pid_file(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.pid_file.exists():
            try:
                old = int(self.pid_file.read_text().strip())
            except ValueError:
                old = 0
            if old and pid_alive(old):
                raise ConfigurationError(f"the stack is already running (pid {old}); run `make down` first")
            self.pid_file.unlink()  # stale: the previous run was killed
        self.pid_file.write_text(str(os.getpid()))

    def start_servers(self) -> None:
        if not self.settings.database_url:
            print(
                "starting embedded PostgreSQL (pgvector, pg_trgm) in", self.data_dir / "postgres", flush=True
            )
            self.env["DATABASE_URL"] = start_embedded_postgres(self.data_dir)
            self.started_postgres = True
        if not self.settings.redis_url:
            print("starting embedded redis-server in", self.data_dir / "redis", flush=True)
            self.env["REDIS_URL"] = start_embedded_redis(self.data_dir)
            self.started_redis = True
        # Resolved once here so every child gets the same token without racing to create the file.
        self.env["SERVICE_TOKEN"] = service_token(self.settings)
        os.environ.update({k: v for k, v in self.env.items() if k in ("DATABASE_URL", "REDIS_URL", "SERVICE_TOKEN")})
        get_settings.cache_clear()

    def prepare_database(self) -> None:
        from services.domain.startup import admin_banner, prepare

        created = prepare()
        if created:
            print(admin_banner(created, f"http://localhost:{self.settings.web_port}"), flush=True)

    def spawn(self, name: str, module: str, *args: str) -> None:
        proc = subprocess.Popen(
            [sys.executable, "-m", module, *args],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # own process group: Ctrl-C reaches only us, we stop them in order
            text=True,
            bufsize=1,
        )
        self.children[name] = proc
        color = COLORS[(len(self.children) - 1) % len(COLORS)]
        threading.Thread(target=self._pump, args=(name, color, proc), daemon=True).start()

    def _pump(self, name: str, color: str, proc: subprocess.Popen) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            sys.stdout.write(f"{color}{name:>10}{RESET} | {line}")
            sys.stdout.flush()

    def wait_healthy(self, timeout: float = 120.0) -> bool:
        s = self.settings
        urls = {
            "web": f"http://127.0.0.1:{s.web_port}/health",
            "essentia": f"http://127.0.0.1:{s.essentia_port}/health",
            "ga": f"http://127.0.0.1:{s.ga_port}/health",
        }
        pending = dict(urls)
        deadline = time.monotonic() + timeout
        while pending and time.monotonic() < deadline and not self.stopping.is_set():
            for name, url in list(pending.items()):
                try:
                    if httpx.get(url, timeout=2).status_code == 200:
                        del pending[name]
                except httpx.HTTPError:
                    pass
            time.sleep(0.5)
        if pending:
            print(f"not healthy after {timeout:.0f}s: {', '.join(pending)}", flush=True)
            return False
        return True

    def stop(self) -> None:
        self.stopping.set()
        for proc in self.children.values():
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + 15
        for proc in self.children.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # anything left in the group (forked work-horses)
            except (ProcessLookupError, PermissionError):
                pass
        if self.started_redis:
            stop_embedded_redis(self.data_dir)
        if self.started_postgres:
            stop_embedded_postgres(self.data_dir)
        self.pid_file.unlink(missing_ok=True)
        print("stopped.", flush=True)

    def run(self) -> int:
        try:
            self.claim_pid_file()
        except ConfigurationError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        signal.signal(signal.SIGTERM, lambda *_: self.stopping.set())
        signal.signal(signal.SIGINT, lambda *_: self.stopping.set())
        try:
            self.start_servers()
            self.prepare_database()
            self.spawn("web", "services.web")
            self.spawn("essentia", "services.essentia_api")
            self.spawn("ga", "services.ga_service")
            # A long Discogs sync gets a worker of its own, so it never holds up downloads or analyses.
            self.spawn("sync-worker", "services.download_worker", "sync")
            for i in range(self.workers):
                self.spawn(f"worker{i + 1}" if self.workers > 1 else "worker", "services.download_worker",
                           "search", "analysis", "download", "enrichment")
            if self.wait_healthy():
                print(
                    f"\nDJ Playlist is up: http://localhost:{self.settings.web_port}  (Ctrl-C to stop)\n",
                    flush=True,
                )
            while not self.stopping.is_set():
                dead = [name for name, proc in self.children.items() if proc.poll() is not None]
                if dead:
                    print(f"{', '.join(dead)} exited; stopping the stack", flush=True)
                    return 1
                self.stopping.wait(0.5)
            return 0
        except ConfigurationError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        finally:
            self.stop()


def down() -> int:
    """Stop a running stack (by its pid file) and the embedded servers."""
    settings = get_settings()
    pid_file = settings.data_dir / "stack.pid"
    if pid_file.exists():
        pid = int(pid_file.read_text().strip() or 0)
        if pid and pid_alive(pid):
            os.kill(pid, signal.SIGTERM)
            for _ in range(100):
                if not pid_alive(pid):
                    break
                time.sleep(0.2)
        pid_file.unlink(missing_ok=True)
    if not settings.redis_url:
        stop_embedded_redis(settings.data_dir)
    if not settings.database_url:
        stop_embedded_postgres(settings.data_dir)
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["up", "down"])
    parser.add_argument("--workers", type=int, default=1, help="number of RQ workers (default 1)")
    args = parser.parse_args()
    if args.command == "down":
        raise SystemExit(down())
    raise SystemExit(Stack(workers=max(1, args.workers)).run())


if __name__ == "__main__":
    main()
