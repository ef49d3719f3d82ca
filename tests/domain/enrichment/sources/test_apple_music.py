"""The Apple Music client against a fake catalog that verifies the ES256 developer token."""

from __future__ import annotations

import logging

import jwt
import pytest

from services.domain.enrichment.models import Candidate, TrackQuery
from services.domain.enrichment.sources.apple_music import RENEW_BEFORE_SECONDS, TOKEN_LIFETIME_SECONDS
from services.domain.enrichment.sources.base import CatalogAuthError, CatalogError, CatalogMalformed
from services.domain.enrichment.sources.tokens import TOKENS
from tests.domain.enrichment.sources.conftest import KEY_ID, TEAM_ID
from tests.fakes.catalogs import FakeAppleCatalog, make_apple_key

SEARCH = "/v1/catalog/us/search"
SONGS = "/v1/catalog/us/songs"
MIDNIGHT = TrackQuery(artist="M83", title="Midnight City", duration_seconds=244.0)


def test_search_returns_candidates_with_the_link_gamdl_downloads(fake_apple, make_source):
    found = make_source("apple").search(MIDNIGHT, limit=5)

    assert found[0] == Candidate(
        source="apple", url="https://music.apple.com/us/album/1440857781?i=1440857786", external_id="1440857786",
        artist="M83", title="Midnight City", album="Hurry Up, We're Dreaming", duration_seconds=243.96,
        isrc="FR6V81141062", preview_url="https://audio-ssl.itunes.apple.com/itunes-assets/AudioPreview/preview.m4a")
    remix = found[1]
    assert remix.title == "Midnight City (Eric Prydz Remix)" and remix.preview_url is None
    assert len(found) == 2
    (seen,) = fake_apple.seen(SEARCH)
    assert seen.param("term") == "M83 Midnight City" and seen.param("types") == "songs" and seen.param("limit") == "5"


def test_the_developer_token_is_es256_signed_with_kid_and_team_for_twelve_hours(fake_apple, make_source):
    make_source("apple").search(MIDNIGHT)

    ((header, payload),) = fake_apple.claims_seen  # the fake verified the signature with the public key
    assert header["alg"] == "ES256" and header["kid"] == KEY_ID
    assert payload["iss"] == TEAM_ID
    assert payload["exp"] - payload["iat"] == TOKEN_LIFETIME_SECONDS == 12 * 3600


def test_isrc_lookup_comes_first_and_falls_back_to_search(fake_apple, make_source):
    src = make_source("apple")
    by_isrc = src.search(TrackQuery(artist="M83", title="Midnight City", isrc="fr6v81141062"))
    assert [c.external_id for c in by_isrc] == ["1440857786"]
    assert fake_apple.seen(SONGS)[0].param("filter[isrc]") == "FR6V81141062"
    assert fake_apple.seen(SEARCH) == []

    unknown = src.search(TrackQuery(artist="Aphex Twin", title="Windowlicker", isrc="XX0000000000"))
    assert [c.title for c in unknown] == ["Windowlicker"]
    assert len(fake_apple.seen(SONGS)) == 2 and len(fake_apple.seen(SEARCH)) == 1


def test_nothing_found_is_an_empty_list(fake_apple, make_source):
    assert make_source("apple").search(TrackQuery(artist="Nobody", title="Nothing At All")) == []


def test_limit_is_kept_within_apples_maximum(fake_apple, make_source):
    make_source("apple").search(MIDNIGHT, limit=100)
    assert fake_apple.seen(SEARCH)[0].param("limit") == "25"  # more would be a 400 from Apple


def test_token_is_cached_and_renewed_ten_minutes_before_expiry(fake_apple, make_source, clock):
    src = make_source("apple")
    src.search(MIDNIGHT)
    src.search(MIDNIGHT)
    make_source("apple").search(MIDNIGHT)  # another client from the same settings shares it
    assert len(set(fake_apple.tokens_seen)) == 1 and TOKENS.fetches == 1

    first = src.developer_token()
    clock.now += TOKEN_LIFETIME_SECONDS - RENEW_BEFORE_SECONDS - 60
    assert src.developer_token() == first
    clock.now += 120  # now within 10 minutes of expiry
    renewed = src.developer_token()
    assert renewed != first and TOKENS.fetches == 2
    assert jwt.decode(renewed, options={"verify_signature": False})["iat"] == int(clock.now)


def test_a_401_signs_a_new_token_once(fake_apple, make_source):
    src = make_source("apple")
    src.search(MIDNIGHT)
    fake_apple.revoked.add(fake_apple.tokens_seen[-1])

    assert src.search(MIDNIGHT)[0].title == "Midnight City"
    assert len(fake_apple.seen(SEARCH)) == 3  # ok, 401 with the revoked token, ok with a new one
    assert fake_apple.tokens_seen[1] == fake_apple.tokens_seen[0] != fake_apple.tokens_seen[2]


