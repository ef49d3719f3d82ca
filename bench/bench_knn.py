"""Top-20 kNN on track_embeddings (pgvector HNSW): latency p50/p95 and recall@20 against exact search, per
`hnsw.ef_search`. Results go in docs/benchmarks.md.

    .venv/bin/python bench/bench_knn.py --n 100000          # the issue's size (minutes: load + index build)
    .venv/bin/python bench/bench_knn.py --n 5000 --queries 50   # smoke

It starts an embedded PostgreSQL in a temporary DATA_DIR (never your database), migrates it, generates N
tracks with clustered 384-dimension unit vectors (data seed 7: 1 cluster per ~50 tracks, like styles of a
collection), loads them with COPY, builds the partial HNSW index of kind 'text' (migration 0010, default
m=16, ef_construction=64), then for each ef_search in (20, 40, 80, 120, 200) times `ORDER BY embedding <=>
q LIMIT 20` (filtered on kind and model, as the app queries) and compares with the exact answer
(`SET enable_indexscan = off`: a sequential scan and sort). Queries are new points near the clusters,
drawn with a tuning seed (choose ef_search on it) and a different, frozen test seed (report that).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DIM = 384
MODEL = "bench:clustered"
DATA_SEED = 7
SEEDS = {"tuning": 11, "test": 2027}
EF_VALUES = (20, 40, 80, 120, 200)
K = 20


def clustered(n: int, rng: np.random.Generator, centers: np.ndarray, noise: float = 0.6) -> np.ndarray:
    picks = rng.integers(0, len(centers), n)
    x = centers[picks] + rng.normal(0, noise / np.sqrt(DIM), (n, DIM))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def load(n: int, vectors: np.ndarray) -> float:
    from sqlalchemy import text

    from services.common.db import get_engine

    t0 = time.perf_counter()
    engine = get_engine()
    with engine.begin() as conn:
        for name in ("ix_track_embeddings_hnsw", "ix_track_embeddings_hnsw_text", "ix_track_embeddings_hnsw_audio"):
            conn.execute(text(f"DROP INDEX IF EXISTS {name}"))  # built once after the load, not per row
        user_id = conn.execute(text("INSERT INTO users (username, password_hash) VALUES ('bench', 'x') "
                                    "RETURNING id")).scalar()
        library_id = conn.execute(text("INSERT INTO libraries (owner_id, name) VALUES (:u, 'bench') RETURNING id"),
                                  {"u": user_id}).scalar()
        conn.execute(text("INSERT INTO tracks (track_id, library_id, title) SELECT i || '-A1', :l, 'Track ' || i "
                          "FROM generate_series(1, :n) AS i"), {"l": library_id, "n": n})
        ids = [r[0] for r in conn.execute(text("SELECT id FROM tracks WHERE library_id = :l ORDER BY id"),
                                          {"l": library_id})]
    raw = engine.raw_connection()
    try:
        from pgvector.psycopg import register_vector

        driver = raw.driver_connection
        register_vector(driver)
        with driver.cursor() as cur, cur.copy("COPY track_embeddings (track_pk, kind, model, embedding, source_hash) "
                                              "FROM STDIN WITH (FORMAT BINARY)") as copy:
            copy.set_types(["int8", "varchar", "varchar", "vector", "varchar"])
            for pk, vector in zip(ids, vectors, strict=True):
                copy.write_row((pk, "text", MODEL, vector, "0" * 64))
        driver.commit()
    finally:
        raw.close()
    return time.perf_counter() - t0


def build_index() -> float:
    from sqlalchemy import text

    from services.common.db import get_engine

    t0 = time.perf_counter()
    with get_engine().begin() as conn:
        conn.execute(text("SET maintenance_work_mem = '1GB'"))
        conn.execute(text("CREATE INDEX ix_track_embeddings_hnsw_text ON track_embeddings "
                          "USING hnsw (embedding vector_cosine_ops) WHERE kind = 'text'"))
        conn.execute(text("ANALYZE track_embeddings"))
    return time.perf_counter() - t0


QUERY = ("SELECT track_pk FROM track_embeddings WHERE kind = 'text' AND model = %s "
         "ORDER BY embedding <=> %s LIMIT 20")


def run_queries(queries: np.ndarray) -> dict:
    from pgvector.psycopg import register_vector

    from services.common.db import get_engine

    raw = get_engine().raw_connection()
    out: dict = {}
    try:
        conn = raw.driver_connection
        register_vector(conn)
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SET enable_indexscan = off")
            cur.execute("SET enable_bitmapscan = off")
            exact = []
            for q in queries:
                cur.execute(QUERY, (MODEL, q))
                exact.append({r[0] for r in cur.fetchall()})
            cur.execute("RESET enable_indexscan")
            cur.execute("RESET enable_bitmapscan")
            cur.execute("EXPLAIN " + QUERY, (MODEL, queries[0]))
            plan = " ".join(r[0] for r in cur.fetchall())
            out["uses_index"] = "ix_track_embeddings_hnsw_text" in plan
            for ef in EF_VALUES:
                cur.execute(f"SET hnsw.ef_search = {ef}")
                for q in queries[:5]:  # warm the index pages
                    cur.execute(QUERY, (MODEL, q))
                    cur.fetchall()
                times, recalls = [], []
                for q, truth in zip(queries, exact, strict=True):
                    t0 = time.perf_counter()
                    cur.execute(QUERY, (MODEL, q))
                    got = {r[0] for r in cur.fetchall()}
                    times.append((time.perf_counter() - t0) * 1000)
                    recalls.append(len(got & truth) / K)
                out[f"ef_search={ef}"] = {"p50_ms": round(statistics.median(times), 2),
                                          "p95_ms": round(pct(times, 0.95), 2),
                                          "recall@20": round(statistics.mean(recalls), 4),
                                          "min_recall": round(min(recalls), 2)}
    finally:
        raw.close()
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=100_000, help="tracks (vectors) to load")
    p.add_argument("--queries", type=int, default=200, help="queries per split (tuning and test)")
    args = p.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="djp-bench-knn-"))
    os.environ["DATA_DIR"] = str(tmp / "data")
    os.environ.setdefault("SECRET_KEY", "bench-secret")
    from services.common.embedded import start_embedded_postgres, stop_embedded_postgres

    os.environ["DATABASE_URL"] = start_embedded_postgres(Path(os.environ["DATA_DIR"]))
    try:
        from services.common.db import get_engine
        from services.domain.startup import migrate

        migrate(get_engine())
        rng = np.random.default_rng(DATA_SEED)
        centers = rng.normal(0, 1, (max(1, args.n // 50), DIM))
        centers /= np.linalg.norm(centers, axis=1, keepdims=True)
        report: dict = {"machine": f"{os.cpu_count()} cores", "n": args.n, "queries": args.queries, "k": K,
                        "load_s": round(load(args.n, clustered(args.n, rng, centers)), 1),
                        "index_build_s": round(build_index(), 1)}
        for split, seed in SEEDS.items():
            queries = clustered(args.queries, np.random.default_rng(seed), centers)
            report[split] = {"seed": seed, **run_queries(queries)}
            print(json.dumps({split: report[split]}, indent=1), flush=True)
        print(json.dumps(report))
    finally:
        stop_embedded_postgres(Path(os.environ["DATA_DIR"]))


if __name__ == "__main__":
    main()
