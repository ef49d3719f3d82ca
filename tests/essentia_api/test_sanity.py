"""Danceability and energy separate a groove from a tone, noise or silence (issue 13).

Every clip is generated here with numpy: sine tones, white noise, silence and near-silence, and a
four-on-the-floor loop at 124 BPM (kick on the beat, hat and bass on the off-beat) at a quiet, a
normal and a loud (soft-clipped, club-master) level. Before analyzer 1.3 every one of them scored
danceability 1.00 except noise (0.77), and the loud tone and noise got energy 7, more than the loop.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from services.common.contracts.analysis import ANALYZER_VERSION, AnalysisResult
from services.essentia_api.analysis.energy import danceability, energy_rating, pulse_features
from services.essentia_api.analysis.pipeline import analyze_file
from services.essentia_api.analysis.spectral import stft
from services.essentia_api.errors import SilentAudio
from tests.essentia_api.audio_fixtures import wav_bytes, write_wav

SR = 44100
SECONDS = 16.0
BPM = 124.0


def _time() -> np.ndarray:
    return np.arange(int(SECONDS * SR)) / SR


def tone(freq: float, amp: float = 0.5) -> np.ndarray:
    return (amp * np.sin(2 * np.pi * freq * _time())).astype(np.float32)


def white_noise(rms: float = 0.25, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal(int(SECONDS * SR))
    return (rms * np.clip(x, -4, 4)).astype(np.float32)


def four_on_the_floor(*, level: str = "normal", bpm: float = BPM) -> np.ndarray:
    """Kick on every beat, a closed hat and a bass note on every off-beat."""
    rng = np.random.default_rng(7)
    n = int(SECONDS * SR)
    beat = 60.0 / bpm
    t_kick = np.arange(int(0.3 * SR)) / SR
    kick = np.sin(2 * np.pi * np.cumsum(45 + 110 * np.exp(-t_kick / 0.03)) / SR) * np.exp(-t_kick / 0.09)
    kick *= np.minimum(1.0, (t_kick[-1] - t_kick) / 0.05)  # fade out: a cut-off tail clicks
    hat = np.diff(rng.standard_normal(int(0.05 * SR)), n=2, prepend=[0.0, 0.0])
    hat *= 0.1 * np.exp(-np.arange(hat.size) / (0.012 * SR))
    t_bass = np.arange(int(0.45 * beat * SR)) / SR
    bass = sum(np.sin(2 * np.pi * 55 * h * t_bass) / h for h in range(1, 6)) * np.exp(-t_bass / 0.4)
    out = np.zeros(n)
    for i in range(int(SECONDS / beat) + 1):
        for sound, at, gain in ((kick, i, 0.9), (hat, i + 0.5, 0.6), (bass, i + 0.5, 0.4)):
            start = int(at * beat * SR)
            end = min(n, start + sound.size)
            if start < n:
                out[start:end] += gain * sound[: end - start]
    out /= np.abs(out).max()
    if level == "quiet":
        out *= 0.05
    elif level == "loud":
        out = np.tanh(3.0 * out) / np.tanh(3.0) * 0.95  # limited like a club master
    else:
        out *= 0.7
    return out.astype(np.float32)


CLIPS = {
    "tone_440": lambda: tone(440.0),
    "tone_55": lambda: tone(55.0, 0.7),
    "tone_3k": lambda: tone(3000.0, 0.3),
    "noise": white_noise,
    "near_silence": lambda: white_noise(rms=0.0015, seed=1),  # hiss just above the -60 dBFS gate
    "loop_quiet": lambda: four_on_the_floor(level="quiet"),
    "loop": four_on_the_floor,
    "loop_loud": lambda: four_on_the_floor(level="loud"),
}
NOT_GROOVES = ("tone_440", "tone_55", "tone_3k", "noise", "near_silence")
LOOPS = ("loop_quiet", "loop", "loop_loud")


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> dict[str, AnalysisResult]:
    root = tmp_path_factory.mktemp("sanity")
    return {
        name: analyze_file(path=str(write_wav(root / f"{name}.wav", make()))) for name, make in CLIPS.items()
    }


def _numbers(res: AnalysisResult) -> list[float]:
    return [
        res.danceability,
        res.danceability_raw,
        res.energy,
        res.energy_score,
        *res.energy_features.model_dump().values(),
        *res.moods.model_dump().values(),
    ]


@pytest.mark.parametrize("name", NOT_GROOVES)
def test_tones_noise_and_near_silence_are_not_danceable(results, name):
    res = results[name]
    assert res.danceability < 0.3, (name, res.danceability, res.danceability_raw)
    assert all(math.isfinite(v) for v in _numbers(res))


@pytest.mark.parametrize("name", LOOPS)
def test_four_on_the_floor_is_danceable_at_any_level(results, name):
    res = results[name]
    assert res.bpm == pytest.approx(BPM, rel=0.01)
    assert res.danceability > 0.5, (name, res.danceability)
    best_other = max(results[n].danceability for n in NOT_GROOVES)
    assert res.danceability - best_other > 0.4


def test_danceability_is_not_essentias_raw_value_clipped(results):
    # Essentia's DFA reads a steady tone as perfectly regular (raw in the hundreds); raw / 3 clipped
    # was the old 0..1 value and gave the tone 1.00.
    assert results["tone_440"].danceability_raw > 3
    assert results["tone_440"].danceability < 0.3


def test_energy_needs_a_groove_not_just_level(results):
    loud = results["loop_loud"]
    for name in ("tone_440", "noise"):
        other = results[name]
        # Compared at a similar integrated loudness, so level alone cannot explain the gap.
        assert abs(other.loudness_lufs - loud.loudness_lufs) < 4, (name, other.loudness_lufs)
        assert other.energy <= 5, (name, other.energy)
        assert loud.energy >= other.energy + 2, (name, other.energy, loud.energy)
    assert results["near_silence"].energy <= 3
    assert results["loop"].energy > max(results[n].energy for n in ("tone_440", "tone_55", "tone_3k"))


def test_energy_rises_with_level_for_the_same_groove(results):
    quiet, normal, loud = (results[n] for n in LOOPS)
    assert quiet.loudness_lufs < normal.loudness_lufs < loud.loudness_lufs
    assert quiet.energy_score < normal.energy_score < loud.energy_score
    assert quiet.energy < loud.energy


def test_onset_rate_counts_drum_hits_not_tone_ripple(results):
    # The loop has 2 hits per beat (~4.1/s), merged where kick and bass share a band rise.
    assert 1.5 < results["loop"].energy_features.onset_rate < 5.0
    for name in NOT_GROOVES:
        assert results[name].energy_features.onset_rate < 0.2, name


def test_silence_is_a_clear_error_not_nan(tmp_path):
    path = write_wav(tmp_path / "silence.wav", np.zeros(int(SECONDS * SR), np.float32))
    with pytest.raises(SilentAudio):
        analyze_file(path=str(path))


def test_feature_functions_on_digital_silence_are_zero_and_finite():
    zeros = np.zeros(int(SECONDS * 11025), np.float32)
    st = stft(signal=zeros, sample_rate=11025.0)
    beats = np.arange(0.0, SECONDS, 60.0 / BPM)
    pulse = pulse_features(st=st, beats=beats, bpm=BPM, duration=SECONDS)
    assert (pulse.strength_db, pulse.clarity, pulse.onset_rate, pulse.score) == (0.0, 0.0, 0.0, 0.0)
    assert danceability(signal=zeros, sample_rate=11025.0, pulse=pulse) == (0.0, 0.0)
    energy, score = energy_rating(
        lufs=float("-inf"), onset_rate=0.0, centroid_hz=float("nan"), flux=0.0, bpm=0.0, dance=0.0, lra=0.0
    )
    assert (energy, score) == (1, 0.0)


def test_http_upload_separates_tone_from_loop(client):
    got = {}
    for name, signal in (("tone", tone(440.0)), ("loop", four_on_the_floor())):
        r = client.post("/analyze", files={"file": (f"{name}.wav", wav_bytes(signal), "audio/wav")})
        assert r.status_code == 200, r.text
        got[name] = r.json()
        assert got[name]["analyzer_version"] == ANALYZER_VERSION
    assert got["tone"]["danceability"] < 0.3
    assert got["loop"]["danceability"] > 0.5
    assert got["tone"]["energy"] < got["loop"]["energy"]
