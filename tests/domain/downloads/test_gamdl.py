"""The gamdl fetcher against a local fake of Apple Music: gamdl's own API classes run for real, up to the
Widevine license (which only Apple can sign), and all the way for a DRM-free library upload."""

from __future__ import annotations

import base64
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.common.settings import get_settings
from mutagen.mp4 import MP4

from services.domain.downloads.fetchers.base import FetchError, FetchOptions, fetcher
from services.domain.downloads.fetchers.gamdl import NO_COOKIES, GamdlFetcher
from tests.fakes.apple_music import (
    GOOD_MEDIA_USER_TOKEN,
    INDEX_JS,
    LIBRARY_SONG_ID,
    LICENSE,
    SONG_ID,
    WEBPLAYBACK,
    FakeAppleMusic,
    make_library_song,
    make_song,
)

# gamdl's caches reset on each fetch's new event loop; the fetcher silences this, pytest re-enables warnings
pytestmark = pytest.mark.filterwarnings("ignore::async_lru.AlruCacheLoopResetWarning")
SONG_URL = f"https://music.apple.com/us/album/hurry-up-were-dreaming/1440857781?i={SONG_ID}"
CATALOG = f"/v1/catalog/us/songs/{SONG_ID}"
ACCOUNT = "/v1/me/account"


def cookies_txt(path: Path, token: str | None = GOOD_MEDIA_USER_TOKEN) -> Path:
    lines = ["# Netscape HTTP Cookie File", ".apple.com\tTRUE\t/\tFALSE\t1900000000\tgeo\tUS"]
    if token is not None:
        lines.append(f".music.apple.com\tTRUE\t/\tTRUE\t1900000000\tmedia-user-token\t{token}")
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def fake() -> Iterator[FakeAppleMusic]:
    server = FakeAppleMusic()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def gamdl(fake: FakeAppleMusic) -> GamdlFetcher:
    url = fake.base_url
    return GamdlFetcher(api_base_url=url, web_base_url=url, play_base_url=url, itunes_base_url=url)


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    path = tmp_path / "work"
    path.mkdir()
    return path


def options(tmp_path: Path, token: str | None = GOOD_MEDIA_USER_TOKEN, **kw) -> FetchOptions:
    values = {"cookies_file": cookies_txt(tmp_path / "cookies.txt", token), "max_bytes": 50_000_000,
              "max_duration_seconds": 0, "timeout_seconds": 5} | kw
    return FetchOptions(**values)


def fetch_error(fetch: GamdlFetcher, url: str, workdir: Path, opts: FetchOptions, progress=None) -> FetchError:
    with pytest.raises(FetchError) as caught:
        fetch.fetch(url=url, workdir=workdir, options=opts, progress=progress or (lambda percent: None))
    return caught.value


# -- refused before any request -----------------------------------------------------------------------
def test_no_cookies_file_is_a_permanent_error(fake, gamdl, workdir, tmp_path):
    err = fetch_error(gamdl, SONG_URL, workdir, options(tmp_path, cookies_file=None))
    assert err.permanent and str(err) == NO_COOKIES
    err = fetch_error(gamdl, SONG_URL, workdir, options(tmp_path, cookies_file=tmp_path / "missing.txt"))
    assert err.permanent and str(err) == NO_COOKIES
    assert fake.requests == []


def test_cookies_file_without_a_media_user_token_or_not_netscape(fake, gamdl, workdir, tmp_path):
    err = fetch_error(gamdl, SONG_URL, workdir, options(tmp_path, token=None))
    assert err.permanent and "media-user-token" in str(err) and "PUT /api/admin/cookies/gamdl" in str(err)
    broken = tmp_path / "broken.txt"
    broken.write_text("media-user-token=secret-value-123\n")  # a header line, not a cookies.txt
    err = fetch_error(gamdl, SONG_URL, workdir, options(tmp_path, cookies_file=broken))
    assert err.permanent and "Netscape" in str(err) and "secret-value-123" not in str(err)
    assert fake.requests == []


