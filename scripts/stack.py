"""Run the whole stack locally as plain processes: `make up` (start) and `make down` (stop).

Starts the embedded PostgreSQL and redis-server when DATABASE_URL / REDIS_URL are unset, migrates,
creates the first admin, then supervises the web app (WEB_WORKERS / --web-workers processes, default
one per core), the analysis service, the set builder, a sync worker and one (or --workers) worker for
downloads, analyses and search, each in its own process group, with prefixed output.

Supervision: a child that exits (crash, kill -9, any status) is restarted, and so is an embedded
PostgreSQL or redis-server this run started, with exponential backoff (1 s doubling to 30 s; back to
1 s once it stayed up 60 s). Every restart is logged with the exit status; one that keeps crashing
keeps being retried every 30 s and never takes the rest down. "DJ Playlist is up" is printed once
every service's /health answers. Only Ctrl-C, SIGTERM or `make down` stop the stack: the children
first, then the embedded servers it started; then it removes its pid file.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

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

BACKOFF_FIRST = 1.0  # seconds before the first restart
BACKOFF_MAX = 30.0  # the longest wait between restarts
STABLE_AFTER = 60.0  # a process that stayed up this long starts again from BACKOFF_FIRST
HEALTH_WARN_AFTER = 120.0  # say which services are still not healthy after this long


@dataclass
class Backoff:
    """When to restart a process that keeps exiting: 1, 2, 4 … BACKOFF_MAX seconds; a run of at
    least STABLE_AFTER seconds forgets the earlier crashes."""

    first: float = BACKOFF_FIRST
    maximum: float = BACKOFF_MAX
    stable_after: float = STABLE_AFTER
    failures: int = 0  # consecutive exits, each after a run shorter than stable_after

    def next_delay(self, ran_for: float) -> float:
        if ran_for >= self.stable_after:
            self.failures = 0
        self.failures += 1
        return min(self.maximum, self.first * 2 ** (self.failures - 1))

    @property
    def at_max(self) -> bool:
        return self.first * 2 ** (self.failures - 1) >= self.maximum


def describe_exit(returncode: int | None) -> str:
    """`exit status 1` / `killed by SIGKILL` (Popen's negative return code is the signal)."""
    if returncode is None:
        return "exit status unknown"
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit status {returncode}"


def _local_host(bind_host: str) -> str:
    """Where the other local processes reach a service bound to BIND_HOST."""
    if bind_host in ("", "0.0.0.0", "::", "[::]"):
        return "127.0.0.1"
    return f"[{bind_host}]" if ":" in bind_host and not bind_host.startswith("[") else bind_host


def derived_service_urls(settings) -> dict[str, str]:
    """ESSENTIA_API_URL / GA_SERVICE_URL for the children, following ESSENTIA_PORT / GA_PORT,
    unless they were set explicitly (environment or .env): those are kept as given."""
    host = _local_host(settings.bind_host)
    urls: dict[str, str] = {}
    if "essentia_api_url" not in settings.model_fields_set:
        urls["ESSENTIA_API_URL"] = f"http://{host}:{settings.essentia_port}"
    if "ga_service_url" not in settings.model_fields_set:
        urls["GA_SERVICE_URL"] = f"http://{host}:{settings.ga_port}"
    return urls


@dataclass
class Child:
    name: str
    argv: list[str]
    color: str
    proc: subprocess.Popen | None = None
    started_at: float = 0.0
    restart_at: float | None = None  # set while waiting to be restarted
    backoff: Backoff = field(default_factory=Backoff)


@dataclass
class EmbeddedServer:
    """An embedded server this run started (not a child of ours: it daemonizes)."""

    name: str
    pid: Callable[[], int | None]  # its pid from its pid file, None when there is none
    start: Callable[[], object]
    answers: Callable[[], bool] = lambda: False  # asked only when there is no pid file
    log: Path | None = None  # where its own log says why it did not start
    pid_seen: int | None = None
    started_at: float = 0.0
    restart_at: float | None = None
    backoff: Backoff = field(default_factory=Backoff)


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


class Stack:
    def __init__(self, *, workers: int) -> None:
        self.settings = get_settings()
        self.data_dir = self.settings.data_dir
        self.pid_file = self.data_dir / "stack.pid"
        self.children: dict[str, Child] = {}
        self.servers: list[EmbeddedServer] = []
        self.started_postgres = False
        self.started_redis = False
        self.stopping = threading.Event()
        self.workers = workers
        self.env = dict(os.environ)
        self.env.update(derived_service_urls(self.settings))
        self.banner: str | None = None  # the first admin's credentials, not shown yet

    def say(self, message: str) -> None:
        print(f"{'stack':>10} | {message}", flush=True)

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
        now = time.monotonic()
        if not self.settings.database_url:
            print(
                "starting embedded PostgreSQL (pgvector, pg_trgm) in", self.data_dir / "postgres", flush=True
            )
            self.env["DATABASE_URL"] = start_embedded_postgres(self.data_dir)
            self.started_postgres = True
            pg = EmbeddedServer("postgres", self._postgres_pid, self._restart_postgres, answers=self._postgres_answers,
                                started_at=now, log=self.data_dir / "postgres" / "log")
            pg.pid_seen = pg.pid()
            self.servers.append(pg)
        if not self.settings.redis_url:
            print("starting embedded redis-server in", self.data_dir / "redis", flush=True)
            self.env["REDIS_URL"] = start_embedded_redis(self.data_dir)
            self.started_redis = True
            rd = EmbeddedServer("redis", self._redis_pid, lambda: start_embedded_redis(self.data_dir),
                                answers=self._redis_answers, started_at=now,
                                log=self.data_dir / "redis" / "redis.log")
            rd.pid_seen = rd.pid()
            self.servers.append(rd)
        # Resolved once here so every child gets the same token without racing to create the file.
        self.env["SERVICE_TOKEN"] = service_token(self.settings)
        os.environ.update({k: v for k, v in self.env.items() if k in ("DATABASE_URL", "REDIS_URL", "SERVICE_TOKEN")})
        get_settings.cache_clear()

    def _postgres_pid(self) -> int | None:
        return _read_pid(self.data_dir / "postgres" / "postmaster.pid")

    def _redis_pid(self) -> int | None:
        return _read_pid(self.data_dir / "redis" / "redis.pid")

    def _postgres_answers(self) -> bool:
        """Asked only when postmaster.pid cannot be read: PostgreSQL rewrites that file in place as its state
        changes, so a read at the wrong moment finds it empty while the server runs on."""
        import psycopg

        try:
            with psycopg.connect(self.env["DATABASE_URL"].replace("+psycopg", "", 1), connect_timeout=2):
                return True
        except (psycopg.Error, OSError):
            return False

    def _redis_answers(self) -> bool:
        import redis

        try:
            return bool(redis.Redis.from_url(self.env["REDIS_URL"], socket_timeout=1, socket_connect_timeout=1).ping())
        except (redis.RedisError, OSError):
            return False

    def _restart_postgres(self) -> None:
        # A killed postmaster leaves its postmaster.pid behind; its pid may linger as a zombie that
        # nobody reaped, which would make PostgreSQL (and embedded_postgres) think it still runs.
        stale = self.data_dir / "postgres" / "postmaster.pid"
        pid = _read_pid(stale)
        if pid is not None and not pid_alive(pid):
            stale.unlink(missing_ok=True)
        url = start_embedded_postgres(self.data_dir)
        if url != self.env.get("DATABASE_URL"):  # the socket directory is derived from DATA_DIR: never expected
            self.say(f"postgres came back at a different address ({url}); restart the stack")

    def prepare_database(self) -> None:
        from services.domain.startup import admin_banner, prepare

        created = prepare()
        if created:
            # Shown with the "is up" line, once every /health answers (or at stop, if it never did).
            self.banner = admin_banner(created, f"http://localhost:{self.settings.web_port}")

    def show_banner(self) -> None:
        if self.banner:
            print(self.banner, flush=True)
            self.banner = None

    def add(self, name: str, module: str, *args: str) -> None:
        child = Child(name, [sys.executable, "-m", module, *args], COLORS[len(self.children) % len(COLORS)])
        self.children[name] = child
        self.spawn(child)

    def spawn(self, child: Child) -> None:
        proc = subprocess.Popen(
            child.argv,
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # own process group: Ctrl-C reaches only us, we stop them in order
            text=True,
            bufsize=1,
        )
        child.proc = proc
        child.started_at = time.monotonic()
        child.restart_at = None
        threading.Thread(target=self._pump, args=(child.name, child.color, proc), daemon=True).start()

    def _pump(self, name: str, color: str, proc: subprocess.Popen) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            sys.stdout.write(f"{color}{name:>10}{RESET} | {line}")
            sys.stdout.flush()

    # -- supervision -----------------------------------------------------------------------------

    def _schedule(self, what: Child | EmbeddedServer, now: float, how: str) -> None:
        delay = what.backoff.next_delay(now - what.started_at)
        what.restart_at = now + delay
        self.say(f"{what.name} {how}; restarting in {delay:.0f}s (restart #{what.backoff.failures})")
        if what.backoff.at_max and what.backoff.failures > 1:
            self.say(f"{what.name} keeps crashing ({what.backoff.failures} times in a row); "
                     f"still retrying every {what.backoff.maximum:.0f}s")

    def supervise_once(self) -> None:
        """One pass: notice what exited, restart what is due. Embedded servers first, the children
        depend on them."""
        now = time.monotonic()
        for server in self.servers:
            if server.restart_at is None:
                pid = server.pid()
                if (pid is None and not server.answers()) or (pid is not None and not pid_alive(pid)):
                    self._schedule(server, now, f"(pid {server.pid_seen}) is not running (it is not our child: "
                                                "exit status unknown)")
            if server.restart_at is not None and now >= server.restart_at and not self.stopping.is_set():
                try:
                    server.start()
                except Exception as exc:  # noqa: BLE001 - any failure: try again later, keep the rest up
                    server.started_at = time.monotonic()
                    cause = (str(exc).strip().splitlines() or [""])[0][:160]
                    hint = f"; see {server.log}" if server.log else ""
                    self._schedule(server, server.started_at, f"did not start ({type(exc).__name__}: {cause}{hint})")
                    continue
                server.started_at = time.monotonic()
                server.restart_at = None
                server.pid_seen = server.pid()
                self.say(f"{server.name} restarted (pid {server.pid_seen})")
        for child in self.children.values():
            proc = child.proc
            if child.restart_at is None and proc is not None and proc.poll() is not None:
                self._kill_group(proc)  # what it left behind (a work-horse, uvicorn workers)
                self._schedule(child, now, f"(pid {proc.pid}) exited ({describe_exit(proc.returncode)})")
            if child.restart_at is not None and now >= child.restart_at and not self.stopping.is_set():
                try:
                    self.spawn(child)
                except OSError as exc:
                    child.started_at = time.monotonic()
                    self._schedule(child, child.started_at, f"could not be started ({exc})")
                    continue
                self.say(f"{child.name} restarted (pid {child.proc.pid})")

    @staticmethod
    def _kill_group(proc: subprocess.Popen) -> None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def health_urls(self) -> dict[str, str]:
        s = self.settings
        host = _local_host(s.bind_host)
        return {
            "web": f"http://{host}:{s.web_port}/health",
            "essentia": f"http://{host}:{s.essentia_port}/health",
            "ga": f"http://{host}:{s.ga_port}/health",
        }

    def pending_health(self, pending: dict[str, str]) -> dict[str, str]:
        """The services of `pending` whose /health does not answer 200 yet."""
        still: dict[str, str] = {}
        for name, url in pending.items():
            try:
                if httpx.get(url, timeout=2).status_code == 200:
                    continue
            except httpx.HTTPError:
                pass
            still[name] = url
        return still

    def stop(self) -> None:
        self.stopping.set()
        procs = [c.proc for c in self.children.values() if c.proc is not None]
        for proc in procs:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + 15
        for proc in procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            self._kill_group(proc)  # anything left in the group (forked work-horses)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        if self.started_redis:
            stop_embedded_redis(self.data_dir)
        if self.started_postgres:
            stop_embedded_postgres(self.data_dir)
        self.pid_file.unlink(missing_ok=True)
        self.show_banner()  # stopped before it was healthy: the generated password is not lost
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
            if self.stopping.is_set():
                return 0
            self.prepare_database()
            self.add("web", "services.web")
            self.add("essentia", "services.essentia_api")
            self.add("ga", "services.ga_service")
            # A long Discogs sync gets a worker of its own, so it never holds up downloads or analyses.
            self.add("sync-worker", "services.download_worker", "sync")
            for i in range(self.workers):
                self.add(f"worker{i + 1}" if self.workers > 1 else "worker", "services.download_worker",
                         "search", "analysis", "download", "enrichment", "embeddings")
            pending = self.health_urls()
            started = time.monotonic()
            warned = False
            while not self.stopping.is_set():
                self.supervise_once()
                if pending:
                    # All at once: a service that answered earlier may have crashed since.
                    pending = self.pending_health(self.health_urls())
                    if not pending:
                        self.show_banner()
                        print(
                            f"\nDJ Playlist is up: http://localhost:{self.settings.web_port}  (Ctrl-C to stop)\n",
                            flush=True,
                        )
                    elif not warned and time.monotonic() - started > HEALTH_WARN_AFTER:
                        warned = True
                        self.say(f"not healthy after {HEALTH_WARN_AFTER:.0f}s: {', '.join(pending)} "
                                 "(still waiting)")
                        self.show_banner()
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
    parser.add_argument("--web-workers", type=int, default=None,
                        help="web app processes (default WEB_WORKERS, else one per core)")
    args = parser.parse_args()
    if args.command == "down":
        raise SystemExit(down())
    if args.web_workers:  # `python -m services.web` reads it (uvicorn --workers)
        os.environ["WEB_WORKERS"] = str(max(1, args.web_workers))
    raise SystemExit(Stack(workers=max(1, args.workers)).run())


if __name__ == "__main__":
    main()
