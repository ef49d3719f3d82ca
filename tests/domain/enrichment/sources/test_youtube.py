"""The YouTube client: Data API v3 against a fake (key, quota, Google's error bodies), yt-dlp without a key."""

from __future__ import annotations

import logging

import pytest

from services.common.settings import get_settings
from services.domain.downloads.fetchers.base import FetchError
from services.domain.enrichment.models import Candidate, TrackQuery
from services.domain.enrichment.sources.base import (
    CatalogAuthError,
    CatalogError,
    CatalogMalformed,
    CatalogQuotaExceeded,
)
from services.domain.enrichment.sources.youtube import iso8601_seconds, split_title
from tests.domain.enrichment.sources.conftest import YOUTUBE_KEY

SEARCH = "/search"
VIDEOS = "/videos"
ONE_MORE_TIME = TrackQuery(artist="Daft Punk", title="One More Time", duration_seconds=320.0)


def test_search_returns_watch_links_with_durations_and_split_titles(fake_youtube, make_source):
    found = make_source("youtube").search(ONE_MORE_TIME, limit=5)

    assert found == [
        Candidate(source="youtube", url="https://www.youtube.com/watch?v=FGBhQbmPwH8", external_id="FGBhQbmPwH8",
                  artist="Daft Punk", title="One More Time (Official Video)", duration_seconds=321.0),
        Candidate(source="youtube", url="https://www.youtube.com/watch?v=2zFqSyHSnvI", external_id="2zFqSyHSnvI",
                  artist="Daft Punk", title="One More Time", duration_seconds=320.0),
    ]  # the lyrics video is not in the Music category
    (search,) = fake_youtube.seen(SEARCH)
    assert search.param("part") == "snippet" and search.param("type") == "video"
    assert search.param("videoCategoryId") == "10" and search.param("q") == "Daft Punk One More Time"
    assert search.param("maxResults") == "5"
    (videos,) = fake_youtube.seen(VIDEOS)
    assert videos.param("part") == "contentDetails" and videos.param("id") == "FGBhQbmPwH8,2zFqSyHSnvI"


def test_the_key_travels_in_a_header_never_in_the_url(fake_youtube, make_source):
    make_source("youtube").search(ONE_MORE_TIME)
    for request in fake_youtube.requests:
        assert request.headers["x-goog-api-key"] == YOUTUBE_KEY and "key" not in request.query


def test_titles_are_unescaped(fake_youtube, make_source):
    (found,) = make_source("youtube").search(TrackQuery(artist="Simon & Garfunkel", title="The Sound of Silence"))
    assert found.artist == "Simon & Garfunkel" and found.title == "The Sound of Silence (Audio)"
    assert found.duration_seconds == 186.0


def test_nothing_found_costs_one_request(fake_youtube, make_source):
    assert make_source("youtube").search(TrackQuery(artist="Nobody", title="Nothing")) == []
    assert len(fake_youtube.requests) == 1


def test_quota_exceeded_is_a_clear_error_and_not_retried(fake_youtube, make_source):
    fake_youtube.quota = 150  # one search (100) and one videos call (1), then nothing
    src = make_source("youtube")
    src.search(ONE_MORE_TIME)
    with pytest.raises(CatalogQuotaExceeded) as err:
        src.search(ONE_MORE_TIME)
    assert err.value.code == "source_quota_exceeded" and err.value.status == 403
    assert "quota" in err.value.detail and "midnight Pacific" in err.value.detail
    assert len(fake_youtube.seen(SEARCH)) == 2


def test_rate_limit_403_and_5xx_are_retried(fake_youtube, make_source, clock):
    fake_youtube.fault(SEARCH, "ratelimit", "503")
    fake_youtube.fault(VIDEOS, "429:4")
    assert len(make_source("youtube").search(ONE_MORE_TIME)) == 2
    assert len(fake_youtube.seen(SEARCH)) == 3 and len(fake_youtube.seen(VIDEOS)) == 2
    assert clock.sleeps == [0.25, 0.5, 4.0]


def test_an_invalid_key_is_an_auth_error_without_the_key(fake_youtube, make_source, caplog):
    caplog.set_level(logging.DEBUG)
    fake_youtube.api_key = "AIzaSy-the-one-google-knows"
    with pytest.raises(CatalogAuthError) as err:
        make_source("youtube").search(ONE_MORE_TIME)
    assert "YOUTUBE_API_KEY" in err.value.detail and "API key not valid" in err.value.detail
    assert len(fake_youtube.requests) == 1
    assert YOUTUBE_KEY not in str(err.value) and YOUTUBE_KEY not in caplog.text


