"""The Spotify client (client-credentials token, search) against a fake accounts service and Web API."""

from __future__ import annotations

import base64
import logging

import pytest

from services.domain.enrichment.models import Candidate, TrackQuery
from services.domain.enrichment.sources.base import (
    CatalogAuthError,
    CatalogError,
    CatalogMalformed,
    CatalogQuotaExceeded,
)
from services.domain.enrichment.sources.spotify import RENEW_BEFORE_SECONDS
from tests.domain.enrichment.sources.conftest import SPOTIFY_ID, SPOTIFY_SECRET

TOKEN = "/api/token"
SEARCH = "/v1/search"
WINDOWLICKER = TrackQuery(artist="Aphex Twin", title="Windowlicker", duration_seconds=368.0)


def test_search_returns_candidates_with_the_spotify_link(fake_spotify, make_source):
    found = make_source("spotify").search(WINDOWLICKER, limit=3)

    assert found == [Candidate(
        source="spotify", url="https://open.spotify.com/track/6p5ZtGEw3dzOQ4LhUjB0kX",
        external_id="6p5ZtGEw3dzOQ4LhUjB0kX", artist="Aphex Twin", title="Windowlicker", album="Windowlicker",
        duration_seconds=367.573, isrc="GBBPW9900001", preview_url="https://p.scdn.co/mp3-preview/windowlicker")]
    (seen,) = fake_spotify.seen(SEARCH)
    assert seen.param("q") == 'track:"Windowlicker" artist:"Aphex Twin"'
    assert seen.param("type") == "track" and seen.param("limit") == "3"
    (token,) = fake_spotify.seen(TOKEN)
    basic = base64.b64encode(f"{SPOTIFY_ID}:{SPOTIFY_SECRET}".encode()).decode()
    assert token.method == "POST" and token.headers["authorization"] == f"Basic {basic}"
    assert token.body == b"grant_type=client_credentials"


def test_several_artists_are_joined_and_quotes_cannot_break_the_query(fake_spotify, make_source):
    found = make_source("spotify").search(TrackQuery(artist='Daft "Punk"', title="Harder, Better, Faster, Stronger"))
    assert found[0].artist == "Daft Punk, Kanye West" and found[0].preview_url is None
    assert fake_spotify.seen(SEARCH)[0].param("q") == 'track:"Harder, Better, Faster, Stronger" artist:"Daft Punk"'


def test_isrc_first_then_fields_then_free_text(fake_spotify, make_source):
    src = make_source("spotify")
    assert src.search(TrackQuery(artist="x", title="y", isrc="gbbpw9900001"))[0].title == "Windowlicker"
    assert [r.param("q") for r in fake_spotify.seen(SEARCH)] == ["isrc:GBBPW9900001"]

    # artist and title swapped in the library: the precise query finds nothing, the plain one does
    swapped = src.search(TrackQuery(artist="Windowlicker", title="Aphex Twin"))
    assert [c.title for c in swapped] == ["Windowlicker"]
    assert [r.param("q") for r in fake_spotify.seen(SEARCH)][1:] == [
        'track:"Aphex Twin" artist:"Windowlicker"', "Windowlicker Aphex Twin"]

    assert src.search(TrackQuery(artist="Nobody", title="Nothing")) == []


def test_app_token_is_cached_until_a_minute_before_expiry(fake_spotify, make_source, clock):
    src = make_source("spotify")
    src.search(WINDOWLICKER)
    make_source("spotify").search(WINDOWLICKER)  # shared by clients built from the same settings
    assert len(fake_spotify.seen(TOKEN)) == 1

    clock.now += 3600 - RENEW_BEFORE_SECONDS - 5
    src.search(WINDOWLICKER)
    assert len(fake_spotify.seen(TOKEN)) == 1
    clock.now += 10
    src.search(WINDOWLICKER)
    assert len(fake_spotify.seen(TOKEN)) == 2


def test_an_expired_token_answered_401_is_fetched_again_once(fake_spotify, make_source):
    src = make_source("spotify")
    src.search(WINDOWLICKER)
    fake_spotify.expire_tokens()  # the server says "The access token expired"

    assert src.search(WINDOWLICKER)[0].title == "Windowlicker"
    assert len(fake_spotify.seen(TOKEN)) == 2 and len(fake_spotify.seen(SEARCH)) == 3


