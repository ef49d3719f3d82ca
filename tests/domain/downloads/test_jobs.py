"""The download job, run inline against real Postgres, Redis, ffmpeg and a local media server:
fetch, convert, check by decoding, move into AUDIO_DIR, record where the audio came from."""

from __future__ import annotations

import pytest

from services.common.db import get_redis, session_scope
from services.common.models import Library, Track, User
from services.common.settings import get_settings
from services.domain.downloads import media
from services.domain.downloads.jobs import DownloadFailed, download_track_job, plan


def _track(**fields) -> tuple[int, int]:
    with session_scope() as s:
        user = s.query(User).filter_by(username="dj").one_or_none() or User(username="dj", password_hash="x")
        s.add(user)
        s.flush()
        lib = Library(owner_id=user.id, name="crate")
        s.add(lib)
        s.flush()
        track = Track(track_id="9-A1", library_id=lib.id, title=fields.pop("title", "Groove"),
                      artist=fields.pop("artist", "Synth"), **fields)
        s.add(track)
        s.flush()
        return track.id, lib.id


def _row(pk: int) -> Track:
    with session_scope() as s:
        track = s.get(Track, pk)
        s.expunge(track)
        return track


def _library_files(audio_dir, library_id):
    folder = audio_dir / f"library_{library_id}"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def test_download_converts_checks_and_stores(clean_db, download_env, media_server):
    get_redis().flushdb()
    pk, lib = _track(youtube_url=f"{media_server.base}/files/groove.mp3", duration_seconds=None)
    result = download_track_job(pk)
    assert result["method"] == "yt-dlp" and result["path"] == f"library_{lib}/{pk}.m4a"
    track = _row(pk)
    stored = download_env / track.local_audio_path
    assert media.source_codec(stored) == "aac"
    assert media.decoded_duration(stored) == pytest.approx(8.0, abs=0.2)
    assert track.duration_seconds == pytest.approx(8.0, abs=0.2)  # filled from the audio when unknown
    assert track.audio_source["method"] == "yt-dlp" and track.audio_source["why"] == "the track's youtube link"
    assert track.audio_source["url"].endswith("/files/groove.mp3")
    assert _library_files(download_env, lib) == [f"{pk}.m4a"]
    assert not any((download_env / ".incoming").iterdir())  # the work folder is gone
    # The analysis service was unreachable: the audio is kept and an analysis job is queued.
    assert result["analysed"] is False
    assert get_redis().llen("rq:queue:analysis") == 1


def test_given_url_wins_and_replacing_removes_the_old_file(clean_db, download_env, media_server, monkeypatch):
    pk, lib = _track(youtube_url=f"{media_server.base}/files/groove.mp3")
    download_track_job(pk)
    monkeypatch.setenv("DOWNLOAD_FORMAT", "flac")
    get_settings.cache_clear()
    result = download_track_job(pk, f"{media_server.base}/files/groove.m4a")
    assert result["path"].endswith(f"{pk}.flac")
    assert _library_files(download_env, lib) == [f"{pk}.flac"]  # the .m4a it replaced is removed
    assert _row(pk).audio_source["why"] == "the given link"


def test_not_audio_fails_permanently_and_leaves_nothing(clean_db, download_env, media_server):
    pk, lib = _track(youtube_url=f"{media_server.base}/files/notaudio.mp3")
    with pytest.raises(DownloadFailed) as caught:
        download_track_job(pk)
    assert "not audio" in str(caught.value) or "damaged" in str(caught.value)
    assert _row(pk).local_audio_path is None
    assert _library_files(download_env, lib) == []
    assert not any((download_env / ".incoming").iterdir())


def test_redirect_to_a_private_address_is_refused(clean_db, download_env, media_server):
    private = f"http://127.0.0.2:{media_server.port}/files/groove.mp3"
    pk, lib = _track(youtube_url=f"{media_server.base}/redirect?to={private}")
    with pytest.raises(DownloadFailed) as caught:
        download_track_job(pk)
    assert "refused" in str(caught.value) and "127.0.0.2" in str(caught.value)
    assert media_server.hits["/redirect"] == 1 and media_server.hits["/files/groove.mp3"] == 0
    assert _library_files(download_env, lib) == []


def test_missing_source_fails_with_the_reason(clean_db, download_env, media_server):
    pk, _ = _track(youtube_url=f"{media_server.base}/files/gone.mp3")
    with pytest.raises(DownloadFailed) as caught:
        download_track_job(pk)
    assert "404" in str(caught.value)


def test_duration_cap(clean_db, download_env, media_server, monkeypatch):
    monkeypatch.setenv("DOWNLOAD_MAX_DURATION_MINUTES", "1")
    get_settings.cache_clear()
    pk, lib = _track(youtube_url=f"{media_server.base}/files/long.mp3")
    with pytest.raises(DownloadFailed) as caught:
        download_track_job(pk)
    assert "over the 1 min limit" in str(caught.value)
    assert _library_files(download_env, lib) == []


def test_plan_prefers_apple_with_cookies_then_links_then_search(clean_db, download_env):
    settings = get_settings()
    track = Track(track_id="1", library_id=1, title="Shades Of Jae", artist="Moodymann",
                  apple_music_url="https://music.apple.com/us/song/x/1", youtube_url="https://youtu.be/abc")
    assert plan(track, None, settings)[:2] == ("yt-dlp", "https://youtu.be/abc")  # no gamdl cookies yet
    cookies = settings.resolved_cookies_dir / "gamdl-cookies.txt"
    cookies.parent.mkdir(parents=True, exist_ok=True)
    cookies.write_text(".apple.com\tTRUE\t/\tTRUE\t0\tmedia-user-token\tx\n")
    assert plan(track, None, settings)[0] == "gamdl"
    assert plan(track, "https://music.apple.com/us/album/a/1?i=2", settings)[0] == "gamdl"
    assert plan(track, "https://soundcloud.com/a/b", settings)[0] == "yt-dlp"
    bare = Track(track_id="2", library_id=1, title="Shades Of Jae", artist="Moodymann")
    name, query, why = plan(bare, None, settings)
    assert (name, query) == ("youtube-search", "Moodymann Shades Of Jae") and "no link" in why
