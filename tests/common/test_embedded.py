"""The embedded servers are real, persistent and shared between processes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
import redis

from services.common import embedded
from services.common.embedded import (
    embedded_shared_buffers,
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


@pytest.fixture
def settings_env(monkeypatch):
    """Set environment variables the settings read; the cached settings are dropped before and after."""
    from services.common.settings import get_settings

    def set_env(**values: str) -> None:
        for name, value in values.items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()

    get_settings.cache_clear()
    yield set_env
    monkeypatch.undo()
    get_settings.cache_clear()


def _shared_buffers(url: str) -> str:
    with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as conn:
        return conn.execute("SHOW shared_buffers").fetchone()[0]


def test_postgres_gets_its_shared_buffers_on_first_start_and_later_on_the_next(tmp_path, settings_env):
    data = tmp_path / "data"
    settings_env(EMBEDDED_PG_SHARED_BUFFERS="192MB")
    url = start_embedded_postgres(data)
    assert _shared_buffers(url) == "192MB"  # a fresh server is restarted once to take it
    settings_env(EMBEDDED_PG_SHARED_BUFFERS="256MB")
    url = start_embedded_postgres(data)  # found running: other processes may use it, so no restart
    assert _shared_buffers(url) == "192MB"
    stop_embedded_postgres(data)
    url = start_embedded_postgres(data)
    assert _shared_buffers(url) == "256MB"
    stop_embedded_postgres(data)


@pytest.mark.parametrize(("ram_mb", "expected"), [(256, "128MB"), (2048, "512MB"), (65536, "1024MB")])
def test_shared_buffers_default_is_a_quarter_of_the_ram_within_bounds(monkeypatch, settings_env, ram_mb, expected):
    settings_env()
    monkeypatch.delenv("EMBEDDED_PG_SHARED_BUFFERS", raising=False)
    pages = {"SC_PAGE_SIZE": 4096, "SC_PHYS_PAGES": ram_mb * 2**20 // 4096}
    monkeypatch.setattr(embedded.os, "sysconf", lambda name: pages[name])
    assert embedded_shared_buffers() == expected


def test_shared_buffers_setting_refuses_what_postgres_would_not_take(settings_env):
    from pydantic import ValidationError

    from services.common.settings import Settings

    settings_env(EMBEDDED_PG_SHARED_BUFFERS="lots")
    with pytest.raises(ValidationError, match="EMBEDDED_PG_SHARED_BUFFERS"):
        Settings()


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
