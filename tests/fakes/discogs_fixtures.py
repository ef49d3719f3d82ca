"""Fixtures for anything that talks to Discogs: the fake server, settings and a source pointed at it.
Registered for the whole suite by tests/conftest.py (`pytest_plugins`)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.clock import FakeClock
from tests.fakes.discogs import FakeDiscogs

TOKEN = "test-discogs-token"


@pytest.fixture
def fake_discogs() -> Iterator[FakeDiscogs]:
    fake = FakeDiscogs(rate_limit=60)
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def discogs_env(fake_discogs: FakeDiscogs, monkeypatch) -> Iterator[FakeDiscogs]:
    """Settings pointed at the fake server (token set, local rate limiting off, short timeouts)."""
    for key, value in {
        "DISCOGS_API_URL": fake_discogs.base_url,
        "DISCOGS_USER_TOKEN": TOKEN,
        "DISCOGS_RATE_LIMIT_PER_MINUTE": "0",
        "DISCOGS_TIMEOUT_SECONDS": "0.5",
        "DISCOGS_BACKOFF_SECONDS": "0.01",
        "DISCOGS_MAX_RETRY_AFTER_SECONDS": "2",
        "DISCOGS_SLOWDOWN_REMAINING": "0",
    }.items():
        monkeypatch.setenv(key, value)
    from services.common.settings import get_settings

    get_settings.cache_clear()
    yield fake_discogs
    get_settings.cache_clear()


@pytest.fixture
def make_source(discogs_env):
    """A DiscogsSource on the fake server with a fake clock (instant sleeps)."""
    from services.domain.sources.discogs import DiscogsSource
    from services.domain.sources.discogs.client import DiscogsClient, DiscogsTuning

    sources = []

    def _make(**kwargs):
        clock = FakeClock()
        tuning = DiscogsTuning(**{"max_retry_after_seconds": 120, **kwargs.pop("tuning", {})})
        client = DiscogsClient(base_url=discogs_env.base_url, token=TOKEN, tuning=tuning,
                               rate_limit_per_minute=kwargs.pop("rate_limit_per_minute", 0),
                               sleep=clock.sleep, clock=clock, **kwargs)
        source = DiscogsSource(client)
        source.clock = clock
        sources.append(source)
        return source

    yield _make
    for s in sources:
        s.close()


@pytest.fixture
def library(db_session):
    """An owner and their Discogs library (username "digger")."""
    from services.common.models import Library, User

    user = User(username="owner", password_hash="x", is_admin=True)
    db_session.add(user)
    db_session.flush()
    lib = Library(owner_id=user.id, name="Digger's records", discogs_username="digger")
    db_session.add(lib)
    db_session.commit()
    return lib



@pytest.fixture(autouse=True)
def _fresh_sync_queue(request):
    """Library ids restart at 1 in every test: forget sync jobs and keys left by earlier tests."""
    if "redis_url" not in request.fixturenames:
        yield
        return
    from rq import Queue

    from services.common.db import get_redis
    from services.domain.jobs import SYNC_QUEUE

    redis = get_redis()
    Queue(SYNC_QUEUE, connection=redis).empty()
    for key in redis.scan_iter("djp:*sync:library:*"):
        redis.delete(key)
    yield
