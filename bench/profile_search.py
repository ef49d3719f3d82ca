"""Profile track search and the track list through the real ASGI app, in process (issues 10 and 16).

    .venv/bin/python bench/profile_search.py                     # 20,000 tracks, every case
    .venv/bin/python bench/profile_search.py --tracks 5000 --runs 10 --top 15 --only "list artist"

Loads --tracks generated tracks (bench/search/library.py, the frozen "wordlist" split by default, the same
COPY as bench/bench_search.py) into PostgreSQL (DATABASE_URL, else an embedded server in a temporary
folder, stopped at the end), creates one user with an API token, and sends requests to the app built by
`services.web.app.create_app()` through httpx's ASGI transport (Bearer token): no socket, no uvicorn, but
every middleware, dependency, route and response of a real request. Sync routes and dependencies are run
inline instead of in the thread pool, so that cProfile (which sees one thread) sees all of a request.

Cases: the search URLs of bench_search.py's cases (a)-(e), and the track list (browse, 50 a page, offsets up
to 950) sorted by artist, title and -bpm. For each case it prints:
* wall ms per request in process (median and p95 of --runs requests, no profiler attached), with the facet
  cache kept (warm, as a running server has it) and emptied before every request (cold);
* SQL statements per request (counted on the engine's cursor executions, the warm run);
* with --explain, EXPLAIN ANALYZE of the statements of one request (the slowest first);
* with --top N, the N functions with the largest cumulative time under cProfile (a separate, warm pass),
  and for every case the share of profiled time by package (sqlalchemy, psycopg incl. waiting on
  PostgreSQL, pydantic, fastapi/starlette, services, other).
--json PATH also writes the figures. Nothing here is a pass/fail check: targets live in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_search import SPLITS, latency_cases, load, pct  # noqa: E402
from bench.search.library import queries  # noqa: E402

LIST_SORTS = {"list artist": "artist", "list -artist": "-artist", "list title": "title", "list -bpm": "-bpm",
              "list -year": "-year", "list added": "added"}
PACKAGES = ("sqlalchemy", "psycopg", "pydantic", "fastapi", "starlette", "anyio", "httpx", "services", "json")


def search_urls(tracks, seed: int, per_case: int) -> dict[str, list[str]]:
    cases = latency_cases(tracks, queries(tracks, seed + 1))
    out = {name: [f"/api/tracks/search?{urlencode(p, doseq=True)}" for p in params[:per_case]]
           for name, params in cases.items() if name != "(f) browse all"}
    for name, sort in LIST_SORTS.items():
        out[name] = [f"/api/tracks/search?limit=50&sort={sort}&offset={50 * k}" for k in range(20)]
    return out


def mix_urls(n: int) -> tuple[dict[str, list[str]], str]:
    """bench_load.py's seeding and URL mix, grouped by endpoint kind."""
    from bench.bench_load import seed, url_mix

    data = seed(n)
    out: dict[str, list[str]] = {}
    for kind, path in url_mix(data, 2000):
        out.setdefault(kind, []).append(path)
    return out, data["token"]


def inline_threads() -> None:
    """Run what Starlette/FastAPI send to the thread pool in the calling thread (cProfile sees one thread)."""
    import anyio.to_thread

    async def run_sync(func, *args, abandon_on_cancel=False, cancellable=None, limiter=None):
        return func(*args)

    anyio.to_thread.run_sync = run_sync


def package_of(filename: str, name: str) -> str:
    where = f"{filename} {name}"
    for package in PACKAGES:
        if f"/{package}/" in filename or (filename == "~" and package in name):
            return {"fastapi": "fastapi/starlette", "starlette": "fastapi/starlette", "anyio": "fastapi/starlette",
                    "psycopg": "psycopg (incl. waiting on PostgreSQL)"}.get(package, package)
    if "psycopg" in where:
        return "psycopg (incl. waiting on PostgreSQL)"
    return "other"


