"""A seeded 100,000-track database for profiling vibe search, kept running between runs.

Seeding and building HNSW take minutes; bench_hybrid.py does it on every run. This starts an embedded
PostgreSQL in DATA_DIR (default /tmp/djp-hyb/data), seeds it once the way bench_hybrid.py does
(bench_hybrid.seed_with_vectors) and leaves it running; the query words go to DATA_DIR/hybrid_words.json.

    .venv/bin/python bench/hybrid_db.py [--n 100000]     # prints the DATABASE_URL to export
    .venv/bin/python bench/hybrid_db.py --stop           # stops the server (remove DATA_DIR yourself)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

DEFAULT_DIR = "/tmp/djp-hyb/data"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--stop", action="store_true")
    args = parser.parse_args()
    data_dir = Path(os.environ.get("DATA_DIR") or DEFAULT_DIR)
    os.environ["DATA_DIR"] = str(data_dir)
    os.environ.pop("MEILISEARCH_HOST", None)
    from services.common.embedded import start_embedded_postgres, stop_embedded_postgres

    if args.stop:
        stop_embedded_postgres(data_dir)
        return
    url = start_embedded_postgres(data_dir)
    os.environ["DATABASE_URL"] = url
    words_file = data_dir / "hybrid_words.json"
    if not words_file.exists():
        from bench_hybrid import seed_with_vectors

        data = seed_with_vectors(args.n)
        words_file.write_text(json.dumps({"words": data["words"], "model": data["model"], "n": args.n}))
        print(json.dumps({k: data[k] for k in ("model", "seed_s", "vectors_and_index_s")}), file=sys.stderr)
        from services.common.db import get_engine

        get_engine().dispose()
    print(url)


if __name__ == "__main__":
    main()