def test_a_token_refused_twice_is_a_clear_auth_error(fake_spotify, make_source):
    fake_spotify.fault(SEARCH, "401", "401")
    with pytest.raises(CatalogAuthError) as err:
        make_source("spotify").search(WINDOWLICKER)
    assert err.value.status == 401 and "SPOTIFY_CLIENT_SECRET" in err.value.detail
    assert len(fake_spotify.seen(TOKEN)) == 2 and len(fake_spotify.seen(SEARCH)) == 2


def test_wrong_client_credentials_are_a_clear_auth_error_without_the_secret(fake_spotify, make_source, caplog):
    caplog.set_level(logging.DEBUG)
    fake_spotify.client_secret = "the-secret-spotify-expects"
    with pytest.raises(CatalogAuthError) as err:
        make_source("spotify").search(WINDOWLICKER)
    assert err.value.code == "source_auth_failed" and "SPOTIFY_CLIENT_ID" in err.value.detail
    assert fake_spotify.seen(SEARCH) == [] and len(fake_spotify.seen(TOKEN)) == 1  # a 400 is not retried
    basic = base64.b64encode(f"{SPOTIFY_ID}:{SPOTIFY_SECRET}".encode()).decode()
    for secret in (SPOTIFY_SECRET, basic):
        assert secret not in str(err.value) and secret not in caplog.text


def test_429_waits_the_retry_after_then_succeeds(fake_spotify, make_source, clock):
    fake_spotify.fault(SEARCH, "429:2", "429:5")
    assert make_source("spotify").search(WINDOWLICKER)[0].title == "Windowlicker"
    assert len(fake_spotify.seen(SEARCH)) == 3 and clock.sleeps == [2.0, 5.0]


def test_a_retry_after_beyond_the_cap_fails_at_once_saying_how_long(fake_spotify, make_source, clock):
    fake_spotify.fault(SEARCH, "429:86400")
    with pytest.raises(CatalogQuotaExceeded) as err:
        make_source("spotify").search(WINDOWLICKER)
    assert "86400 s" in err.value.detail and err.value.status == 429
    assert len(fake_spotify.seen(SEARCH)) == 1 and clock.sleeps == []


def test_a_429_without_retry_after_backs_off(fake_spotify, make_source, clock):
    fake_spotify.fault(SEARCH, "429:")
    make_source("spotify").search(WINDOWLICKER)
    assert clock.sleeps == [0.25] and len(fake_spotify.seen(SEARCH)) == 2


def test_token_endpoint_failures_are_retried(fake_spotify, make_source):
    fake_spotify.fault(TOKEN, "502", "hang:2")
    assert make_source("spotify").search(WINDOWLICKER)[0].title == "Windowlicker"
    assert len(fake_spotify.seen(TOKEN)) == 3


def test_5xx_gives_up_after_the_attempts(fake_spotify, make_source):
    fake_spotify.fault(SEARCH, "500", "502", "503")
    with pytest.raises(CatalogError, match="gave up after 3 attempts") as err:
        make_source("spotify").search(WINDOWLICKER)
    assert err.value.status == 503 and not isinstance(err.value, CatalogAuthError)


def test_malformed_answers(fake_spotify, make_source):
    fake_spotify.fault(SEARCH, "html")
    assert make_source("spotify").search(WINDOWLICKER)  # retried
    fake_spotify.fault(SEARCH, "shape")
    with pytest.raises(CatalogMalformed, match="tracks.items"):
        make_source("spotify").search(WINDOWLICKER)


def test_tokens_and_secret_stay_out_of_logs_and_errors(fake_spotify, make_source, caplog):
    caplog.set_level(logging.DEBUG)
    fake_spotify.fault(SEARCH, "401", "500", "429:1", "503")  # a new token, then three failures
    with pytest.raises(CatalogError) as err:
        make_source("spotify").search(WINDOWLICKER)
    assert "retry" in caplog.text
    secrets = [SPOTIFY_SECRET, *fake_spotify.tokens]
    assert len(secrets) == 3
    for secret in secrets:
        assert secret not in caplog.text and secret not in str(err.value)
