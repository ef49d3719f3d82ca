"""Loudness (EBU R128), danceability and the 1-10 energy rating.

The rating is a transparent descriptor formula (not a trained model): loudness, percussive density,
brightness, spectral movement, tempo and danceability, each mapped to 0..1 over the range club
music spans, weighted, and spread over 1..10 like Mixed In Key's scale (most club tracks 5-8).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from services.essentia_api.analysis import ess
from services.essentia_api.analysis.spectral import Stft


@dataclass
class Loudness:
    integrated_lufs: float
    range_lu: float
    short_term: np.ndarray


def loudness_ebu(*, stereo: np.ndarray, sample_rate: float, correction_db: float = 0.0) -> Loudness:
    """Essentia's EBU R128 meter; correction_db restores energy lost to decimation (see loading)."""
    _m, short, integrated, lra = ess().LoudnessEBUR128(sampleRate=sample_rate, hopSize=0.1)(stereo)
    return Loudness(float(integrated) + correction_db, float(lra), np.asarray(short) + correction_db)


def danceability(*, signal: np.ndarray, sample_rate: float) -> tuple[float, float]:
    """(normalized 0..1, raw). Essentia's DFA-based value runs about 0..3 on music."""
    raw, _dfa = ess().Danceability(sampleRate=sample_rate)(signal)
    return float(np.clip(raw / 3.0, 0.0, 1.0)), float(raw)


@dataclass
class SpectralSummary:
    rms_db: float
    centroid_hz: float
    flux: float
    low_ratio: float


def spectral_summary(*, st: Stft) -> SpectralSummary:
    power = st.mag**2
    total = power.sum(axis=1)
    active = total > 1e-6 * max(total.max(), 1e-12)
    p = power[active] if active.any() else power
    t = p.sum(axis=1) + 1e-12
    centroid = float(np.median((p @ st.freqs) / t))
    mag = np.sqrt(p)
    norm = mag / (mag.sum(axis=1, keepdims=True) + 1e-12)
    flux = float(np.mean(np.maximum(np.diff(norm, axis=0), 0).sum(axis=1))) if len(norm) > 1 else 0.0
    low_ratio = float(p[:, st.freqs < 250].sum() / p.sum()) if p.sum() > 0 else 0.0
    # Frame power -> RMS of the windowed frames (Hann window gain ~0.375 in power, 512-point FFT).
    n_fft = 2 * (st.mag.shape[1] - 1)
    rms = np.sqrt(total[active].mean() / (n_fft * n_fft / 2 * 0.375)) if active.any() else 1e-9
    return SpectralSummary(float(20 * np.log10(max(rms, 1e-9))), centroid, flux, low_ratio)


def _unit(x: float, lo: float, hi: float) -> float:
    return float(np.clip((x - lo) / (hi - lo), 0.0, 1.0))


def energy_rating(
    *, lufs: float, onset_rate: float, centroid_hz: float, flux: float, bpm: float, dance: float, lra: float
) -> tuple[int, float]:
    score = (
        0.30 * _unit(lufs, -24.0, -6.0)
        + 0.20 * _unit(onset_rate, 1.0, 9.0)
        + 0.15 * _unit(centroid_hz, 400.0, 2500.0)
        + 0.10 * _unit(flux, 0.05, 0.35)
        + 0.10 * _unit(bpm, 70.0, 175.0)
        + 0.15 * dance
        - 0.05 * _unit(lra, 6.0, 20.0)  # very dynamic material feels less relentless
    )
    score = float(np.clip(score, 0.0, 1.0))
    return int(np.clip(round(1 + 9 * score), 1, 10)), score