@pytest.mark.parametrize("url, expected", [
    ("https://music.apple.com/us/album/hurry-up-were-dreaming/1440857781", "only single Apple Music songs"),
    ("https://music.apple.com/us/playlist/x/pl.u-abcdef", "only single Apple Music songs"),
    ("https://www.youtube.com/watch?v=dQw4w9WgXcQ", "not an Apple Music URL"),
])
def test_urls_other_than_one_song_are_refused(fake, gamdl, workdir, tmp_path, url, expected):
    err = fetch_error(gamdl, url, workdir, options(tmp_path))
    assert err.permanent and expected in str(err)
    assert fake.requests == []


def test_unknown_codec_is_refused(fake, gamdl, workdir, tmp_path):
    err = fetch_error(gamdl, SONG_URL, workdir, options(tmp_path, gamdl_codec="flac"))
    assert err.permanent and "unknown gamdl codec 'flac'" in str(err) and "aac-legacy" in str(err)
    assert fake.requests == []


def test_check_url_runs_first(fake, gamdl, workdir, tmp_path):
    def refuse(url: str) -> None:
        raise FetchError(f"refused: {url}", permanent=True)

    err = fetch_error(gamdl, SONG_URL, workdir, options(tmp_path, check_url=refuse))
    assert str(err) == f"refused: {SONG_URL}" and fake.requests == []


# -- Apple says no ------------------------------------------------------------------------------------
def test_a_bad_cookie_is_a_permanent_error_that_says_so(fake, gamdl, workdir, tmp_path):
    err = fetch_error(gamdl, SONG_URL, workdir, options(tmp_path, token="expired-token-42"))
    assert err.permanent
    assert "HTTP 401" in str(err) and "media-user-token" in str(err) and "PUT /api/admin/cookies/gamdl" in str(err)
    assert "expired-token-42" not in str(err)
    (account,) = fake.seen(ACCOUNT)
    assert account.headers["cookie"] == "media-user-token=expired-token-42"
    assert fake.seen(CATALOG) == []


def test_a_forbidden_account_is_permanent(fake, gamdl, workdir, tmp_path):
    fake.fault(ACCOUNT, "403")
    err = fetch_error(gamdl, SONG_URL, workdir, options(tmp_path))
    assert err.permanent and "HTTP 403" in str(err)


def test_an_account_without_subscription_is_permanent(gamdl, fake, workdir, tmp_path):
    fake.subscription_active = False
    err = fetch_error(gamdl, SONG_URL, workdir, options(tmp_path))
    assert err.permanent and "no active subscription" in str(err)
    assert fake.seen(CATALOG) == []


def test_an_unknown_song_is_permanent(fake, gamdl, workdir, tmp_path):
    err = fetch_error(gamdl, "https://music.apple.com/us/song/nothing/999999999", workdir, options(tmp_path))
    assert err.permanent
    assert "no song 999999999" in str(err) and "HTTP 404" in str(err) and "Resource Not Found" in str(err)
    assert len(fake.seen("/v1/catalog/us/songs/999999999")) == 1


def test_server_errors_are_retried_then_not_permanent(fake, gamdl, workdir, tmp_path):
    fake.fault(CATALOG, "500", "503", "500")
    err = fetch_error(gamdl, SONG_URL, workdir, options(tmp_path))
    assert not err.permanent and "HTTP 500" in str(err) and "try again later" in str(err)
    assert len(fake.seen(CATALOG)) == 3  # the first try and gamdl-style retries (2 here)
    assert fake.seen(WEBPLAYBACK) == []


def test_429_with_retry_after_is_waited_out(fake, gamdl, workdir, tmp_path):
    fake.fault(CATALOG, "429:1")
    err = fetch_error(gamdl, SONG_URL, workdir, options(tmp_path))
    assert len(fake.seen(CATALOG)) == 2
    assert "DRM license" in str(err)  # got past the 429, as far as the fake lets anyone


