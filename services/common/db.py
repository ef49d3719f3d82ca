"""Database engine and sessions (SQLAlchemy 2.0, psycopg 3)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

import redis
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from services.common import pg_dates
from services.common.embedded import ConfigurationError, resolve_database_url, resolve_redis_url
from services.common.settings import Settings, get_settings


# Connections kept free of the web workers' pools: RQ workers, the analysis service, migrations, psql,
# and Postgres' own superuser_reserved_connections.
RESERVED_CONNECTIONS = 30


def pool_sizing(settings: Settings | None = None) -> tuple[int, int]:
    """(pool_size, max_overflow) for one process: DB_POOL_SIZE / DB_MAX_OVERFLOW when set, else computed so
    that WEB_WORKERS x (pool_size + max_overflow) stays under DB_MAX_CONNECTIONS minus RESERVED_CONNECTIONS."""
    settings = settings or get_settings()
    budget = max(2, settings.db_max_connections - RESERVED_CONNECTIONS)
    per_worker = max(2, budget // settings.resolved_web_workers)
    pool_size = settings.db_pool_size or max(1, min(10, per_worker // 2))
    max_overflow = (settings.db_max_overflow if settings.db_max_overflow is not None
                    else max(0, min(10, per_worker - pool_size)))
    return pool_size, max_overflow


def make_engine(url: str) -> Engine:
    pg_dates.install()  # out-of-range timestamps read back clamped, never a failed query
    pool_size, max_overflow = pool_sizing()
    # A short pool_timeout: a saturated pool answers 503 (web/api/errors.py) instead of a 30 s wait.
    return create_engine(url, pool_pre_ping=True, pool_size=pool_size, max_overflow=max_overflow,
                         pool_timeout=get_settings().db_pool_timeout_seconds, future=True)


@lru_cache
def database_url() -> str:
    return resolve_database_url(get_settings())


@lru_cache
def get_engine() -> Engine:
    return make_engine(database_url())


@lru_cache
def get_health_engine() -> Engine:
    """A one-connection pool of its own for /health: a web pool saturated by requests must not make the
    database look down to the supervisor or an orchestrator."""
    return create_engine(database_url(), pool_pre_ping=True, pool_size=1, max_overflow=0,
                         pool_timeout=get_settings().db_pool_timeout_seconds, future=True)


@lru_cache
def _session_factory() -> sessionmaker[Session]:
    return sessionmaker(bind=get_engine(), expire_on_commit=False)


def new_session() -> Session:
    return _session_factory()()


@contextmanager
def session_scope() -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    session = new_session()
    try:
        yield session
    except BaseException:
        end_session(session, failed=True)
        raise
    end_session(session, failed=False)


def end_session(session: Session, *, failed: bool) -> None:
    """Commit (roll back if `failed` or if the commit fails) and close: how every session ends, also where
    the work and the ending run on different threads (the web app's request session)."""
    try:
        if failed:
            session.rollback()
        else:
            session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def check_database(engine: Engine) -> None:
    """Fail early with a message that names the variable to set."""
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except OperationalError as exc:
        where = engine.url.render_as_string(hide_password=True)
        raise ConfigurationError(
            f"cannot connect to PostgreSQL at {where}: set DATABASE_URL to a reachable server "
            f"(postgresql://user:password@host:5432/dbname), or unset it to use the embedded one. "
            f"Cause: {str(exc.orig).strip().splitlines()[0] if exc.orig else exc}"
        ) from None


@lru_cache
def redis_url() -> str:
    return resolve_redis_url(get_settings())


@lru_cache
def get_redis() -> redis.Redis:
    return redis.Redis.from_url(redis_url(), socket_timeout=5, socket_connect_timeout=2)
