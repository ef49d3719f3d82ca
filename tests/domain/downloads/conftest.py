"""Download tests: real media served over local HTTP, settings pointed at a temporary AUDIO_DIR."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.common.settings import get_settings
from services.domain.downloads.media import ffmpeg_binary
from tests.essentia_api.audio_fixtures import ClipSpec, synth_clip, write_wav
from tests.fakes.media_server import MediaServer


def _encode(wav: Path, out: Path, *args: str) -> Path:
    subprocess.run([ffmpeg_binary(), "-nostdin", "-v", "error", "-y", "-i", str(wav), *args, str(out)], check=True)
    return out


@pytest.fixture(scope="session")
def media_root(tmp_path_factory) -> Path:
    """groove.wav (8 s, 124 BPM), groove.mp3, groove.m4a, long.mp3 (90 s), notaudio.mp3, page.html."""
    root = tmp_path_factory.mktemp("media")
    wav = write_wav(root / "groove.wav", synth_clip(ClipSpec(bpm=124.0, tonic=9, scale="minor", seconds=8.0,
                                                             style="house", seed=5)))
    _encode(wav, root / "groove.mp3", "-b:a", "192k")
    _encode(wav, root / "groove.m4a", "-c:a", "aac", "-b:a", "128k")
    long_wav = write_wav(root / "long.wav", synth_clip(ClipSpec(bpm=128.0, tonic=2, scale="major", seconds=90.0,
                                                                style="house", seed=6)))
    _encode(long_wav, root / "long.mp3", "-b:a", "320k")
    (root / "notaudio.mp3").write_bytes(b"\xff\xfb" + os.urandom(20_000))
    return root


@pytest.fixture
def media_server(media_root: Path) -> Iterator[MediaServer]:
    with MediaServer(media_root) as server:
        yield server


@pytest.fixture
def download_env(monkeypatch, tmp_data_dir: Path, servers) -> Iterator[Path]:
    """Settings for downloads from 127.0.0.1 only (other private addresses stay refused)."""
    for key, value in {
        "DATA_DIR": str(tmp_data_dir),
        "AUDIO_DIR": str(tmp_data_dir / "audio"),
        "DOWNLOAD_ALLOWED_HOSTS": "127.0.0.1,127.0.0.2,localhost,music.apple.com",
        "DOWNLOAD_ALLOW_PRIVATE_NETWORKS": "127.0.0.1/32",
        "DOWNLOAD_TIMEOUT_SECONDS": "2",
        "DOWNLOAD_RETRIES": "0",
        "ESSENTIA_API_URL": "http://127.0.0.1:9",  # nothing listens: analysis is deferred to a job
    }.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    yield tmp_data_dir / "audio"
    get_settings.cache_clear()