def test_unreachable_or_stalled_apple_is_not_permanent(fake, workdir, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"
    err = fetch_error(GamdlFetcher(api_base_url=closed, web_base_url=closed, retries=0), SONG_URL, workdir,
                      options(tmp_path))
    assert not err.permanent and "could not be reached" in str(err)

    url = fake.base_url
    fake.fault(CATALOG, "hang:3")
    stalled = GamdlFetcher(api_base_url=url, web_base_url=url, play_base_url=url, itunes_base_url=url, retries=0)
    err = fetch_error(stalled, SONG_URL, workdir, options(tmp_path, timeout_seconds=0.5))
    assert not err.permanent


def test_a_webplayback_dialog_is_permanent_with_apples_reason(fake, gamdl, workdir, tmp_path):
    fake.fault(WEBPLAYBACK, "dialog")
    err = fetch_error(gamdl, SONG_URL, workdir, options(tmp_path))
    assert err.permanent and "will not stream" in str(err) and "Subscription required" in str(err)
    assert fake.seen(LICENSE) == []


def test_a_song_over_the_duration_limit_stops_after_the_metadata(fake, gamdl, workdir, tmp_path):
    err = fetch_error(gamdl, SONG_URL, workdir, options(tmp_path, max_duration_seconds=120))
    assert err.permanent and "4.1 min long, over the 2.0 min limit" in str(err)
    assert len(fake.seen(CATALOG)) == 1 and fake.seen(WEBPLAYBACK) == []


# -- as far as gamdl can go offline ---------------------------------------------------------------------
def test_a_catalog_song_goes_through_gamdl_up_to_the_drm_license(fake, gamdl, workdir, tmp_path, capsys, caplog):
    seen_progress: list[int] = []
    err = fetch_error(gamdl, SONG_URL, workdir, options(tmp_path), seen_progress.append)

    # stops where only Apple can help, and says why
    assert err.permanent
    assert f"refused the DRM license for song {SONG_ID}" in str(err) and "Widevine" in str(err)
    assert "status -1021" in str(err)
    assert fake.paths == ["/", INDEX_JS, ACCOUNT, CATALOG, WEBPLAYBACK,
                          f"/itunes-assets/HLSMusic/256/P{SONG_ID}_ctrp256.m3u8", LICENSE]

    # the developer token scraped from the web player, the cookie and origin, as Apple expects them
    bearer = f"Bearer {fake.developer_token}"
    for request in (*fake.seen(ACCOUNT), *fake.seen(CATALOG), *fake.seen(WEBPLAYBACK), *fake.seen(LICENSE)):
        assert request.headers["authorization"] == bearer
        assert request.headers["cookie"] == f"media-user-token={GOOD_MEDIA_USER_TOKEN}"
        assert request.headers["origin"] == "https://music.apple.com"
        assert request.headers["host"] == fake.base_url.removeprefix("http://")
    assert "authorization" not in fake.seen("/")[0].headers and "cookie" not in fake.seen("/")[0].headers
    assert fake.seen(ACCOUNT)[0].query == {"meta": ["subscription"]}
    assert fake.seen(CATALOG)[0].query == {"extend": ["extendedAssetUrls"], "include": ["lyrics,albums"]}
    assert fake.seen(WEBPLAYBACK)[0].body == {"salableAdamId": SONG_ID, "language": "en-US"}
    (license_request,) = fake.seen(LICENSE)
    kid = base64.b64encode(int(SONG_ID).to_bytes(16, "big")).decode()
    assert license_request.body["adamId"] == SONG_ID
    assert license_request.body["key-system"] == "com.widevine.alpha"
    assert license_request.body["uri"] == f"data:text/plain;base64,{kid}"
    assert len(base64.b64decode(license_request.body["challenge"])) > 100  # a real Widevine challenge

    assert seen_progress[0] == 0 and 10 in seen_progress and 100 not in seen_progress
    assert seen_progress == sorted(seen_progress)
    assert list(workdir.iterdir()) == []
    captured = capsys.readouterr()
    logged = captured.out + captured.err + caplog.text
    assert GOOD_MEDIA_USER_TOKEN not in logged


def test_the_codec_setting_picks_the_stream(fake, gamdl, workdir, tmp_path):
    fetch_error(gamdl, f"https://music.apple.com/us/song/midnight-city/{SONG_ID}", workdir,
                options(tmp_path, gamdl_codec="aac-he-legacy"))
    assert fake.seen(f"/itunes-assets/HLSMusic/64/P{SONG_ID}_ctrp64.m3u8")
    assert fake.seen(LICENSE)


def test_the_registry_builds_it_from_the_environment(fake, workdir, tmp_path, monkeypatch):
    for name in ("APPLE_MUSIC_API_URL", "APPLE_MUSIC_WEB_URL", "APPLE_MUSIC_PLAY_URL", "ITUNES_API_URL"):
        monkeypatch.setenv(name, fake.base_url + "/")
    get_settings.cache_clear()
    fetch = fetcher("gamdl")
    get_settings.cache_clear()
    assert isinstance(fetch, GamdlFetcher) and fetch.api_base_url == fake.base_url
    err = fetch_error(fetch, SONG_URL, workdir, options(tmp_path))
    assert "DRM license" in str(err) and fake.seen(LICENSE)


# -- a DRM-free library upload: the whole download ------------------------------------------------------
@pytest.fixture(scope="module")
def upload_m4a(tmp_path_factory) -> bytes:
    if not shutil.which("ffmpeg"):
        pytest.skip("ffmpeg is needed to make the library upload")
    path = tmp_path_factory.mktemp("upload") / "upload.m4a"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "sine=frequency=440:duration=1", "-c:a", "aac",
                    "-b:a", "64k", str(path)], check=True, timeout=30)
    return path.read_bytes()


