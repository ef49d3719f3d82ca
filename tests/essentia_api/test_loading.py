"""Decoding (analysis/loading.py): libsndfile where it reads the format, AudioLoader for the rest; the same
samples either way."""

from __future__ import annotations

import numpy as np
import pytest

from services.essentia_api.analysis import loading


@pytest.mark.parametrize(
    ("ext", "codec"),
    [(".flac", "flac"), (".aiff", "pcm_s16be"), (".mp3", "mp3"), (".ogg", "vorbis"), (".opus", "opus")],
)
def test_libsndfile_decodes_its_formats(audio_dir, ext, codec):
    decoded = loading._sndfile_load(str(audio_dir / f"short{ext}"))
    assert decoded is not None
    audio, rate, channels, name = decoded
    assert name == codec and channels == 2 and audio.dtype == np.float32 and audio.shape[1] == 2
    assert audio.shape[0] / rate == pytest.approx(8.0, abs=0.1)


def test_other_formats_go_to_audioloader(audio_dir):
    path = str(audio_dir / "short.m4a")
    assert loading._sndfile_load(path) is None  # AAC in MP4: not libsndfile's
    assert loading.load_audio(path=path).codec == "aac"


@pytest.mark.parametrize("ext", [".flac", ".wav", ".mp3"])
def test_both_decoders_give_the_same_samples(audio_dir, ext):
    path = str(audio_dir / ("house.wav" if ext == ".wav" else f"short{ext}"))
    ours, rate, _channels, _codec = loading._sndfile_load(path)
    theirs, their_rate, _c, _n = loading._essentia_load(path)
    assert rate == their_rate and ours.shape == theirs.shape
    # Lossless: bit-identical; MP3: two decoders, within 1e-4 and no offset.
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=0 if ext != ".mp3" else 1e-4)


def test_unreadable_files_keep_audioloaders_message(audio_dir):
    assert loading._sndfile_load(str(audio_dir / "corrupt.mp3")) is None
    with pytest.raises(loading.UnreadableAudio, match="cannot decode audio"):
        loading.load_audio(path=str(audio_dir / "corrupt.mp3"))


def test_decimation_keeps_the_band_in_place_and_drops_what_would_alias():
    rate = 44100.0
    t = np.arange(int(4 * rate)) / rate
    low = np.sin(2 * np.pi * 1000.0 * t).astype(np.float32)
    high = np.sin(2 * np.pi * 7000.0 * t).astype(np.float32)  # above the new Nyquist (5512.5 Hz)
    out = loading._decimate(np.stack([low, high], axis=1), 4)
    assert out.shape == (len(t) // 4, 2) and out.dtype == np.float32
    inner = slice(1000, -1000)
    # The 1 kHz tone keeps its level and its phase (no delay); the 7 kHz one is gone instead of folding to 4 kHz.
    np.testing.assert_allclose(out[inner, 0], low[::4][inner], atol=2e-3)
    assert np.sqrt(np.mean(out[inner, 1] ** 2)) < 1e-3


def test_decimator_response_is_flat_then_falls_to_zero_at_the_new_nyquist():
    freqs = np.array([100.0, 2000.0, 4500.0, 5400.0, 5512.5, 6000.0])
    power = loading._decimator_response(4, freqs, 44100.0)
    np.testing.assert_allclose(power[:3], 1.0, atol=2e-3)
    assert power[3] < 0.5 and power[4] == pytest.approx(0.0, abs=1e-3) and power[5] == 0.0


def test_excerpts_are_native_rate_mono_cut_where_asked(audio_dir):
    path = str(audio_dir / "short.flac")
    audio, rate, _channels, _codec = loading._sndfile_load(path)
    asked = []

    def starts(duration):
        asked.append(duration)
        return [0.0, 2.5, 100.0]  # the last lies past the end: cut from the end instead

    loaded = loading.load_audio(path=path, excerpt_starts=starts, excerpt_seconds=1.0)
    assert asked == [pytest.approx(loaded.duration)]
    length = round(1.0 * rate) + 1
    mono = audio[:, :2].mean(axis=1)
    first = round(2.5 * rate)
    assert [len(e) for e in loaded.excerpts] == [length] * 3
    np.testing.assert_allclose(loaded.excerpts[1], mono[first:first + length], atol=1e-7)
    np.testing.assert_allclose(loaded.excerpts[2], mono[-length:], atol=1e-7)
    assert loading.load_audio(path=path).excerpts == []
