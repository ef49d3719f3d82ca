"""Fixture audio for the analysis tests, synthesized once per session (see audio_fixtures.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from services.common.settings import Settings
from services.essentia_api.app import create_app
from tests.conftest import SERVICE_HEADERS
from tests.essentia_api.audio_fixtures import ClipSpec, encode, synth_clip, write_wav

# 124 BPM house in A minor (i i VI VII: tonic clearly established) and 174 BPM drum and bass in F#
# major; both 20 s so the whole suite stays fast.
HOUSE = ClipSpec(bpm=124.0, tonic=9, scale="minor", seconds=20, progression=1, seed=1)
DNB = ClipSpec(bpm=174.0, tonic=6, scale="major", seconds=20, progression=1, seed=2)
FORMATS = (".mp3", ".m4a", ".flac", ".aiff", ".ogg", ".opus")


@pytest.fixture(scope="session")
def audio_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("audio")
    write_wav(root / "house.wav", synth_clip(HOUSE, stereo=True))
    write_wav(root / "dnb.wav", synth_clip(DNB))
    short = synth_clip(
        ClipSpec(bpm=120, tonic=0, scale="major", seconds=8, progression=1, seed=3), stereo=True
    )
    for ext in FORMATS:
        encode(write_wav(root / "short.wav", short), root / f"short{ext}")
    write_wav(root / "silent.wav", np.zeros(44100 * 10, np.float32))
    write_wav(root / "tiny.wav", synth_clip(HOUSE)[: 44100 * 2])
    (root / "corrupt.mp3").write_bytes(b"ID3\x03\x00\x00\x00\x00\x00\x10" + bytes(range(256)) * 40)
    (root / "empty.flac").write_bytes(b"")
    (root / "sub").mkdir()
    (root / "sub" / "house copy.wav").write_bytes((root / "house.wav").read_bytes())
    return root


@pytest.fixture(scope="session")
def settings(audio_dir: Path) -> Settings:
    return Settings(AUDIO_DIR=str(audio_dir), ANALYSIS_WORKERS=2, ANALYSIS_MAX_UPLOAD_MB=5)


@pytest.fixture(scope="session")
def client(settings: Settings):
    with TestClient(create_app(settings=settings), headers=SERVICE_HEADERS) as c:
        yield c


@pytest.fixture(scope="session")
def house_result(client) -> dict:
    r = client.post("/analyze", json={"path": "house.wav"})
    assert r.status_code == 200, r.text
    return r.json()
