"""The catalog-source registry, "not configured" explanations, and the shared HTTP helper's rules."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from services.common.settings import get_settings
from services.common.outbound import parse_retry_after
from services.domain import errors
from services.domain.enrichment.models import TrackQuery
from services.domain.enrichment.sources import base
from services.domain.enrichment.sources.apple_music import AppleMusicSource
from services.domain.enrichment.sources.http import (
    CatalogHttp,
    HttpTuning,
    platform_message,
)
from services.domain.enrichment.sources.youtube import YouTubeSource
from tests.fakes.catalogs import FakeCatalogServer


def test_sources_are_registered_by_name_with_the_track_column_they_fill():
    assert base.names() == ["apple", "spotify", "youtube"]
    assert {n: base.source_class(n).url_field for n in base.names()} == {
        "apple": "apple_music_url", "spotify": "spotify_url", "youtube": "youtube_url"}
    assert base.source_class("apple") is AppleMusicSource


def test_an_unknown_source_is_invalid_input():
    with pytest.raises(errors.Invalid) as err:
        base.source("deezer")
    assert err.value.code == "unknown_source" and "apple, spotify, youtube" in err.value.detail


def test_without_credentials_a_source_is_a_409_conflict_saying_what_to_set():
    with pytest.raises(base.SourceNotConfigured) as err:
        base.source("spotify")
    assert isinstance(err.value, errors.Conflict) and err.value.code == "source_not_configured"
    assert "SPOTIFY_CLIENT_ID, SPOTIFY_CLIENT_SECRET" in err.value.detail

    with pytest.raises(base.SourceNotConfigured, match="APPLE_MUSIC_TEAM_ID, APPLE_MUSIC_KEY_ID"):
        base.source("apple")


def test_statuses_explain_each_source(monkeypatch):
    by_name = {s.name: s for s in base.statuses()}
    assert not by_name["apple"].configured and "APPLE_MUSIC_PRIVATE_KEY_PATH" in by_name["apple"].reason
    assert not by_name["spotify"].configured and by_name["spotify"].label == "Spotify"
    assert by_name["youtube"].configured and "yt-dlp" in by_name["youtube"].reason  # no key: the fallback

    monkeypatch.setenv("YOUTUBE_API_KEY", "AIza-some-key")
    monkeypatch.setenv("SPOTIFY_CLIENT_ID", "id")
    monkeypatch.setenv("SPOTIFY_CLIENT_SECRET", "secret")
    get_settings.cache_clear()
    by_name = {s.name: s for s in base.statuses()}
    assert by_name["youtube"].reason == "YouTube Data API v3 search with YOUTUBE_API_KEY."
    assert by_name["spotify"].configured
    assert "AIza-some-key" not in repr(base.statuses())


def test_youtube_without_key_or_yt_dlp_is_not_configured(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "yt_dlp" else real(name, *a))
    ok, reason = YouTubeSource.configured(get_settings())
    assert not ok and "YOUTUBE_API_KEY" in reason and "yt-dlp" in reason


def test_apple_key_problems_are_explained(tmp_path, monkeypatch, apple_key):
    monkeypatch.setenv("APPLE_MUSIC_TEAM_ID", "TEAM")
    monkeypatch.setenv("APPLE_MUSIC_KEY_ID", "KID")

    def reason_for(path) -> str:
        monkeypatch.setenv("APPLE_MUSIC_PRIVATE_KEY_PATH", str(path))
        get_settings.cache_clear()
        ok, reason = AppleMusicSource.configured(get_settings())
        assert not ok
        return reason

    assert "no file at" in reason_for(tmp_path / "missing.p8")
    (tmp_path / "garbage.p8").write_text("-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n")
    assert "not a PEM private key" in reason_for(tmp_path / "garbage.p8")
    rsa_pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    (tmp_path / "rsa.p8").write_bytes(rsa_pem)
    assert "not a P-256 (ES256) key" in reason_for(tmp_path / "rsa.p8")
    assert "not a key" not in reason_for(tmp_path / "garbage.p8")  # never the file's content

    _key, _pem, good = apple_key
    monkeypatch.setenv("APPLE_MUSIC_PRIVATE_KEY_PATH", str(good))
    get_settings.cache_clear()
    assert AppleMusicSource.configured(get_settings()) == (
        True, "Apple Music catalog search in the 'us' storefront.")
    assert isinstance(base.source("apple"), AppleMusicSource)


def test_catalog_errors_are_domain_errors_the_api_maps():
    from services.web.api.errors import status_of

    assert status_of(base.SourceNotConfigured("x")) == 409
    for kind in (base.CatalogError, base.CatalogAuthError, base.CatalogQuotaExceeded, base.CatalogMalformed):
        assert status_of(kind("x", source="spotify")) == 503
    assert base.CatalogError("x", source="apple", code="custom").code == "custom"


def test_retry_after_reads_seconds_and_http_dates():
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(" 2.5 ") == 2.5
    assert parse_retry_after("-3") == 0.0
    assert parse_retry_after("Thu, 01 Jan 2026 12:00:30 GMT", now=lambda: now) == 30.0
    assert parse_retry_after("Thu, 01 Jan 2026 11:00:00 GMT", now=lambda: now) == 0.0
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


@pytest.mark.parametrize("body, message", [
    ({"errors": [{"status": "401", "title": "Unauthenticated", "detail": "Token expired"}]}, "Token expired"),
    ({"error": {"status": 401, "message": "The access token expired"}}, "The access token expired"),
    ({"error": "invalid_client", "error_description": "Invalid client"}, "Invalid client"),
    ({"error": {"code": 403, "message": 'exceeded your <a href="/q">quota</a>.'}}, "exceeded your quota."),
    ({"nothing": "here"}, None),
    ([1, 2], None),
])
def test_platform_messages_are_read_from_each_error_shape(body, message):
    assert platform_message(httpx.Response(400, json=body)) == message
    assert platform_message(httpx.Response(502, text="<html>Bad gateway</html>")) is None


def test_secrets_are_redacted_from_every_message():
    http = CatalogHttp(source="test", label="Test", tuning=HttpTuning())
    http.add_secret("sk-live-abcdef")
    http.add_secret("abc")  # too short to redact safely: ignored rather than mangling every word
    http.add_secret(None)
    err = http.error(base.CatalogError, "refused sk-live-abcdef for abc")
    assert err.detail == "refused *** for abc" and str(err) == err.detail
    http.close()


class _Slow(FakeCatalogServer):
    def handle(self, h, seen) -> None:
        self.json(h, 200, {"ok": True})


def test_concurrency_is_bounded_per_platform():
    """Eight threads with two clients: never more than two requests in flight at the fake."""
    with _Slow() as fake:
        fake.slow_seconds = 0.1
        tuning = HttpTuning(concurrency=2, max_attempts=1)
        clients = [CatalogHttp(source="bounded-test", label="Test", tuning=tuning) for _ in range(2)]
        results: list[dict] = []

        def call(i: int) -> None:
            results.append(clients[i % 2].request_json("GET", f"{fake.base_url}/x"))

        threads = [threading.Thread(target=call, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for c in clients:
            c.close()
    assert results == [{"ok": True}] * 8 and len(fake.requests) == 8
    assert 1 <= fake.max_in_flight <= 2


def test_connection_errors_are_retried_then_reported_without_the_url(clock):
    http = CatalogHttp(source="test", label="Test", tuning=HttpTuning(max_attempts=2, backoff_base_seconds=1),
                       sleep=clock.sleep)
    http.add_secret("key-in-the-url")
    with pytest.raises(base.CatalogError) as err:
        http.request_json("GET", "http://127.0.0.1:9/search?key=key-in-the-url")  # nothing listens on 9
    assert err.value.detail == "Test: connection error: ConnectError (gave up after 2 attempts)"
    assert clock.sleeps == [1.0]
    http.close()


def test_search_with_nothing_to_search_for_asks_nobody(fake_spotify, make_source):
    assert make_source("spotify").search(TrackQuery(artist="Someone", title="")) == []
    assert fake_spotify.requests == []
