"""The EBU R128 meter (analysis/loudness.py) against the conformance signals of EBU Tech 3341/3342 and
against Essentia's LoudnessEBUR128 at 48 kHz (the one rate where Essentia's meter runs its filters without
resampling)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import lfilter

from services.essentia_api.analysis import ess
from services.essentia_api.analysis.loudness import k_weighting_power, loudness_ebu

RATES = (48000.0, 11025.0)


def _sine(seconds: float, dbfs: float, rate: float, freq: float = 1000.0) -> np.ndarray:
    """Stereo sine, both channels at dbfs (peak level), as the EBU test signals are specified."""
    t = np.arange(int(seconds * rate)) / rate
    x = (10 ** (dbfs / 20) * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    return np.stack([x, x], axis=1)


@pytest.mark.parametrize("rate", RATES)
def test_stereo_sine_at_minus_23_dbfs_reads_minus_23_lufs(rate):
    # EBU Tech 3341 test 1: 1 kHz stereo sine at -23 dBFS -> -23.0 +/- 0.1 LUFS (we hold 0.1 at both rates).
    loud = loudness_ebu(stereo=_sine(20, -23, rate), sample_rate=rate)
    assert loud.integrated_lufs == pytest.approx(-23.0, abs=0.1)
    assert loud.range_lu == pytest.approx(0.0, abs=0.1)


@pytest.mark.parametrize("rate", RATES)
def test_relative_gate_ignores_the_quiet_parts(rate):
    # EBU Tech 3341 test 3: -36 / -23 / -36 dBFS for 10 / 60 / 10 s reads -23.0 +/- 0.1 LUFS: the quiet parts
    # fall below the relative gate (without it the reading would be ~-23.7).
    x = np.concatenate([_sine(10, -36, rate), _sine(60, -23, rate), _sine(10, -36, rate)])
    assert loudness_ebu(stereo=x, sample_rate=rate).integrated_lufs == pytest.approx(-23.0, abs=0.1)


@pytest.mark.parametrize("rate", RATES)
def test_loudness_range_of_two_levels(rate):
    # EBU Tech 3342 test 1: 20 s at -20 dBFS then 20 s at -30 dBFS -> LRA 10 +/- 1 LU.
    x = np.concatenate([_sine(20, -20, rate), _sine(20, -30, rate)])
    loud = loudness_ebu(stereo=x, sample_rate=rate)
    assert loud.range_lu == pytest.approx(10.0, abs=1.0)
    # Short-term values every 100 ms over full 3 s windows.
    assert len(loud.short_term) == int((40 - 3) / 0.1) + 1
    assert loud.short_term[0] == pytest.approx(-20.0, abs=0.1)
    assert loud.short_term[-1] == pytest.approx(-30.0, abs=0.1)


def test_silence_reads_the_absolute_gate():
    loud = loudness_ebu(stereo=np.zeros((48000 * 10, 2), np.float32), sample_rate=48000.0)
    assert loud.integrated_lufs == pytest.approx(-70.0)
    assert loud.range_lu == 0.0


def test_correction_is_added_to_every_level():
    x = _sine(10, -23, 11025.0)
    plain = loudness_ebu(stereo=x, sample_rate=11025.0)
    corrected = loudness_ebu(stereo=x, sample_rate=11025.0, correction_db=1.5)
    assert corrected.integrated_lufs == pytest.approx(plain.integrated_lufs + 1.5)
    np.testing.assert_allclose(corrected.short_term, plain.short_term + 1.5, rtol=0, atol=1e-4)
    assert corrected.range_lu == pytest.approx(plain.range_lu)


def _stepped_noise(rate: float, *, sub_bass: bool) -> np.ndarray:
    """60 s of stereo noise whose level moves in 5 s steps; sub_bass adds a random walk (rumble) on the
    left."""
    rng = np.random.default_rng(3)
    noise = rng.standard_normal((int(60 * rate), 2)).astype(np.float32)
    if sub_bass:
        noise[:, 0] += np.cumsum(rng.standard_normal(len(noise))).astype(np.float32) * 0.02
    levels = np.repeat(10 ** (rng.uniform(-30, -8, 12) / 20), int(5 * rate)).astype(np.float32)
    return np.clip(noise * levels[:, None] * 0.3, -1, 1)


def test_agrees_with_essentia_at_48_khz():
    x = _stepped_noise(48000.0, sub_bass=False)
    ours = loudness_ebu(stereo=x, sample_rate=48000.0)
    _m, short, integrated, lra = ess().LoudnessEBUR128(sampleRate=48000.0, hopSize=0.1)(x)
    assert ours.integrated_lufs == pytest.approx(float(integrated), abs=0.02)
    assert ours.range_lu == pytest.approx(float(lra), abs=0.05)
    n = min(len(short), len(ours.short_term)) - 5  # Essentia adds zero-padded windows at the end
    np.testing.assert_allclose(ours.short_term[:n], np.asarray(short)[:n], atol=0.02)


def test_heavy_sub_bass_keeps_its_precision():
    # A rumble puts most of the signal below the 38 Hz high-pass, where a float32 direct-form filter loses
    # the rest: Essentia's meter reads this signal ~1 LU loud. The reference here: BS.1770's published 48 kHz
    # coefficients in float64 direct form (scipy lfilter), block powers of 400 ms every 100 ms, both gates.
    x = _stepped_noise(48000.0, sub_bass=True)
    y = x.astype(np.float64)
    y = lfilter([1.53512485958697, -2.69169618940638, 1.19839281085285],
                [1.0, -1.69065929318241, 0.73248077421585], y, axis=0)
    y = lfilter([1.0, -2.0, 1.0], [1.0, -1.99004745483398, 0.99007225036621], y, axis=0)
    power = (y**2).sum(axis=1)
    blocks = np.array([power[s : s + 19200].mean() for s in range(0, len(power) - 19200 + 1, 4800)])
    blocks = blocks[blocks >= 10 ** ((-70 + 0.691) / 10)]
    blocks = blocks[blocks >= blocks.mean() / 10]
    reference = -0.691 + 10 * np.log10(blocks.mean())
    assert loudness_ebu(stereo=x, sample_rate=48000.0).integrated_lufs == pytest.approx(reference, abs=0.02)


def test_k_weighting_is_flat_at_1_khz_and_lifts_the_top():
    # About +0.7 dB at 1 kHz at 48 kHz (BS.1770's 997 Hz calibration), ~+4 dB at 8 kHz, -inf towards DC.
    freqs = np.array([20.0, 1000.0, 8000.0])
    db = 10 * np.log10(k_weighting_power(freqs, 48000.0))
    assert db[1] == pytest.approx(0.69, abs=0.1)
    assert db[2] == pytest.approx(4.0, abs=0.3)
    assert db[0] < -10
