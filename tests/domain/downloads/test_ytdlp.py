"""The yt-dlp fetcher against a local HTTP server (its generic extractor), and the search choice."""

from __future__ import annotations

import pytest

from services.domain.downloads.fetchers.base import FetchError, FetchOptions, fetcher
from services.domain.downloads.fetchers.ytdlp import choose_candidate


def _options(**overrides) -> FetchOptions:
    return FetchOptions(**{"max_bytes": 50 * 1024 * 1024, "max_duration_seconds": 0, "timeout_seconds": 2,
                           **overrides})


def test_downloads_a_file_with_progress(media_server, tmp_path):
    seen: list[int] = []
    got = fetcher("yt-dlp").fetch(url=f"{media_server.base}/files/groove.mp3", workdir=tmp_path,
                                  options=_options(), progress=seen.append)
    assert got.path.parent == tmp_path and got.path.read_bytes() == (media_server.root / "groove.mp3").read_bytes()
    assert seen and seen[-1] == 100 and seen == sorted(seen)


def test_missing_source_is_permanent(media_server, tmp_path):
    with pytest.raises(FetchError) as caught:
        fetcher("yt-dlp").fetch(url=f"{media_server.base}/files/nope.mp3", workdir=tmp_path, options=_options(),
                                progress=lambda p: None)
    assert caught.value.permanent and "404" in str(caught.value)


def test_stalled_source_times_out_and_may_be_retried(media_server, tmp_path):
    with pytest.raises(FetchError) as caught:
        fetcher("yt-dlp").fetch(url=f"{media_server.base}/stall/long.mp3", workdir=tmp_path,
                                options=_options(timeout_seconds=1), progress=lambda p: None)
    assert not caught.value.permanent
    assert "timed out" in str(caught.value).lower() or "timeout" in str(caught.value).lower()


def test_size_cap_is_enforced_while_downloading(media_server, tmp_path):
    size = (media_server.root / "long.mp3").stat().st_size
    with pytest.raises(FetchError) as caught:
        fetcher("yt-dlp").fetch(url=f"{media_server.base}/files/long.mp3", workdir=tmp_path,
                                options=_options(max_bytes=size // 4), progress=lambda p: None)
    assert caught.value.permanent and ("larger than" in str(caught.value) or "max-filesize" in str(caught.value))
    assert not any(p.stat().st_size >= size for p in tmp_path.iterdir())


ENTRIES = [
    {"id": "a", "title": "Moodymann - Shades Of Jae (Live Edit)", "channel": "fan", "duration": 520},
    {"id": "b", "title": "Shades Of Jae", "channel": "Moodymann - Topic", "duration": 392},
    {"id": "c", "title": "Shades of Jae reaction video", "channel": "someone", "duration": 395},
    {"id": "d", "title": "Totally different song", "channel": "x", "duration": 391},
]


def test_search_choice_weighs_title_and_duration_and_says_why():
    best, note = choose_candidate(ENTRIES, artist="Moodymann", title="Shades Of Jae", duration=390)
    assert best["id"] == "b"
    assert "Shades Of Jae" in note and "2 s off" in note and "of 4 results" in note


def test_search_without_a_plausible_result_is_refused():
    with pytest.raises(FetchError) as caught:
        choose_candidate([ENTRIES[3]], artist="Moodymann", title="Shades Of Jae", duration=600)
    assert caught.value.permanent
    with pytest.raises(FetchError):
        choose_candidate([], artist="A", title="B", duration=None)
