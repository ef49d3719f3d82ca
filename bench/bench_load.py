"""Benchmark: the web app under load (issue 16). Figures go to docs/benchmarks.md ("Web app under load").

    .venv/bin/python bench/bench_load.py                               # 100,000 tracks, 20 s phases (quiet machine!)
    .venv/bin/python bench/bench_load.py --tracks 2000 --seconds 5     # a smoke run

1. Seeds --tracks generated tracks (bench/search/library.py's generator, 10 per album) into PostgreSQL
   (DATABASE_URL, else an embedded server; Redis likewise), one user with an API token, 5 playlists of 50.
2. Counts the SQL statements each endpoint of the mix runs (in process): an N+1 shows up as a count that
   grows with the page size.
3. Starts the real web app as its own process tree, `python -m services.web` (migrate, then uvicorn with
   WEB_WORKERS workers, admission control and pool sizing from the settings), and waits for /health.
4. Drives it from a separate load-generator process (this file with --client: asyncio + httpx, open loop:
   requests are sent on a fixed schedule whatever the answers, and latency is measured from the scheduled
   time, so a slow server is not hidden by a slowed client), Bearer token, over a mix of reads:
   track list (browse, 50 a page), album list, album page, playlist, search.
   * phase 1: --rate requests/s for --seconds: throughput, p50/p95/p99, status counts;
   * phase 2: --overload x that rate: only 200 and 503 are acceptable, no 500, nothing past 5 s;
   * phase 3: the load stops; a probe request every 50 ms until 5 in a row answer 200 under
     --recovery-ms: the recovery time (target: under 5 s).
   The client reports its own CPU use (it competes with the server on a 2-core machine) and how far
   behind its schedule it fell (a lag near the phase length means the client, not the server, was the limit);
   the parent reports the CPU of the web app's process tree and of the embedded PostgreSQL's (the three
   together show whether the machine, not one process, was the limit).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.servers import bench_servers  # noqa: E402

PASSWORD = "bench-password-123"
TRACKS_PER_ALBUM = 10
PLAYLISTS = 5
PLAYLIST_LENGTH = 50
# (name, share of the requests)
MIX = (("track list", 0.25), ("album list", 0.15), ("album page", 0.25), ("playlist", 0.15), ("search", 0.20))
DEADLINE_S = 5.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * (len(ordered) - 1) + 0.5))], 1)


# --- seeding -------------------------------------------------------------------------------------------

def seed(n: int) -> dict:
    """Fresh tables; one user (admin, so the stack creates none) with a library of n tracks in n/10 albums,
    5 playlists of 50 tracks and an API token. Returns what the URL mix needs."""
    from sqlalchemy import text

    from bench.search.library import Generator
    from services.common.db import get_engine, session_scope
    from services.common.models import User
    from services.domain.accounts import service as accounts
    from services.domain.accounts.security import hash_password
    from services.domain.playlists import service as playlists

    tracks = Generator("wordlist", 2027).tracks(n)
    albums = (n + TRACKS_PER_ALBUM - 1) // TRACKS_PER_ALBUM
    with get_engine().begin() as conn:
        conn.execute(text("TRUNCATE tracks, albums, libraries, playlists, api_tokens, users RESTART IDENTITY CASCADE"))
        user_id = conn.execute(text("INSERT INTO users (username, password_hash, is_admin) VALUES "
                                    "('bench', :h, true) RETURNING id"), {"h": hash_password(PASSWORD)}).scalar()
        library_id = conn.execute(text("INSERT INTO libraries (owner_id, name, settings) VALUES "
                                       "(:u, 'Bench crates', '{}') RETURNING id"), {"u": user_id}).scalar()
        cur = conn.connection.driver_connection.cursor()
        with cur.copy("COPY albums (library_id, release_id, title, artist, year, genres, styles) FROM STDIN") as copy:
            for a in range(albums):
                first = tracks[a * TRACKS_PER_ALBUM]
                copy.write_row((library_id, a + 1, first.album, first.artist, first.year, first.genres, first.styles))
        columns = ("track_id, library_id, album_id, position, title, artist, album, year, genres, styles, bpm, "
                   "camelot, energy, analyzed_at")
        with cur.copy(f"COPY tracks ({columns}) FROM STDIN") as copy:
            for i, t in enumerate(tracks):
                album, pos = divmod(i, TRACKS_PER_ALBUM)
                copy.write_row((f"{album + 1}-A{pos + 1}", library_id, album + 1, f"A{pos + 1}", t.title, t.artist,
                                t.album, t.year, t.genres, t.styles, t.bpm, t.camelot, t.energy,
                                "2026-01-01T00:00:00Z" if t.bpm else None))
    with get_engine().connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE"))
    rng = random.Random(16)
    with session_scope() as session:
        user = session.get(User, user_id)
        _, token = accounts.create_api_token(session=session, user=user, name="bench")
        playlist_ids = [
            playlists.create_playlist(session=session, user=user, name=f"Bench set {k + 1}",
                                      track_pks=rng.sample(range(1, n + 1), min(PLAYLIST_LENGTH, n))).id
            for k in range(PLAYLISTS)
        ]
    words = sorted({w for t in tracks[: min(n, 5000)] for w in t.title.lower().split() if len(w) >= 4})
    return {"token": token, "albums": albums, "playlists": playlist_ids, "words": words, "tracks": n}


def url_mix(data: dict, count: int = 4000, seed_: int = 7) -> list[tuple[str, str]]:
    """(kind, path) in MIX proportions, shuffled."""
    rng = random.Random(seed_)
    sorts = ("title", "artist", "-bpm", "added", "-year")
    make = {
        "track list": lambda: f"/api/tracks/search?limit=50&sort={rng.choice(sorts)}&offset={50 * rng.randrange(20)}",
        "album list": lambda: f"/api/albums?limit=50&offset={50 * rng.randrange(20)}",
        "album page": lambda: f"/api/albums/{rng.randrange(1, data['albums'] + 1)}",
        "playlist": lambda: f"/api/playlists/{rng.choice(data['playlists'])}",
        "search": lambda: f"/api/tracks/search?q={quote(rng.choice(data['words']))}&limit=50",
    }
    out = [(kind, make[kind]()) for kind, share in MIX for _ in range(int(count * share))]
    rng.shuffle(out)
    return out


def query_counts(data: dict) -> dict[str, list[int]]:
    """SQL statements per request for each endpoint kind (two different URLs each), in process."""
    from fastapi.testclient import TestClient
    from sqlalchemy import event

    from services.common.db import get_engine
    from services.web.app import create_app

    statements: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    headers = {"Authorization": f"Bearer {data['token']}"}
    seen: dict[str, list[int]] = {}
    event.listen(get_engine(), "before_cursor_execute", count)
    try:
        with TestClient(create_app(), headers=headers) as client:
            for kind, path in url_mix(data, 200):
                if len(seen.get(kind, [])) >= 2:
                    continue
                client.get(path)  # warm (first use of a query may run one-off statements)
                statements.clear()
                r = client.get(path)
                assert r.status_code == 200, (path, r.status_code, r.text[:300])
                seen.setdefault(kind, []).append(len(statements))
    finally:
        event.remove(get_engine(), "before_cursor_execute", count)
    return seen


# --- the server ----------------------------------------------------------------------------------------

def start_server(port: int, workers: int, log_path: Path) -> subprocess.Popen:
    env = {**os.environ, "WEB_PORT": str(port), "BIND_HOST": "127.0.0.1", "WEB_WORKERS": str(workers),
           "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "services.web"], cwd=ROOT, env=env,
                            stdout=log_path.open("w"), stderr=subprocess.STDOUT, start_new_session=True)


def wait_healthy(base: str, server: subprocess.Popen, log_path: Path) -> None:
    import httpx

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the web app exited ({server.returncode}):\n{log_path.read_text()[-3000:]}")
        try:
            if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise SystemExit(f"the web app did not become healthy:\n{log_path.read_text()[-3000:]}")


def tree_cpu(pid: int | None) -> dict[int, float] | None:
    """User + system CPU seconds of a process and each of its children, by pid (psutil when installed)."""
    try:
        import psutil
    except ImportError:
        return None
    if pid is None:
        return None
    try:
        root = psutil.Process(pid)
        out = {}
        for p in (root, *root.children(recursive=True)):
            try:
                t = p.cpu_times()
            except psutil.Error:  # ended meanwhile
                continue
            out[p.pid] = t.user + t.system
        return out
    except psutil.Error:
        return None


def cpu_pct(before: dict[int, float] | None, after: dict[int, float] | None, wall: float) -> float | None:
    """% of one core the tree used between two tree_cpu() readings: what the processes alive at the end used
    since the first reading (a child that ended in between is missed, one started in between counts whole)."""
    if before is None or after is None or not wall:
        return None
    return round(100 * sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items()) / wall, 1)


def embedded_postgres_pid() -> int | None:
    """The embedded PostgreSQL's postmaster (its backends are its children), None for an external server."""
    pid_file = Path(os.environ.get("DATA_DIR", "/nonexistent")) / "postgres" / "postmaster.pid"
    try:
        return int(pid_file.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def stop_server(server: subprocess.Popen) -> None:
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


# --- the load generator (its own process: --client) ------------------------------------------------------

def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


class Unsent(Exception):
    """Still waiting for one of the client's connections when the load stopped: never sent."""


class Client:
    """A minimal keep-alive HTTP/1.1 GET client on asyncio streams: far less CPU per request than httpx (the
    client shares the machine with the server), and cancellation simply closes the connection."""

    def __init__(self, host: str, port: int, token: str, max_connections: int) -> None:
        self.host, self.port = host, port
        self.head = f"Host: {host}:{port}\r\nAuthorization: Bearer {token}\r\nAccept: application/json\r\n\r\n"
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self.slots = asyncio.Semaphore(max_connections)
        self.stopped = False  # set when the load stops: requests still waiting for a connection are not sent

    async def get(self, path: str) -> int:
        async with self.slots:
            if self.stopped:
                raise Unsent
            for attempt in range(2):
                # A retry opens a new connection, as browsers do: another idle one may be just as stale.
                reused = bool(self.idle) and attempt == 0
                conn = self.idle.pop() if reused else await asyncio.open_connection(self.host, self.port)
                try:
                    status, keep = await self._exchange(conn, path)
                except (ConnectionError, asyncio.IncompleteReadError) as exc:
                    conn[1].close()
                    if reused:  # the server closed an idle keep-alive connection: retry once
                        continue
                    raise ConnectionError(type(exc).__name__) from exc
                except BaseException:  # timed out / cancelled mid-request: the connection is unusable
                    conn[1].close()
                    raise
                if keep:
                    self.idle.append(conn)
                else:
                    conn[1].close()
                return status
        raise AssertionError("unreachable")

    async def _exchange(self, conn, path: str) -> tuple[int, bool]:
        reader, writer = conn
        writer.write(f"GET {path} HTTP/1.1\r\n{self.head}".encode())
        await writer.drain()
        status_line = await reader.readuntil(b"\r\n")
        status = int(status_line.split()[1])
        length, chunked, keep = 0, False, True
        while (line := await reader.readuntil(b"\r\n")) != b"\r\n":
            name, _, value = line.decode("latin-1").partition(":")
            name, value = name.strip().lower(), value.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "transfer-encoding" and "chunked" in value:
                chunked = True
            elif name == "connection" and value == "close":
                keep = False
        if chunked:
            while (size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)) > 0:
                await reader.readexactly(size + 2)
            await reader.readuntil(b"\r\n")
        elif length:
            await reader.readexactly(length)
        return status, keep

    def close(self) -> None:
        for _, writer in self.idle:
            writer.close()
        self.idle.clear()


