"""Benchmark: sync N releases (default 5,000, ~30,000 tracks) from the fake Discogs server.

    .venv/bin/python bench/bench_discogs_sync.py [--releases 5000] [--concurrency 8]

Uses DATABASE_URL when set, else an embedded PostgreSQL in a temporary DATA_DIR. Rate limiting is off.
Reports: wall time of a full sync (network + parse + writes), database rows per second, peak RSS and
RSS along the run (flat = streamed), then the processing rate alone (tracklists rebuilt from the stored
raw JSON: parse + batched writes, no network), and an incremental re-sync.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--releases", type=int, default=5000)
    parser.add_argument("--tracks", type=int, default=6)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=200)
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="djp-bench-"))
    os.environ.setdefault("DATA_DIR", str(tmp / "data"))
    port = free_port()
    fake = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.discogs", "--releases", str(args.releases),
         "--tracks", str(args.tracks), "--port", str(port), "--username", "benchuser"],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )
    fake.stdout.readline()
    os.environ.update({"DISCOGS_API_URL": f"http://127.0.0.1:{port}", "DISCOGS_USER_TOKEN": "bench",
                       "DISCOGS_RATE_LIMIT_PER_MINUTE": "0", "DISCOGS_SLOWDOWN_REMAINING": "0",
                       "DISCOGS_CONCURRENCY": str(args.concurrency)})
    embedded = False
    try:
        from services.common.embedded import start_embedded_postgres, stop_embedded_postgres

        if not os.environ.get("DATABASE_URL"):
            os.environ["DATABASE_URL"] = start_embedded_postgres(Path(os.environ["DATA_DIR"]))
            embedded = True
        from sqlalchemy import func, select, text

        from services.common.db import get_engine, session_scope
        from services.common.models import Album, Library, Track, User
        from services.domain.collection.sync import run_sync
        from services.domain.sources.discogs import DiscogsSource
        from services.domain.startup import migrate

        migrate(get_engine())
        with session_scope() as s:
            user = User(username=f"bench-{time.time_ns()}", password_hash="x")
            s.add(user)
            s.flush()
            lib = Library(owner_id=user.id, name="bench", discogs_username="benchuser", settings={})
            s.add(lib)
            s.flush()
            library_id = lib.id
        with get_engine().begin() as conn:  # a cold raw-release cache, so every release is fetched
            conn.execute(text("DELETE FROM discogs_releases WHERE release_id <= :n"), {"n": args.releases})

        samples: list[tuple[float, float]] = []

        def progress(p) -> None:
            samples.append((p.percent, rss_mb()))

        rss_start = rss_mb()
        peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        t0 = time.perf_counter()
        with DiscogsSource.from_settings() as source:
            result = run_sync(library_id=library_id, source=source, progress=progress, batch_size=args.batch_size)
        wall = time.perf_counter() - t0
        with session_scope() as s:
            albums = s.scalar(select(func.count()).select_from(Album).where(Album.library_id == library_id))
            tracks = s.scalar(select(func.count()).select_from(Track).where(Track.library_id == library_id))
        rows = albums + tracks + result.releases_fetched  # albums, tracks, raw releases
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"full sync: {result.releases_done} releases, {tracks} tracks, {result.releases_fetched} fetched, "
              f"{result.releases_failed} failed")
        print(f"  wall {wall:.2f} s -> {result.releases_done / wall:.0f} releases/s, {rows / wall:.0f} rows/s")
        print(f"  RSS start {rss_start:.0f} MB (peak so far {peak_before:.0f} MB), peak {peak:.0f} MB; along the run: "
              + ", ".join(f"{pct:.0f}%:{mb:.0f}MB" for pct, mb in samples[:: max(1, len(samples) // 8)]))

        # Processing alone: drop the tracks, rebuild from stored raw JSON (no network, batched writes).
        with get_engine().begin() as conn:
            conn.execute(text("DELETE FROM tracks WHERE library_id = :l"), {"l": library_id})
        t0 = time.perf_counter()
        with DiscogsSource.from_settings() as source:
            again = run_sync(library_id=library_id, source=source, mode="tracklists", batch_size=args.batch_size)
        proc = time.perf_counter() - t0
        print(f"processing only (stored raw JSON -> parse -> batched upserts): {again.releases_done} releases, "
              f"{again.releases_fetched} fetched, {proc:.2f} s -> {again.releases_done / proc:.0f} releases/s, "
              f"{tracks / proc:.0f} track rows/s")

        t0 = time.perf_counter()
        with DiscogsSource.from_settings() as source:
            inc = run_sync(library_id=library_id, source=source, batch_size=args.batch_size)
        print(f"incremental re-sync (nothing new): {time.perf_counter() - t0:.2f} s, "
              f"{inc.releases_fetched} releases fetched, {inc.pages_total} pages listed")
        print(f"peak RSS overall {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
        with get_engine().begin() as conn:
            conn.execute(text("DELETE FROM users WHERE id = :u"), {"u": user.id})
    finally:
        fake.terminate()
        fake.wait()
        if embedded:
            from services.common.db import get_engine

            get_engine().dispose()
            stop_embedded_postgres(Path(os.environ["DATA_DIR"]))
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
