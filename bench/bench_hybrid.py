"""Benchmark: vibe queries (`mode=hybrid` and `semantic`) on 100,000 tracks, next to plain text search.

Issue 11's target: hybrid query p95 under 50 ms. Seeds the load benchmark's library (bench_load.seed: the
search benchmark's "wordlist" generator, 10 tracks an album) into a fresh embedded PostgreSQL, gives every
track a text vector of the active model (random unit vectors: latency does not depend on what they mean,
and embedding 100,000 texts would take minutes), then runs natural-language queries through
`search.service.search_tracks` in process (the embedding of each query by the real local model included).
Two query sets from different seeds: the tuning split (seed 11) and the frozen test split (seed 2027);
nothing is tuned on either here. The plain-library baseline is the same queries' words through text search
(mode=text) in the same run.

    .venv/bin/python bench/bench_hybrid.py [--n 100000] [--queries 100]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench.servers import bench_servers  # noqa: E402

KEYS = ("A minor", "8A", "C major", "Am", "11B", "F minor")


def queries(words: list[str], count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        parts = rng.sample(words, rng.choice((1, 2, 3)))
        if rng.random() < 0.5:
            parts.append(f"around {rng.randrange(118, 136)}")
        if rng.random() < 0.4:
            parts.append(f"in {rng.choice(KEYS)}")
        out.append(" ".join(parts))
    return out


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * (len(ordered) - 1) + 0.5))], 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=100)
    args = parser.parse_args()

    os.environ.pop("MEILISEARCH_HOST", None)
    with bench_servers("djp-bench-hybrid-"):
        run(args)


def seed_with_vectors(n: int) -> dict:
    """Migrate, seed bench_load's library of n tracks, give each a random unit text vector of the active model
    and (re)build the HNSW indexes after the load. Returns bench_load.seed's data plus the model and timings
    (bench/hybrid_db.py reuses it for a database kept running between profiling runs)."""
    import numpy as np
    from sqlalchemy import text

    import bench_load
    from services.common.db import get_engine
    from services.common.models import EMBEDDING_DIMENSIONS
    from services.domain.embeddings import service as embeddings
    from services.domain.startup import migrate

    migrate(get_engine())
    started = time.perf_counter()
    data = bench_load.seed(n)
    seed_s = time.perf_counter() - started
    model = embeddings.text_model()
    rng = np.random.default_rng(5)
    started = time.perf_counter()
    with get_engine().begin() as conn:
        # Built after the load (as bench_knn does): inserting into live HNSW indexes is far slower.
        indexes = conn.execute(text("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = "
                                    "'track_embeddings' AND indexdef LIKE '%hnsw%'")).all()
        for name, _ in indexes:
            conn.execute(text(f'DROP INDEX "{name}"'))
        # An HNSW build whose graph outgrows maintenance_work_mem slows down many times over (the
        # first 100,000-track runs never finished); bench_knn builds with the same setting.
        conn.execute(text("SET maintenance_work_mem = '1GB'"))
        cur = conn.connection.driver_connection.cursor()
        with cur.copy("COPY track_embeddings (track_pk, kind, model, embedding, source_hash) FROM STDIN") as copy:
            for pk in range(1, n + 1):
                v = rng.standard_normal(EMBEDDING_DIMENSIONS)
                v /= np.linalg.norm(v)
                copy.write_row((pk, "text", model, "[" + ",".join(f"{x:.6f}" for x in v) + "]", "bench"))
    with get_engine().begin() as conn:
        conn.execute(text("SET maintenance_work_mem = '1GB'"))
        for _, definition in indexes:
            conn.execute(text(definition))
    with get_engine().connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE track_embeddings"))
    vectors_s = time.perf_counter() - started
    return {**data, "model": model, "seed_s": round(seed_s, 1), "vectors_and_index_s": round(vectors_s, 1)}


def run(args: argparse.Namespace) -> None:
    from services.common.db import session_scope
    from services.common.models import User
    from services.domain.embeddings import service as embeddings
    from services.domain.search.models import SearchQuery
    from services.domain.search.service import search_tracks

    data = seed_with_vectors(args.n)
    model, seed_s, vectors_s = data["model"], data["seed_s"], data["vectors_and_index_s"]
    embeddings.embed_query("warm up the model")  # its load time is not a query's

    words = data["words"]
    report = {"machine": f"{os.cpu_count()} cores", "n": args.n, "model": model, "seed_s": seed_s,
              "vectors_and_index_s": vectors_s}
    for split, seed in (("tuning", 11), ("test", 2027)):
        qs = queries(words, args.queries, seed)
        row = {}
        for mode in ("text", "semantic", "hybrid"):
            times = []
            for q in qs:
                with session_scope() as session:
                    user = session.get(User, 1)
                    text_q = " ".join(w for w in q.split() if w.isalpha() and w not in {"around", "in"})
                    query = SearchQuery(q=q if mode != "text" else text_q, mode=mode, limit=50)
                    embeddings.QUERY_CACHE.clear()  # every query embedded (the modes share their texts)
                    t = time.perf_counter()
                    search_tracks(session=session, user=user, query=query)
                    times.append((time.perf_counter() - t) * 1000)
            row[mode] = {"p50_ms": percentile(times, 0.5), "p95_ms": percentile(times, 0.95),
                         "mean_ms": round(statistics.fmean(times), 1)}
        report[split] = {"seed": seed, **row}
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