async def _one(client: Client, loop, kind: str, path: str, scheduled: float, out: list) -> None:
    sent = loop.time()
    try:
        async with asyncio.timeout_at(scheduled + DEADLINE_S):
            status = str(await client.get(path))
    except TimeoutError:
        status = "timeout"
    except Unsent:
        status = "unsent (client queue)"
    except (OSError, ValueError, IndexError) as exc:
        status = f"{type(exc).__name__} ({exc})" if str(exc) else type(exc).__name__
    out.append((kind, status, (loop.time() - scheduled) * 1000, (sent - scheduled) * 1000))


def _summary(name: str, rate: float, seconds: float, results: list, wall: float, cpu: float) -> dict:
    statuses: dict[str, int] = {}
    for _, status, _, _ in results:
        statuses[status] = statuses.get(status, 0) + 1
    ok = [ms for _, status, ms, _ in results if status == "200"]
    every = [ms for _, _, ms, _ in results]
    per_kind = {}
    for kind, _ in MIX:
        mine = [ms for k, status, ms, _ in results if k == kind and status == "200"]
        per_kind[kind] = {"ok": len(mine), "p50_ms": pct(mine, 0.5), "p95_ms": pct(mine, 0.95)}
    return {
        "phase": name, "offered_rps": rate, "seconds": seconds, "requests": len(results),
        "ok_rps": round(len(ok) / seconds, 1),
        "p50_ms": pct(every, 0.5), "p95_ms": pct(every, 0.95), "p99_ms": pct(every, 0.99),
        "max_ms": round(max(every), 1) if every else None,
        "ok_p50_ms": pct(ok, 0.5), "ok_p95_ms": pct(ok, 0.95), "ok_p99_ms": pct(ok, 0.99),
        "statuses": dict(sorted(statuses.items())),
        "send_lag_p99_ms": pct([lag for *_, lag in results], 0.99),
        "client_cpu_pct_of_one_core": round(100 * cpu / wall, 1) if wall else None,
        "by_kind": per_kind,
    }