def test_timeouts_and_malformed_answers(fake_youtube, make_source):
    fake_youtube.fault(VIDEOS, "hang:2", "malformed")
    assert len(make_source("youtube").search(ONE_MORE_TIME)) == 2
    assert len(fake_youtube.seen(VIDEOS)) == 3

    fake_youtube.fault(SEARCH, "shape")
    with pytest.raises(CatalogMalformed, match="'items'"):
        make_source("youtube").search(ONE_MORE_TIME)

    fake_youtube.fault(SEARCH, "502", "502", "502")
    with pytest.raises(CatalogError, match="gave up after 3 attempts"):
        make_source("youtube").search(ONE_MORE_TIME)


def test_the_key_stays_out_of_logs_through_retries(fake_youtube, make_source, caplog):
    caplog.set_level(logging.DEBUG)  # httpx logs every request URL at INFO
    fake_youtube.fault(SEARCH, "500", "ratelimit", "quota")
    with pytest.raises(CatalogQuotaExceeded) as err:
        make_source("youtube").search(ONE_MORE_TIME)
    assert "retry" in caplog.text and "HTTP Request" in caplog.text
    assert YOUTUBE_KEY not in caplog.text and YOUTUBE_KEY not in str(err.value)


# -- without a key: yt-dlp --------------------------------------------------------------------------

YTDLP_ENTRIES = [
    {"_type": "url", "ie_key": "Youtube", "id": "FGBhQbmPwH8", "url": "https://www.youtube.com/watch?v=FGBhQbmPwH8",
     "title": "Daft Punk - One More Time (Official Video)", "channel": "Daft Punk", "duration": 321.0},
    {"_type": "url", "ie_key": "Youtube", "id": "2zFqSyHSnvI", "url": "https://www.youtube.com/watch?v=2zFqSyHSnvI",
     "title": "One More Time", "channel": "Daft Punk - Topic", "duration": None},
    {"_type": "url", "ie_key": "Youtube", "id": None, "title": "a broken entry"},
]


def test_without_a_key_it_searches_with_yt_dlps_search(monkeypatch, make_source):
    from services.domain.downloads.fetchers import ytdlp

    calls = []

    def fake_search(text, *, count, options, workdir=None):
        calls.append((text, count, options.timeout_seconds))
        return YTDLP_ENTRIES

    monkeypatch.setattr(ytdlp, "search", fake_search)
    src = make_source("youtube")
    assert src.mode == "yt-dlp"
    found = src.search(ONE_MORE_TIME, limit=4)

    assert calls == [("Daft Punk One More Time", 4, 0.5)]
    assert [(c.url, c.artist, c.title, c.duration_seconds) for c in found] == [
        ("https://www.youtube.com/watch?v=FGBhQbmPwH8", "Daft Punk", "One More Time (Official Video)", 321.0),
        ("https://www.youtube.com/watch?v=2zFqSyHSnvI", "Daft Punk", "One More Time", None),
    ]


def test_yt_dlp_failures_are_catalog_errors(monkeypatch, make_source):
    from services.domain.downloads.fetchers import ytdlp

    def failing(text, **kwargs):
        raise FetchError("Unable to download API page: HTTP Error 429: Too Many Requests")

    monkeypatch.setattr(ytdlp, "search", failing)
    with pytest.raises(CatalogError, match="yt-dlp failed: Unable to download API page") as err:
        make_source("youtube").search(ONE_MORE_TIME)
    assert err.value.source == "youtube"


def test_the_api_is_used_as_soon_as_a_key_is_set(fake_youtube, monkeypatch, make_source):
    from services.domain.downloads.fetchers import ytdlp

    monkeypatch.setattr(ytdlp, "search", lambda *a, **k: pytest.fail("yt-dlp used despite the key"))
    assert get_settings().youtube_api_key is not None
    assert make_source("youtube").mode == "api"


@pytest.mark.parametrize("value, seconds", [
    ("PT4M13S", 253.0), ("PT1H2M3S", 3723.0), ("PT45S", 45.0), ("PT10M", 600.0), ("P1DT1S", 86401.0),
    ("PT0.5S", 0.5), ("P0D", None), ("", None), (None, None), ("4:13", None), ("PT", None),
])
def test_iso8601_durations(value, seconds):
    assert iso8601_seconds(value) == seconds


@pytest.mark.parametrize("title, channel, expected", [
    ("Daft Punk - One More Time", "Daft Punk", ("Daft Punk", "One More Time")),
    ("Röyksopp – Eple (Official Video)", "Röyksopp", ("Röyksopp", "Eple (Official Video)")),
    ("Jay-Z — 99 Problems", "JayZVEVO", ("Jay-Z", "99 Problems")),
    ("One More Time", "Daft Punk - Topic", ("Daft Punk", "One More Time")),
    ("Blue Monday '88", "New Order", ("New Order", "Blue Monday '88")),
    ("A-ha Take On Me", None, ("", "A-ha Take On Me")),
])
def test_titles_are_split_into_artist_and_title(title, channel, expected):
    assert split_title(title, channel) == expected
