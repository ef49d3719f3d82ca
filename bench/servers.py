"""The database and Redis a benchmark runs against: DATABASE_URL / REDIS_URL when set, else embedded
servers in DATA_DIR (a temporary folder unless DATA_DIR is set), stopped again when the block ends."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def bench_servers(prefix: str, *, redis: bool = True) -> Iterator[Path]:
    """Yields DATA_DIR. Only servers this block started are stopped; an external URL is left alone."""
    if not os.environ.get("DATA_DIR"):
        os.environ["DATA_DIR"] = str(Path(tempfile.mkdtemp(prefix=prefix)) / "data")
    data_dir = Path(os.environ["DATA_DIR"])
    data_dir.mkdir(parents=True, exist_ok=True)
    from services.common.embedded import (
        start_embedded_postgres,
        start_embedded_redis,
        stop_embedded_postgres,
        stop_embedded_redis,
    )

    embedded_pg = not os.environ.get("DATABASE_URL")
    embedded_redis = redis and not os.environ.get("REDIS_URL")
    if embedded_pg:
        os.environ["DATABASE_URL"] = start_embedded_postgres(data_dir)
    try:
        if embedded_redis:
            os.environ["REDIS_URL"] = start_embedded_redis(data_dir)
        yield data_dir
    finally:
        try:
            from services.common.db import get_engine

            get_engine().dispose()
        finally:
            if embedded_redis:
                stop_embedded_redis(data_dir)
            if embedded_pg:
                stop_embedded_postgres(data_dir)
