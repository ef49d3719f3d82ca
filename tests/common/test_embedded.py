"""The embedded servers are real, persistent and shared between processes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg
import redis

from services.common.embedded import (
    start_embedded_postgres,
    start_embedded_redis,
    stop_embedded_postgres,
    stop_embedded_redis,
)

ROOT = Path(__file__).resolve().parents[2]


def test_redis_persists_across_restart(tmp_path):
    data = tmp_path / "data"
    url = start_embedded_redis(data)
    assert url.startswith("unix://")
    assert start_embedded_redis(data) == url  # second caller finds the running server
    r = redis.Redis.from_url(url)
    r.set("djp:probe", "kept")
    stop_embedded_redis(data)
    assert not (data / "redis" / "redis.sock").exists() or not _pings(url)
    url2 = start_embedded_redis(data)
    assert redis.Redis.from_url(url2).get("djp:probe") == b"kept"
    stop_embedded_redis(data)


def test_redis_recovers_from_stale_socket(tmp_path):
    data = tmp_path / "data"
    (data / "redis").mkdir(parents=True)
    (data / "redis" / "redis.sock").write_text("stale")  # left behind by a killed server
    url = start_embedded_redis(data)
    assert redis.Redis.from_url(url).ping()
    stop_embedded_redis(data)


def _pings(url: str) -> bool:
    try:
        return redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except (redis.RedisError, OSError):
        return False


def test_postgres_persists_across_restart(tmp_path):
    data = tmp_path / "data"
    url = start_embedded_postgres(data).replace("+psycopg", "")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE probe (v text)")
        conn.execute("INSERT INTO probe VALUES ('kept')")
        assert conn.execute("SELECT default_version FROM pg_available_extensions WHERE name = 'vector'").fetchone()
    stop_embedded_postgres(data)
    assert not (data / "postgres" / "postmaster.pid").exists()
    url = start_embedded_postgres(data).replace("+psycopg", "")
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT v FROM probe").fetchone() == ("kept",)
    stop_embedded_postgres(data)


def _run_web(env_extra: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update({"DATA_DIR": str(tmp_path / "data"), "WEB_PORT": "1", **env_extra})
    return subprocess.run([sys.executable, "-m", "services.web"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)


def test_unreachable_database_names_the_variable(tmp_path):
    proc = _run_web({"DATABASE_URL": "postgresql://djp:secret@127.0.0.1:1/djp"}, tmp_path)
    assert proc.returncode == 2
    assert "DATABASE_URL" in proc.stderr
    assert "secret" not in proc.stderr  # the password is never printed
    assert "Traceback" not in proc.stderr


def test_worker_rejects_unknown_queue(tmp_path):
    env = {**os.environ, "DATA_DIR": str(tmp_path / "data")}
    proc = subprocess.run([sys.executable, "-m", "services.download_worker", "nope"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "unknown queue" in proc.stderr