def shares(stats: pstats.Stats) -> dict[str, float]:
    """Share of the profiled time (own time of each function) by package, in %."""
    by: dict[str, float] = {}
    for (filename, _line, name), (_cc, _nc, tottime, _ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        package = package_of(filename, name)
        by[package] = by.get(package, 0.0) + tottime
    total = sum(by.values()) or 1.0
    return {k: round(100 * v / total, 1) for k, v in sorted(by.items(), key=lambda kv: -kv[1])}


def print_top(stats: pstats.Stats, top: int, requests: int) -> None:
    """The `top` functions by cumulative time (the framework's call chain left out: every request passes
    through it) and by own time, in ms per request."""
    rows = [(filename, line, name, nc, tottime, cumtime)
            for (filename, line, name), (_cc, nc, tottime, cumtime, _callers) in stats.stats.items()]  # type: ignore[attr-defined]
    chain = ("/asyncio/", "/starlette/", "/fastapi/", "/anyio/", "/httpx/", "/contextlib.py", "profile_search.py")

    def label(filename: str, line: int, name: str) -> str:
        for marker in ("site-packages/", "/services/", "/lib/python3"):
            if marker in filename:
                filename = filename[filename.index(marker) + len(marker):]
                break
        return f"{filename}:{line}({name})" if filename != "~" else name

    print(f"   top {top} by cumulative ms per request (calls per request), framework call chain left out:")
    cumulative = sorted((r for r in rows if not any(c in r[0] for c in chain) and r[0] != "~"), key=lambda r: -r[5])
    for filename, line, name, nc, _tot, cum in cumulative[:top]:
        print(f"   {cum * 1000 / requests:8.2f}  ({nc / requests:6.1f})  {label(filename, line, name)}")
    print(f"   top {top} by own ms per request:")
    for filename, line, name, nc, tot, _cum in sorted(rows, key=lambda r: -r[4])[:top]:
        print(f"   {tot * 1000 / requests:8.2f}  ({nc / requests:6.1f})  {label(filename, line, name)}")


def explain(captured: list[tuple[str, object]]) -> None:
    """EXPLAIN ANALYZE of the statements one request ran (the slowest plan first)."""
    from services.common.db import get_engine

    plans = []
    with get_engine().connect() as conn:
        for statement, parameters in captured:
            if not statement.lstrip().upper().startswith(("SELECT", "WITH")):
                continue
            rows = conn.exec_driver_sql(f"EXPLAIN (ANALYZE, COSTS OFF) {statement}", parameters).all()
            lines = [r[0] for r in rows]
            took = next((float(line.split()[2]) for line in lines if line.startswith("Execution Time")), 0.0)
            plans.append((took, statement, lines))
        conn.rollback()
    for took, statement, lines in sorted(plans, key=lambda p: -p[0]):
        print(f"   --- {took:.2f} ms: {' '.join(statement.split())[:160]}")
        print("\n".join(f"      {line}" for line in lines[:25]))


async def run_cases(urls: dict[str, list[str]], token: str, runs: int, top: int, only: list[str],
                    show_plans: bool = False) -> dict:
    import httpx
    from sqlalchemy import event

    from services.common.db import get_engine
    from services.domain.search.postgres import FACET_CACHE
    from services.web.app import create_app

    inline_threads()
    statements: list[tuple[str, object]] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        statements.append((statement, parameters))

    event.listen(get_engine(), "before_cursor_execute", count)
    transport = httpx.ASGITransport(app=create_app())
    report: dict[str, dict] = {}
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver",
                                 headers={"Authorization": f"Bearer {token}"}) as client:

        async def get(url: str) -> None:
            r = await client.get(url)
            if r.status_code != 200:
                raise SystemExit(f"{url}: {r.status_code} {r.text[:300]}")

        for url in next(iter(urls.values()))[:3]:  # first use: imports, compiled caches, connections
            await get(url)
        for name, case_urls in urls.items():
            if only and name not in only:
                continue
            row: dict = {}
            for mode in ("warm", "cold"):
                times, counts = [], []
                FACET_CACHE.entries.clear()
                await get(case_urls[0])
                for k in range(runs):
                    if mode == "cold":
                        FACET_CACHE.entries.clear()
                    statements.clear()
                    t0 = time.perf_counter()
                    await get(case_urls[k % len(case_urls)])
                    times.append((time.perf_counter() - t0) * 1000)
                    counts.append(len(statements))
                row[f"{mode}_ms"] = {"p50": round(statistics.median(times), 1), "p95": round(pct(times, 0.95), 1)}
                if mode == "warm":
                    row["sql_statements"] = {"median": statistics.median(counts), "min": min(counts),
                                             "max": max(counts)}
            if show_plans:  # the last URL (deepest offset of a list), warm cache
                statements.clear()
                await get(case_urls[min(runs, len(case_urls)) - 1])
                print(f"\n-- plans of one {name!r} request", flush=True)
                explain(list(statements))
            FACET_CACHE.entries.clear()
            await get(case_urls[0])
            profiler = cProfile.Profile()
            profiler.enable()
            for k in range(runs):
                await get(case_urls[k % len(case_urls)])
            profiler.disable()
            stats = pstats.Stats(profiler)
            row["profile_share_pct"] = shares(stats)
            report[name] = row
            print(f"\n== {name}: warm p50 {row['warm_ms']['p50']} / p95 {row['warm_ms']['p95']} ms, "
                  f"cold p50 {row['cold_ms']['p50']} / p95 {row['cold_ms']['p95']} ms, "
                  f"SQL statements {row['sql_statements']}", flush=True)
            print("   profiled time by package (%):", json.dumps(row["profile_share_pct"]))
            if top:
                print_top(stats, top, runs)
    event.remove(get_engine(), "before_cursor_execute", count)
    return report


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tracks", type=int, default=20_000)
    p.add_argument("--runs", type=int, default=30, help="requests per case and mode")
    p.add_argument("--split", choices=tuple(SPLITS), default="test")
    p.add_argument("--top", type=int, default=20, help="cumulative functions to print per case (0: none)")
    p.add_argument("--only", action="append", default=[], help="a case name, e.g. '(a) text' or 'list artist'")
    p.add_argument("--json", type=Path, help="write the figures here")
    p.add_argument("--explain", action="store_true", help="print EXPLAIN ANALYZE of one request's statements per case")
    p.add_argument("--mix", action="store_true",
                   help="profile bench_load.py's request mix instead (its seeding: albums of 10 tracks, playlists)")
    p.add_argument("--unprepared", action="store_true",
                   help="no server-side prepared statements (every statement planned with its values), for comparison")
    args = p.parse_args()
    if args.unprepared:
        import services.common.db as db

        real = db.create_engine
        db.create_engine = lambda url, **kw: real(url, **kw, connect_args={"prepare_threshold": None})

    tmp = Path(tempfile.mkdtemp(prefix="djp-profile-search-"))
    os.environ.setdefault("DATA_DIR", str(tmp / "data"))
    os.environ.setdefault("SECRET_KEY", "bench-secret")
    os.environ.pop("MEILISEARCH_HOST", None)
    from services.common.embedded import start_embedded_postgres, stop_embedded_postgres

    embedded = not os.environ.get("DATABASE_URL")
    if embedded:
        os.environ["DATABASE_URL"] = start_embedded_postgres(Path(os.environ["DATA_DIR"]))
    try:
        from services.common.db import get_engine, session_scope
        from services.common.models import User
        from services.domain.accounts import service as accounts
        from services.domain.startup import migrate

        migrate(get_engine())
        kind, seed = SPLITS[args.split]
        t0 = time.perf_counter()
        if args.mix:
            urls, token = mix_urls(args.tracks)
        else:
            tracks = load(args.tracks, kind, seed)
            with session_scope() as session:
                _, token = accounts.create_api_token(session=session, user=session.query(User).one(), name="profile")
            urls = search_urls(tracks, seed, per_case=args.runs)
        print(f"loaded {args.tracks} tracks ({'load mix' if args.mix else args.split + ' split'}) in "
              f"{time.perf_counter() - t0:.1f} s; {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}",
              flush=True)
        report = asyncio.run(run_cases(urls, token, args.runs, args.top, args.only, args.explain))
        summary = {"tracks": args.tracks, "split": args.split, "runs": args.runs, "unprepared": args.unprepared,
                   "load_average": round(os.getloadavg()[0], 1), "cases": report}
        print("\n| case | warm p50 / p95 ms | cold p50 / p95 ms | SQL statements |\n|---|---|---|---|")
        for name, row in report.items():
            print(f"| {name} | {row['warm_ms']['p50']} / {row['warm_ms']['p95']} | {row['cold_ms']['p50']} / "
                  f"{row['cold_ms']['p95']} | {row['sql_statements']['median']} |")
        if args.json:
            args.json.write_text(json.dumps(summary, indent=1))
    finally:
        if embedded:
            from services.common.db import get_engine

            get_engine().dispose()
            stop_embedded_postgres(Path(os.environ["DATA_DIR"]))


if __name__ == "__main__":
    main()
