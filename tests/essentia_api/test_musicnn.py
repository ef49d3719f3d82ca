"""The bundled MusiCNN tagger: front end against librosa, ONNX model against TensorFlow, excerpts, moods.

Reference numbers below were computed once with librosa 0.11 and TensorFlow 2.21 (scripts/musicnn_to_onnx.py's
environment); neither is a project dependency.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from services.common.contracts.analysis import MOOD_NAMES
from services.essentia_api.analysis import musicnn
from services.essentia_api.analysis.mood import DESCRIPTOR, MoodInputs, MusicnnMood, predict_moods
from services.essentia_api.analysis.pipeline import AnalysisOptions, analyze_file

MODEL_SHA256 = "151ea63bda10c4d400762e7194ef3c670466a628577dbe45eb34334b5b57c5fd"

# librosa.filters.mel(sr=16000, n_fft=512, n_mels=96): every 8th row's sum and peak bin.
LIBROSA_ROW_SUMS = [0.0319992, 0.0319992, 0.0319992, 0.0319992, 0.0315156, 0.0297316, 0.0330689, 0.033116,
                    0.0318938, 0.0318849, 0.0320352, 0.0321049]
LIBROSA_ROW_PEAKS = [1, 9, 17, 25, 33, 42, 55, 71, 92, 119, 153, 198]
# log10(10000 * librosa.feature.melspectrogram(..., center=False) + 1) of _test_signal():
# every 8th band's mean.
LIBROSA_BAND_MEANS = [0.703125, 0.741884, 1.29428, 0.727642, 0.796234, 0.730242, 0.787549, 0.794985,
                      0.768771, 0.808797, 0.798878, 0.822208]
# TensorFlow on the musicnn checkpoint, is_training False, mean over the two patches of _random_patches().
TENSORFLOW_TAGS = [
    0.0278875, 0.0130268, 0.0167348, 0.000240892, 0.0510974, 0.00356048, 0.0238403, 0.00824907, 0.012289,
    4.22683e-05, 0.00155536, 0.263171, 0.00160257, 0.00195994, 6.68302e-05, 0.000182829, 7.41786e-05,
    0.000173429, 0.0120375, 0.000207008, 2.07409e-06, 0.0201732, 0.00148372, 0.00350006, 3.84991e-05,
    4.85544e-07, 4.93155e-07, 0.00846432, 0.00921072, 3.38078e-06, 0.0212605, 0.000605236, 2.66862e-05,
    0.00712289, 4.65527e-07, 0.00341175, 2.09576e-06, 9.64579e-05, 0.00484008, 0.00229364, 0.000216234,
    0.00140261, 0.00204953, 0.0014906, 1.01553e-06, 0.0119478, 2.62095e-06, 0.000200925, 0.000728587,
    4.41503e-05,
]


def _test_signal() -> np.ndarray:
    t = np.arange(musicnn.PATCH_SAMPLES) / musicnn.SAMPLE_RATE
    noise = 0.01 * np.random.default_rng(7).standard_normal(musicnn.PATCH_SAMPLES)
    return (0.3 * np.sin(2 * np.pi * 440 * t) + 0.2 * np.sin(2 * np.pi * 3000 * t) + noise).astype(np.float32)


def _random_patches() -> np.ndarray:
    return (np.random.default_rng(2026).random((2, 187, 96)) * 4).astype(np.float32)


def test_shipped_model_is_the_converted_checkpoint():
    assert hashlib.sha256(musicnn.MODEL_PATH.read_bytes()).hexdigest() == MODEL_SHA256


def test_mel_filterbank_matches_librosa():
    bank = musicnn.mel_filterbank()
    assert bank.shape == (96, 257)
    np.testing.assert_allclose(bank.sum(axis=1)[::8], LIBROSA_ROW_SUMS, rtol=1e-5)
    assert bank.argmax(axis=1)[::8].tolist() == LIBROSA_ROW_PEAKS


def test_log_mel_patch_matches_librosa():
    patch = musicnn.log_mel_patch(_test_signal())
    assert patch.shape == (musicnn.PATCH_FRAMES, musicnn.N_MELS) and patch.dtype == np.float32
    np.testing.assert_allclose(patch.mean(axis=0)[::8], LIBROSA_BAND_MEANS, rtol=1e-4)


def test_onnx_model_matches_tensorflow():
    tags = musicnn.MusicnnTagger().tags(_random_patches())
    assert list(tags) == list(musicnn.MSD_TAGS)
    np.testing.assert_allclose(list(tags.values()), TENSORFLOW_TAGS, rtol=1e-4, atol=1e-6)


def test_excerpts_resampled_from_another_rate_give_the_same_patch():
    # A 16 kHz patch and the same sound at 44.1 kHz, cut with the margins, give (nearly) the same input.
    t44 = np.arange(round(musicnn.EXCERPT_SECONDS * 44100) + 1) / 44100
    at44 = (0.3 * np.sin(2 * np.pi * 440 * t44) + 0.2 * np.sin(2 * np.pi * 1500 * t44)).astype(np.float32)
    margin = musicnn.EXCERPT_MARGIN_SECONDS
    t16 = margin + np.arange(musicnn.PATCH_SAMPLES) / 16000
    at16 = (0.3 * np.sin(2 * np.pi * 440 * t16) + 0.2 * np.sin(2 * np.pi * 1500 * t16)).astype(np.float32)
    got = musicnn.excerpt_patches([at44], 44100)[0]
    assert np.abs(got - musicnn.log_mel_patch(at16)).max() < 0.01


@pytest.mark.parametrize("duration", [5.0, 30.0, 95.0, 301.0, 3600.0])
def test_excerpts_cover_the_track_inside_its_bounds(duration):
    count = musicnn.patch_count(duration)
    assert 1 <= count <= 8 and count == min(8, max(1, round(duration / 30)))
    starts = musicnn.excerpt_starts(duration, count)
    assert len(starts) == count and starts == sorted(starts)
    end = max(duration, musicnn.EXCERPT_SECONDS)
    assert all(0 <= s and s + musicnn.EXCERPT_SECONDS <= end for s in starts)
    if count > 1:  # centred in equal parts: neither end of the track is favoured
        assert starts[0] + starts[-1] + musicnn.EXCERPT_SECONDS == pytest.approx(duration, abs=1e-6)


def _inputs(**kw) -> MoodInputs:
    base = {"path": "x", "bpm": 124, "scale": "minor", "energy_score": 0.6, "danceability": 0.7,
            "centroid_hz": 1500, "loudness_lufs": -9, "onset_rate": 4, "flux": 0.2}
    return MoodInputs(**{**base, **kw})


def test_musicnn_moods_are_cube_roots_of_their_strongest_tag(monkeypatch):
    backend = MusicnnMood()
    fake = {t: 0.001 for t in musicnn.MSD_TAGS} | {"happy": 0.125, "chill": 0.008, "Mellow": 0.064,
                                                    "hard rock": 0.216}

    class Tagger:
        def tags(self, patches):
            assert patches.shape == (2, musicnn.PATCH_FRAMES, musicnn.N_MELS)
            return fake

    backend._tagger = Tagger()
    excerpt = np.zeros(round(musicnn.EXCERPT_SECONDS * 22050) + 1, np.float32)
    inputs = _inputs(excerpts=[excerpt, excerpt], excerpt_rate=22050)
    scores, name = predict_moods(backend=backend, inputs=inputs)
    assert name == "musicnn-msd" and set(scores) == set(MOOD_NAMES)
    assert scores == {"happy": 0.5, "sad": 0.1, "aggressive": 0.6, "relaxed": 0.4, "party": 0.1}


def test_musicnn_without_excerpts_degrades_to_descriptor():
    scores, name = predict_moods(backend=MusicnnMood(), inputs=_inputs())
    assert name == DESCRIPTOR and set(scores) == set(MOOD_NAMES)


def test_analysis_uses_the_model_and_descriptor_on_request(audio_dir):
    path = str(audio_dir / "house.wav")
    model = analyze_file(path=path)
    assert model.mood_model == "musicnn-msd"
    assert all(0 <= v <= 1 for v in model.moods.model_dump().values())
    descriptor = analyze_file(path=path, options=AnalysisOptions(mood_model="descriptor"))
    assert descriptor.mood_model == DESCRIPTOR
    assert model.moods != descriptor.moods
    # Everything but the moods is the same analysis.
    same = {"bpm", "camelot", "energy", "danceability", "loudness_lufs", "beats"}
    assert model.model_dump(include=same) == descriptor.model_dump(include=same)