def test_a_key_apple_does_not_know_is_a_clear_auth_error(fake_apple, make_source, caplog):
    other, _ = make_apple_key()
    fake_apple.public_key = other.public_key()  # our signature no longer verifies
    caplog.set_level(logging.DEBUG)

    with pytest.raises(CatalogAuthError) as err:
        make_source("apple").search(MIDNIGHT)

    assert err.value.code == "source_auth_failed" and err.value.status == 401
    assert "APPLE_MUSIC_KEY_ID" in err.value.detail and "APPLE_MUSIC_PRIVATE_KEY_PATH" in err.value.detail
    assert len(fake_apple.seen(SEARCH)) == 2  # refreshed once, not forever
    for token in fake_apple.tokens_seen:
        assert token not in str(err.value) and token not in caplog.text


def test_429_waits_the_retry_after_then_succeeds(fake_apple, make_source, clock):
    fake_apple.fault(SEARCH, "429:3")
    assert make_source("apple").search(MIDNIGHT)[0].title == "Midnight City"
    assert len(fake_apple.seen(SEARCH)) == 2 and clock.sleeps == [3.0]


def test_5xx_is_retried_with_backoff_then_given_up(fake_apple, make_source, clock):
    fake_apple.fault(SEARCH, "503", "500")
    assert make_source("apple").search(MIDNIGHT)[0].title == "Midnight City"
    assert len(fake_apple.seen(SEARCH)) == 3 and clock.sleeps == [0.25, 0.5]

    fake_apple.fault(SEARCH, "503", "503", "503")
    with pytest.raises(CatalogError) as err:
        make_source("apple").search(MIDNIGHT)
    assert err.value.status == 503 and "gave up after 3 attempts" in err.value.detail
    assert err.value.code == "source_failed" and err.value.source == "apple"


def test_a_slow_answer_times_out_and_is_retried(fake_apple, make_source):
    fake_apple.fault(SEARCH, "hang:2")  # the client gives up after 0.5 s
    assert make_source("apple").search(MIDNIGHT)[0].title == "Midnight City"
    assert len(fake_apple.seen(SEARCH)) == 2


def test_malformed_bodies_are_retried_then_a_clear_error(fake_apple, make_source):
    fake_apple.fault(SEARCH, "malformed")
    assert make_source("apple").search(MIDNIGHT)[0].title == "Midnight City"

    fake_apple.fault(SEARCH, "malformed", "html", "malformed")
    with pytest.raises(CatalogMalformed) as err:
        make_source("apple").search(MIDNIGHT)
    assert "not JSON" in err.value.detail and err.value.code == "source_malformed"

    fake_apple.fault(SEARCH, "shape")  # JSON, but not a search answer: no point asking again
    before = len(fake_apple.seen(SEARCH))
    with pytest.raises(CatalogMalformed, match="no 'results' object"):
        make_source("apple").search(MIDNIGHT)
    assert len(fake_apple.seen(SEARCH)) == before + 1


def test_the_private_key_never_reaches_logs_or_errors(fake_apple, apple_key, make_source, caplog):
    _key, pem, _path = apple_key
    caplog.set_level(logging.DEBUG)
    fake_apple.fault(SEARCH, "429:1", "500", "503", "503")
    with pytest.raises(CatalogError) as err:
        make_source("apple").search(MIDNIGHT)
    body = pem.decode().splitlines()[1]  # a line of the key itself
    assert "retry" in caplog.text  # the retries were logged ...
    assert body not in caplog.text and body not in str(err.value)  # ... without the key
    for token in fake_apple.tokens_seen:
        assert token not in caplog.text and token not in str(err.value)


def test_storefront_setting_is_used(fake_apple, make_source, monkeypatch):
    from services.common.settings import get_settings

    fake_apple.storefront = "gb"
    monkeypatch.setenv("APPLE_MUSIC_STOREFRONT", "gb")
    get_settings.cache_clear()
    make_source("apple").search(MIDNIGHT)
    assert [r.path for r in fake_apple.requests] == ["/v1/catalog/gb/search"]


def test_fake_refuses_unsigned_or_foreign_tokens(fake_apple):
    """The fake really checks the signature (so the happy path proves ours is right)."""
    import httpx

    forged = jwt.encode({"iss": TEAM_ID, "iat": 1, "exp": 4_000_000_000},
                        "a-shared-secret-that-is-not-apples-key-at-all", algorithm="HS256", headers={"kid": KEY_ID})
    r = httpx.get(f"{fake_apple.base_url}{SEARCH}", params={"term": "M83"},
                  headers={"Authorization": f"Bearer {forged}"})
    assert r.status_code == 401 and r.json()["errors"][0]["status"] == "401"
    assert isinstance(fake_apple, FakeAppleCatalog)