async def _phase(client, urls, rate: float, seconds: float) -> tuple[list, list[asyncio.Task], float]:
    """Send on schedule for `seconds`; returns the result list (filled as answers arrive) and the tasks."""
    loop = asyncio.get_running_loop()
    results: list = []
    tasks: list[asyncio.Task] = []
    start = loop.time() + 0.05
    for i in range(int(rate * seconds)):
        scheduled = start + i / rate
        delay = scheduled - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        kind, path = urls[i % len(urls)]
        tasks.append(asyncio.create_task(_one(client, loop, kind, path, scheduled, results)))
    return results, tasks, start + seconds


async def _recovery(client, urls, stopped_at: float, good_ms: float, max_s: float = 15.0) -> dict:
    """Probe every 50 ms after the load stopped: seconds until 5 probes in a row answer 200 under good_ms."""
    loop = asyncio.get_running_loop()
    streak_start = None
    streak = 0
    probes = 0
    i = 0
    while loop.time() - stopped_at < max_s:
        kind, path = urls[i % len(urls)]
        i += 1
        probes += 1
        t0 = loop.time()
        try:
            async with asyncio.timeout(DEADLINE_S):
                status = await client.get(path)
            good = status == 200 and (loop.time() - t0) * 1000 < good_ms
        except Exception:  # noqa: BLE001 - any failure is a bad probe
            good = False
        if good:
            streak_start = t0 if streak == 0 else streak_start
            streak += 1
            if streak >= 5:
                return {"recovered_s": round(max(0.0, streak_start - stopped_at), 2), "probes": probes,
                        "good_ms": good_ms}
        else:
            streak = 0
        await asyncio.sleep(max(0.0, 0.05 - (loop.time() - t0)))
    return {"recovered_s": None, "probes": probes, "good_ms": good_ms, "note": f"not recovered within {max_s} s"}