def test_a_library_upload_downloads_and_is_tagged(fake, gamdl, workdir, tmp_path, upload_m4a):
    fake.add_library_song(make_library_song(), upload_m4a)
    seen_progress: list[int] = []
    got = gamdl.fetch(url=f"https://music.apple.com/library/songs/{LIBRARY_SONG_ID}", workdir=workdir,
                      options=options(tmp_path), progress=seen_progress.append)
    assert got.path == workdir / "source.m4a" and list(workdir.iterdir()) == [got.path]
    assert MP4(got.path).info.length > 0.9
    assert got.title == "Basement Demo" and got.duration_seconds == 1.0
    assert MP4(got.path).tags["©nam"] == ["Basement Demo"]
    assert fake.seen(WEBPLAYBACK)[0].body == {"universalLibraryId": LIBRARY_SONG_ID, "language": "en-US"}
    assert seen_progress[-1] == 100 and seen_progress == sorted(seen_progress)


def test_a_library_upload_over_the_size_limit_is_refused(fake, gamdl, workdir, tmp_path, upload_m4a):
    fake.add_library_song(make_library_song(), upload_m4a)
    err = fetch_error(gamdl, f"https://music.apple.com/library/songs/{LIBRARY_SONG_ID}", workdir,
                      options(tmp_path, max_bytes=len(upload_m4a) // 2))
    assert err.permanent and f"{len(upload_m4a) // 2} bytes limit" in str(err)
    assert not (workdir / "source.m4a").exists()


def test_other_catalog_songs_and_storefronts(fake, gamdl, workdir, tmp_path):
    fake.add_song(make_song("1111111111", name="Not Streamable", streamable=False))
    err = fetch_error(gamdl, "https://music.apple.com/us/song/x/1111111111", workdir, options(tmp_path))
    assert err.permanent and "cannot be streamed" in str(err)
    fake.storefront = "gb"  # the account's storefront wins over the URL's
    err = fetch_error(gamdl, SONG_URL, workdir, options(tmp_path))
    assert "DRM license" in str(err)
    assert fake.seen("/v1/catalog/gb/songs/" + SONG_ID) and not fake.seen(CATALOG)
