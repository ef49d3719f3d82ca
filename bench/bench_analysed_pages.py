"""Benchmark: reading analysed tracks (issue 16's read path). The load mix (bench_load.py) seeds analysed
columns only; a real analysed track also stores its whole analysis (waveform and beat grid, ~40 KB of JSON).
This measures what that costs the pages that show whole tracks.

    .venv/bin/python bench/bench_analysed_pages.py                  # 500 albums of 10 tracks, 300 requests
    .venv/bin/python bench/bench_analysed_pages.py --albums 200 --requests 100

Seeds bench_load.py's library (albums of 10 tracks) into PostgreSQL (DATABASE_URL, else an embedded server),
stores one analysis document shaped like the analyzer's (700 beats, a 1,200-point four-band waveform) on
every track, then sends GET /api/albums/{id} and GET /api/tracks/{id} through the real ASGI app in process
(httpx's ASGI transport, Bearer token; the first 50 answers not counted). Prints the median and p95 ms per
page. Compare builds side by side by running this file from each checkout in one window.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_load import TRACKS_PER_ALBUM, pct, seed  # noqa: E402
from bench.servers import bench_servers  # noqa: E402


def analysis_document(rng: random.Random) -> dict:
    """An analysis result's shape and size: beat grid, phrase starts, waveform (analysis/waveform.py)."""
    return {"bpm": 124.0, "camelot": "8A", "key": "A", "scale": "minor",
            "beats": [round(0.5 + i * 0.4839, 3) for i in range(700)],
            "phrase_starts": [round(0.5 + i * 15.485, 3) for i in range(22)],
            "waveform": {"points_per_second": 4.0,
                         **{band: [round(rng.random(), 3) for _ in range(1200)] for band in ("peaks", "low", "mid", "high")}}}


async def _pages(paths: list[str], token: str) -> list[float]:
    import httpx

    from services.web.app import create_app

    transport = httpx.ASGITransport(app=create_app())
    times = []
    async with httpx.AsyncClient(transport=transport, base_url="http://bench",
                                 headers={"authorization": f"Bearer {token}"}) as client:
        for path in paths:
            started = time.perf_counter()
            response = await client.get(path)
            times.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                raise SystemExit(f"{path}: {response.status_code} {response.text[:200]}")
    return times[50:]


def _counts(data: dict, runs: int = 15) -> dict:
    """The library page's count of outdated analyses (`analysis.service.library_analysis`, one library holding
    every track) as it is, reading `tracks.analyzer_version`, and as it was first written, reading the version
    out of each analysis document: same statement otherwise, same data, one after the other, median ms."""
    from sqlalchemy import text

    from services.common.contracts.analysis import ANALYZER_VERSION
    from services.common.db import get_engine

    shape = ("SELECT count(*) FILTER (WHERE analyzed_at IS NULL OR {version} IS DISTINCT FROM :v) FROM tracks "
             "WHERE library_id = :l AND deleted_at IS NULL")
    out = {}
    with get_engine().connect() as conn:
        library_id = conn.execute(text("SELECT min(library_id) FROM tracks")).scalar()
        for name, version in (("analyzer_version column (now)", "analyzer_version"),
                              ("analysis->>'analyzer_version' (before)", "analysis->>'analyzer_version'")):
            times = []
            for _ in range(runs):
                start = time.perf_counter()
                conn.execute(text(shape.format(version=version)), {"v": ANALYZER_VERSION, "l": library_id}).scalar()
                times.append((time.perf_counter() - start) * 1000)
            out[name] = {"median_ms": round(statistics.median(times), 2), "tracks": data["tracks"]}
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--albums", type=int, default=500)
    p.add_argument("--requests", type=int, default=300)
    args = p.parse_args()
    os.environ.setdefault("DATA_DIR", str(Path(tempfile.mkdtemp(prefix="djp-bench-analysed-")) / "data"))
    os.environ.setdefault("SECRET_KEY", "bench-secret")
    os.environ.pop("MEILISEARCH_HOST", None)
    with bench_servers("djp-bench-analysed-"):
        from sqlalchemy import text

        from services.common.db import get_engine
        from services.domain.startup import migrate

        migrate(get_engine())
        data = seed(args.albums * TRACKS_PER_ALBUM)
        from services.common.contracts.analysis import ANALYZER_VERSION

        document = json.dumps({**analysis_document(random.Random(1)), "analyzer_version": ANALYZER_VERSION})
        with get_engine().begin() as conn:
            conn.execute(text("UPDATE tracks SET analysis = CAST(:doc AS jsonb), analyzed_at = now(), "
                              "analyzer_version = CAST(:doc AS jsonb)->>'analyzer_version'"), {"doc": document})
        rng = random.Random(7)
        report = {"albums": args.albums, "tracks": data["tracks"], "analysis_json_bytes": len(document),
                  "requests": args.requests, "pages": {}}
        for name, make in (("album page (10 tracks)", lambda: f"/api/albums/{rng.randrange(1, data['albums'] + 1)}"),
                           ("track page", lambda: f"/api/tracks/{rng.randrange(1, data['tracks'] + 1)}")):
            times = asyncio.run(_pages([make() for _ in range(args.requests + 50)], data["token"]))
            report["pages"][name] = {"median_ms": round(statistics.median(times), 2), "p95_ms": pct(times, 0.95)}
        report["library analysis counts"] = _counts(data)
        report["machine"] = f"{os.cpu_count()} cores"
        print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