async def client_main(args) -> None:
    import faulthandler
    from urllib.parse import urlsplit

    faulthandler.register(signal.SIGUSR1, all_threads=True)  # `kill -USR1 <pid>`: where is it?
    urls = [tuple(line.split("\t", 1)) for line in Path(args.urls).read_text().splitlines() if line.strip()]
    base = urlsplit(args.base)
    client = Client(base.hostname, base.port, args.token, args.connections)
    report = []
    try:
        for _, path in urls[:40]:  # warm-up: connections, caches, query plans
            await client.get(path)
        for name, rate in (("steady", args.rate), ("overload", args.rate * args.overload)):
            cpu0, t0 = _cpu(), time.perf_counter()
            results, tasks, stopped_at = await _phase(client, urls, rate, args.seconds)
            client.stopped = True  # the load stops: what still waits for a client connection is dropped
            if name == "overload":
                probe = Client(base.hostname, base.port, args.token, 1)  # its own connection, no queue
                recovery = await _recovery(probe, urls, stopped_at, args.recovery_ms)
                probe.close()
            await asyncio.gather(*tasks)
            report.append(_summary(name, rate, args.seconds, results, time.perf_counter() - t0, _cpu() - cpu0))
            client.stopped = False
        report.append({"phase": "recovery", **recovery})
    finally:
        client.close()
    print(json.dumps(report))


# --- the driver ------------------------------------------------------------------------------------------

