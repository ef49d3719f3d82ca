"""Benchmark: track search on 100,000 generated tracks (issue 10). Figures go to docs/benchmarks.md.

    .venv/bin/python bench/bench_search.py                       # both splits, everything (~10 min)
    .venv/bin/python bench/bench_search.py --split tuning --no-http

For each split (tuning: "syllables" generator, seed 1234; frozen test: "wordlist" generator, seed
2027) it loads the tracks into PostgreSQL (DATABASE_URL, else an embedded server), then measures:
* relevance: wanted track first (exact queries) / in the top 10 (typo and prefix queries);
* server-side latency (in-process `search_tracks`, one session per call, facets included) of
  (a) text, (b) typo, (c) text + BPM range + compatible keys + style, (d) browse + a style facet,
  (e) 3-character prefix, and (f) browse everything: p50 / p95 over --runs calls;
* the same for the plain baseline: ILIKE '%word%' on "artist title" for every word (what an app
  without search indexes does), with the same filters and facets;
* throughput through the real HTTP server (uvicorn, 1 and 2 workers) with bench/search/load.py.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.search.library import Generator, queries  # noqa: E402

SPLITS = {"tuning": ("syllables", 1234), "test": ("wordlist", 2027)}
PASSWORD = "bench-password-123"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * (len(ordered) - 1) + 0.5))]


def load(n: int, kind: str, seed: int):
    """Fresh tables, one user and library, n generated tracks (ids 1..n in generation order)."""
    from sqlalchemy import text

    from services.common.db import get_engine
    from services.domain.accounts.security import hash_password

    tracks = Generator(kind, seed).tracks(n)
    with get_engine().begin() as conn:
        conn.execute(text("TRUNCATE tracks, albums, libraries, users RESTART IDENTITY CASCADE"))
        user_id = conn.execute(text("INSERT INTO users (username, password_hash, is_admin) VALUES "
                                    "('bench', :h, true) RETURNING id"), {"h": hash_password(PASSWORD)}).scalar()
        library_id = conn.execute(text("INSERT INTO libraries (owner_id, name, settings) VALUES "
                                       "(:u, 'Bench crates', '{}') RETURNING id"), {"u": user_id}).scalar()
        cur = conn.connection.driver_connection.cursor()
        columns = "track_id, library_id, title, artist, album, year, genres, styles, bpm, camelot, energy, analyzed_at"
        with cur.copy(f"COPY tracks ({columns}) FROM STDIN") as copy:
            for i, t in enumerate(tracks, 1):
                copy.write_row((f"{i}-A1", library_id, t.title, t.artist, t.album, t.year, t.genres, t.styles, t.bpm,
                                t.camelot, t.energy, "2026-01-01T00:00:00Z" if t.bpm else None))
    with get_engine().connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE tracks"))
    return tracks


def baseline_backend():
    """The plain way: every word ILIKE '%word%' on "artist title", exact title first, same filters and facets."""
    from sqlalchemy import and_, case, func, or_

    from services.common.models import Track
    from services.domain.search.postgres import PostgresBackend, TextRank

    class IlikeBackend(PostgresBackend):
        name = "ilike"

        @staticmethod
        def _match_text(session, query, where):
            words = query.q.split()
            if not words:
                return None
            hay = func.coalesce(Track.artist, "") + " " + Track.title
            where.append(and_(*(hay.ilike(f"%{w.replace('%', '').replace('_', '')}%") for w in words)))
            return TextRank(case((or_(func.lower(Track.title) == query.q.lower(), func.lower(hay) == query.q.lower()),
                                  1), else_=0))

    return IlikeBackend()


def relevance(backend, qs) -> dict[str, float]:
    from services.common.db import session_scope
    from services.common.models import User
    from services.domain.search.models import SearchQuery
    from services.domain.search.service import search_tracks

    found = {"exact": [0, 0], "typo": [0, 0], "prefix": [0, 0]}
    with session_scope() as s:
        user = s.query(User).one()
        for q in qs:
            ids = [i.id for i in search_tracks(session=s, user=user, query=SearchQuery(q=q.text, limit=10),
                                               backend=backend).items]
            ok = (ids[:1] == [q.wanted + 1]) if q.kind == "exact" else (q.wanted + 1 in ids)
            found[q.kind][0] += ok
            found[q.kind][1] += 1
            s.rollback()
    return {k: hit / n for k, (hit, n) in found.items()}


def latency_cases(tracks, qs) -> dict[str, list[dict]]:
    from collections import Counter

    style = Counter(s for t in tracks for s in t.styles).most_common(1)[0][0]
    exact = [{"q": q.text} for q in qs if q.kind == "exact"]
    typo = [{"q": q.text} for q in qs if q.kind == "typo"]
    combined = [{"q": tracks[q.wanted].title.split()[0], "bpm_min": 118, "bpm_max": 130, "compatible_with": "8A",
                 "style": [style]} for q in qs if q.kind == "exact"]
    prefix = [{"q": tracks[q.wanted].title[:3]} for q in qs if q.kind == "prefix"]
    browse_style = [{"style": [s]} for s in sorted({s for t in tracks[:2000] for s in t.styles})]
    return {"(a) text": exact, "(b) typo": typo, "(c) text+bpm+keys+style": combined,
            "(d) browse + style facet": browse_style, "(e) prefix 3 chars": prefix, "(f) browse all": [{}]}


def timings(backend, cases, runs: int, *, warm: bool = False) -> dict[str, tuple[float, float]]:
    """p50/p95 in ms; cold (default): the facet cache is emptied before every call."""
    from services.common.db import session_scope
    from services.common.models import User
    from services.domain.search.models import SearchQuery
    from services.domain.search.postgres import FACET_CACHE
    from services.domain.search.service import search_tracks

    out = {}
    with session_scope() as s:
        user_id = s.query(User).one().id
    for name, params in cases.items():
        times = []
        for k in range(runs):
            if not warm:
                FACET_CACHE.entries.clear()
            with session_scope() as s:
                user = s.get(User, user_id)
                t0 = time.perf_counter()
                search_tracks(session=s, user=user, query=SearchQuery(**params[k % len(params)]), backend=backend)
                times.append((time.perf_counter() - t0) * 1000)
        out[name] = (statistics.median(times), pct(times, 0.95))
    return out


def http_throughput(cases, workers: int, seconds: float, concurrency: int) -> dict:
    import httpx

    port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "services.web.app:create_app", "--factory", "--host", "127.0.0.1",
         "--port", str(port), "--workers", str(workers), "--log-level", "warning", "--no-access-log"],
        cwd=ROOT, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        r = httpx.post(f"{base}/api/auth/login", json={"username": "bench", "password": PASSWORD})
        cookie = r.cookies["djp_session"]
        urls = [f"/api/tracks/search?{urlencode(p, doseq=True)}" for name, ps in cases.items()
                if name != "(f) browse all" for p in ps]
        with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as fh:
            fh.write("\n".join(urls))
        out = subprocess.run([sys.executable, str(ROOT / "bench/search/load.py"), "--base", base, "--cookie", cookie,
                              "--urls", fh.name, "--concurrency", str(concurrency), "--seconds", str(seconds)],
                             cwd=ROOT, capture_output=True, text=True, check=True)
        return json.loads(out.stdout.strip().splitlines()[-1])
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--tracks", type=int, default=100_000)
    p.add_argument("--runs", type=int, default=100)
    p.add_argument("--split", choices=("tuning", "test", "both"), default="both")
    p.add_argument("--no-http", action="store_true")
    p.add_argument("--http-seconds", type=float, default=15)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--sweep", default="",
                   help="tuning split only: comma-separated WORD_SIMILARITY:CORRECTIONS_PER_WORD pairs, e.g. 0.5:8")
    args = p.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="djp-bench-search-"))
    os.environ.setdefault("DATA_DIR", str(tmp / "data"))
    os.environ.setdefault("SECRET_KEY", "bench-secret")
    os.environ.pop("MEILISEARCH_HOST", None)
    embedded = False
    from services.common.embedded import start_embedded_postgres, stop_embedded_postgres

    if not os.environ.get("DATABASE_URL"):
        os.environ["DATABASE_URL"] = start_embedded_postgres(Path(os.environ["DATA_DIR"]))
        embedded = True
    try:
        from services.common.db import get_engine
        from services.domain.search.postgres import PostgresBackend
        from services.domain.startup import migrate

        migrate(get_engine())
        report = {"machine": f"{os.cpu_count()} cores", "tracks": args.tracks}
        if args.sweep:
            from services.domain.search import postgres

            tracks = load(args.tracks, *SPLITS["tuning"])
            qs = queries(tracks, SPLITS["tuning"][1] + 1)
            cases = {k: v for k, v in latency_cases(tracks, qs).items() if k in ("(a) text", "(b) typo")}
            for pair in args.sweep.split(","):
                threshold, per_word = pair.split(":")
                postgres.WORD_SIMILARITY, postgres.CORRECTIONS_PER_WORD = float(threshold), int(per_word)
                print(json.dumps({"word_similarity": threshold, "corrections_per_word": per_word,
                                  "relevance": relevance(PostgresBackend(), qs),
                                  "latency_ms": timings(PostgresBackend(), cases, args.runs)}), flush=True)
            return
        for split in (("tuning", "test") if args.split == "both" else (args.split,)):
            kind, seed = SPLITS[split]
            t0 = time.perf_counter()
            tracks = load(args.tracks, kind, seed)
            qs = queries(tracks, seed + 1)
            row = {"generator": kind, "seed": seed, "load_s": round(time.perf_counter() - t0, 1)}
            cases = latency_cases(tracks, qs)
            for name, backend in (("postgres", PostgresBackend()), ("ilike baseline", baseline_backend())):
                row[name] = {"relevance": relevance(backend, qs), "latency_ms": timings(backend, cases, args.runs),
                             "warm_browse_all_ms": timings(backend, {"(f)": [{}]}, args.runs, warm=True)["(f)"]}
            if not args.no_http:
                row["http"] = {f"{w} worker(s)": http_throughput(cases, w, args.http_seconds, args.concurrency)
                               for w in (1, 2)}
            report[split] = row
            print(json.dumps({split: row}, indent=1), flush=True)
        print(json.dumps(report))
    finally:
        if embedded:
            stop_embedded_postgres(Path(os.environ["DATA_DIR"]))


if __name__ == "__main__":
    main()
