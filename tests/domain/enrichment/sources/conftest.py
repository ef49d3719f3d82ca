"""Fixtures for the catalog clients: the three fakes, settings pointed at them, a clock whose waits are
recorded instead of waited, and a fresh token cache per test."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.common.settings import get_settings
from services.domain.enrichment.sources import base
from services.domain.enrichment.sources.tokens import TOKENS
from tests.fakes.clock import FakeClock
from tests.fakes.catalogs import FakeAppleCatalog, FakeSpotify, FakeYouTube, make_apple_key

TEAM_ID = "TEAMID1234"
KEY_ID = "KEYID56789"
SPOTIFY_ID = "spotify-client-id-0001"
SPOTIFY_SECRET = "spotify-client-secret-s3cr3t-value"
YOUTUBE_KEY = "AIzaSyFAKE-youtube-key-0123456789"

ENV_NAMES = ["APPLE_MUSIC_TEAM_ID", "APPLE_MUSIC_KEY_ID", "APPLE_MUSIC_PRIVATE_KEY_PATH", "APPLE_MUSIC_API_URL",
             "APPLE_MUSIC_STOREFRONT", "SPOTIFY_CLIENT_ID", "SPOTIFY_CLIENT_SECRET", "SPOTIFY_ACCOUNTS_URL",
             "SPOTIFY_API_URL", "YOUTUBE_API_KEY", "YOUTUBE_API_URL"]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(start=time.time())


@pytest.fixture(autouse=True)
def catalog_env(monkeypatch) -> Iterator[None]:
    """No catalog credentials from the environment; short timeouts, three attempts, small backoff."""
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ENRICHMENT_TIMEOUT_SECONDS", "0.5")
    monkeypatch.setenv("ENRICHMENT_MAX_ATTEMPTS", "3")
    monkeypatch.setenv("ENRICHMENT_BACKOFF_SECONDS", "0.25")
    monkeypatch.setenv("ENRICHMENT_MAX_RETRY_AFTER_SECONDS", "60")
    monkeypatch.setenv("ENRICHMENT_CONCURRENCY", "4")
    get_settings.cache_clear()
    TOKENS.clear()
    yield
    TOKENS.clear()
    get_settings.cache_clear()


@pytest.fixture
def apple_key(tmp_path: Path):
    key, pem = make_apple_key()
    path = tmp_path / "AuthKey_KEYID56789.p8"
    path.write_bytes(pem)
    return key, pem, path


@pytest.fixture
def fake_apple(apple_key, monkeypatch) -> Iterator[FakeAppleCatalog]:
    key, _pem, path = apple_key
    with FakeAppleCatalog(public_key=key.public_key(), team_id=TEAM_ID, key_id=KEY_ID) as fake:
        fake.add_song("1440857786", name="Midnight City", artist="M83", album="Hurry Up, We're Dreaming",
                      duration_ms=243_960, isrc="FR6V81141062")
        fake.add_song("1440857999", name="Midnight City (Eric Prydz Remix)", artist="M83",
                      album="Midnight City (Remixes)", duration_ms=421_000, isrc="FR6V81141099", preview=False)
        fake.add_song("1500000001", name="Windowlicker", artist="Aphex Twin", duration_ms=367_000,
                      isrc="GBBPW9900001")
        for name, value in {"APPLE_MUSIC_TEAM_ID": TEAM_ID, "APPLE_MUSIC_KEY_ID": KEY_ID,
                            "APPLE_MUSIC_PRIVATE_KEY_PATH": str(path), "APPLE_MUSIC_API_URL": fake.base_url}.items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()
        yield fake


@pytest.fixture
def fake_spotify(monkeypatch) -> Iterator[FakeSpotify]:
    with FakeSpotify(client_id=SPOTIFY_ID, client_secret=SPOTIFY_SECRET) as fake:
        fake.add_track("6p5ZtGEw3dzOQ4LhUjB0kX", name="Windowlicker", artists=["Aphex Twin"], album="Windowlicker",
                       duration_ms=367_573, isrc="GBBPW9900001",
                       preview_url="https://p.scdn.co/mp3-preview/windowlicker")
        fake.add_track("0dEIca2nhcxDUV8C5QkPYb", name="Harder, Better, Faster, Stronger",
                       artists=["Daft Punk", "Kanye West"], album="Discovery", duration_ms=224_693,
                       isrc="GBDUW0000059")
        for name, value in {"SPOTIFY_CLIENT_ID": SPOTIFY_ID, "SPOTIFY_CLIENT_SECRET": SPOTIFY_SECRET,
                            "SPOTIFY_ACCOUNTS_URL": fake.base_url, "SPOTIFY_API_URL": fake.base_url}.items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()
        yield fake


@pytest.fixture
def fake_youtube(monkeypatch) -> Iterator[FakeYouTube]:
    with FakeYouTube(api_key=YOUTUBE_KEY) as fake:
        fake.add_video("FGBhQbmPwH8", title="Daft Punk - One More Time (Official Video)", channel="Daft Punk",
                       duration="PT5M21S")
        fake.add_video("2zFqSyHSnvI", title="One More Time", channel="Daft Punk - Topic", duration="PT5M20S")
        fake.add_video("4fWyzwo1xg0", title="Simon & Garfunkel - The Sound of Silence (Audio)",
                       channel="SimonGarfunkelVEVO", duration="PT3M6S")
        fake.add_video("lyrics00001", title="one more time daft punk lyrics", channel="Lyrics Hub",
                       duration="PT5M21S", category="24")
        for name, value in {"YOUTUBE_API_KEY": YOUTUBE_KEY, "YOUTUBE_API_URL": fake.base_url}.items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()
        yield fake


@pytest.fixture
def make_source(clock: FakeClock):
    """A named source built from the current settings, its waits recorded by `clock`."""
    made = []

    def _make(name: str, **kwargs):
        cls = base.source_class(name)
        ok, reason = cls.configured(get_settings())
        assert ok, reason
        kwargs.setdefault("sleep", clock.sleep)
        if name != "youtube":
            kwargs.setdefault("clock", clock)
        src = cls.from_settings(get_settings(), **kwargs)
        made.append(src)
        return src

    yield _make
    for src in made:
        src.close()