def verdict(report: list[dict]) -> dict:
    steady, overload, recovery = report
    bad = {k: v for k, v in overload["statuses"].items() if k not in ("200", "503", "unsent (client queue)")}
    return {
        "steady: ok_rps >= 300 and p95 < 100 ms": steady["ok_rps"] >= 300 and (steady["p95_ms"] or 1e9) < 100,
        "overload: only 200/503 (no 500, no timeout)": not bad,
        "recovery within 5 s": recovery.get("recovered_s") is not None and recovery["recovered_s"] <= 5,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tracks", type=int, default=100_000)
    p.add_argument("--seconds", type=float, default=20, help="length of the steady and the overload phase")
    p.add_argument("--rate", type=float, default=300, help="offered requests/s in the steady phase")
    p.add_argument("--overload", type=float, default=4, help="the overload phase offers this many times --rate")
    p.add_argument("--workers", type=int, default=0, help="WEB_WORKERS (0 = one per core)")
    p.add_argument("--connections", type=int, default=1000,
                   help="the client's connection limit (requests beyond it wait in the client, counted in latency)")
    p.add_argument("--recovery-ms", type=float, default=100, help="a recovered probe answers under this")
    p.add_argument("--client", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--base", help=argparse.SUPPRESS)
    p.add_argument("--token", help=argparse.SUPPRESS)
    p.add_argument("--urls", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.client:
        asyncio.run(client_main(args))
        return

    tmp = Path(tempfile.mkdtemp(prefix="djp-bench-load-"))
    os.environ.setdefault("DATA_DIR", str(tmp / "data"))
    os.environ.setdefault("SECRET_KEY", "bench-secret")
    os.environ.pop("MEILISEARCH_HOST", None)
    with bench_servers("djp-bench-load-"):
        run(args, tmp)


def run(args: argparse.Namespace, tmp: Path) -> None:
    server = None
    try:
        from sqlalchemy import text

        from services.common.db import get_engine, pool_sizing
        from services.common.settings import get_settings
        from services.domain.startup import migrate
        from services.web.api.admission import AdmissionControl

        migrate(get_engine())
        t0 = time.perf_counter()
        data = seed(args.tracks)
        with get_engine().connect() as conn:
            max_connections = conn.execute(text("SHOW max_connections")).scalar()
        os.environ["WEB_WORKERS"] = str(args.workers)
        get_settings.cache_clear()
        settings = get_settings()
        report: dict = {
            "machine": f"{os.cpu_count()} cores", "tracks": args.tracks, "seed_s": round(time.perf_counter() - t0, 1),
            "web_workers": settings.resolved_web_workers, "pool_per_worker": pool_sizing(settings),
            "postgres_max_connections": int(max_connections),
            "web_max_inflight": AdmissionControl(None).max_inflight,
            "web_queue_timeout_ms": settings.web_queue_timeout_ms,
        }
        report["sql_statements_per_request"] = query_counts(data)
        print(json.dumps(report), flush=True)
        get_engine().dispose()

        port = free_port()
        base = f"http://127.0.0.1:{port}"
        log_path = tmp / "web.log"
        server = start_server(port, args.workers, log_path)
        wait_healthy(base, server, log_path)
        urls_file = tmp / "urls.tsv"
        urls_file.write_text("\n".join(f"{kind}\t{path}" for kind, path in url_mix(data)))
        postgres = embedded_postgres_pid()
        cpu0, pg0 = tree_cpu(server.pid), tree_cpu(postgres)
        t0 = time.perf_counter()
        out = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "--client", "--base", base, "--token", data["token"],
             "--urls", str(urls_file), "--rate", str(args.rate), "--overload", str(args.overload),
             "--seconds", str(args.seconds), "--connections", str(args.connections),
             "--recovery-ms", str(args.recovery_ms)],
            cwd=ROOT, capture_output=True, text=True)
        if out.returncode != 0:
            raise SystemExit(f"the load generator failed:\n{out.stderr[-3000:]}")
        wall = time.perf_counter() - t0
        cpu1, pg1 = tree_cpu(server.pid), tree_cpu(postgres)
        phases = json.loads(out.stdout.strip().splitlines()[-1])
        report["phases"] = phases
        report["server_cpu_pct_of_one_core"] = cpu_pct(cpu0, cpu1, wall)
        report["postgres_cpu_pct_of_one_core"] = cpu_pct(pg0, pg1, wall)  # the machine's other big consumer
        report["server_errors_logged"] = sum(1 for line in log_path.read_text().splitlines()
                                             if line.startswith(("ERROR", "Traceback")))
        report["verdict"] = verdict(phases)
        print(json.dumps(report, indent=1))
    finally:
        if server is not None:
            stop_server(server)


if __name__ == "__main__":
    main()
