"""The pulse, danceability and the 1-10 energy rating (loudness: analysis/loudness.py).

Danceability needs a beat you can hear. Essentia's `Danceability` (Streich's DFA of the 10 ms
amplitude envelope) is scale-free: it reads any stationary signal (a sine tone, a held chord) as
perfectly "regular" and answers 30..500 for it, so on its own it cannot tell a tone from a groove.
It is therefore weighted by the *pulse* (`pulse_features`), measured on band-energy rises in dB:
how strongly onsets sit on the beat grid (beat-synchronous contrast over the median rise) and how
periodic they are at the beat period (autocorrelation salience). A tone, noise or silence has no
onsets above its own fluctuation and no periodicity, so it scores ~0 whatever its level.

The energy rating is a transparent descriptor formula (not a trained model): loudness, percussive
onset density, brightness, and, scaled by danceability, spectral movement and tempo (a tempo or
spectral flux read from a signal without a pulse means nothing), each mapped to 0..1 over the range
club music spans, weighted, and spread over 1..10 like Mixed In Key's scale (most club tracks 5-8).
Every input is kept in `energy_features`, so the rating can be re-derived.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

import numpy as np

from services.essentia_api.analysis import ess
from services.essentia_api.analysis.spectral import Stft


def _unit(x: float, lo: float, hi: float) -> float:
    return float(np.clip((x - lo) / (hi - lo), 0.0, 1.0))


def _finite(x: float, default: float = 0.0) -> float:
    return float(x) if np.isfinite(x) else default


# Band edges (Hz) of the onset envelope: kick, bass, low mids, mids/snare body, hats.
_BANDS = (0.0, 150.0, 400.0, 1000.0, 2500.0, 6000.0)
# Band power is smoothed over 3 frames (35 ms) and rises are taken over 3 frames: a steady tone's
# frame-to-frame ripple (partial periods in a 23 ms frame) cancels, a drum hit's 10-40 dB does not.
_SMOOTH = 3
_LAG = 3
_ONSET_DB = 3.0  # a percussive onset: the band-mean rise exceeds its median by this much (dB)
_PEAK_HALF_WIDTH = 4  # onsets closer than ~45 ms count once


@dataclass
class Pulse:
    """How audible and regular the beat is. strength_db: mean band-energy rise (dB per 35 ms) at the
    beats over the median rise; clarity: autocorrelation of the rises at the beat period and its
    multiples (0..1); onset_rate: percussive onsets per second; score: 0..1 (see pulse_features)."""

    strength_db: float
    clarity: float
    onset_rate: float
    score: float


def onset_envelope(*, st: Stft) -> np.ndarray:
    """Mean over five bands of the positive rise of band energy in dB (level independent)."""
    power = st.mag.astype(np.float64) ** 2
    bands = np.stack(
        [power[:, (st.freqs >= lo) & (st.freqs < hi)].sum(axis=1) for lo, hi in pairwise(_BANDS)],
        axis=1,
    )
    if len(bands) <= _LAG + _SMOOTH:
        return np.zeros(len(bands))
    kernel = np.ones(_SMOOTH) / _SMOOTH
    bands = np.stack([np.convolve(bands[:, b], kernel, mode="same") for b in range(bands.shape[1])], axis=1)
    # Floor 80 dB under the loudest band frame: fades and near-silence add no fake rises.
    floor = max(float(bands.max()) * 1e-8, 1e-12)
    level = 10.0 * np.log10(bands + floor)
    env = np.zeros(len(level))
    env[_LAG:] = np.maximum(level[_LAG:] - level[:-_LAG], 0.0).mean(axis=1)
    env[: _LAG + _SMOOTH] = 0.0  # the start of the file is not an onset
    return np.nan_to_num(env)


def _beat_salience(env: np.ndarray, lag: float, *, multiples: int = 4, tol: float = 0.02) -> float:
    """Normalised autocorrelation of env at lag, 2*lag, ... (best within +-tol), averaged."""
    x = env - env.mean()
    if lag < 2 or len(x) < 2 * lag or float(np.std(env)) < 0.05:  # no variation: no periodicity
        return 0.0
    n = 1 << int(np.ceil(np.log2(2 * len(x))))
    spec = np.fft.rfft(x, n)
    acf = np.fft.irfft(spec * np.conj(spec), n)[: len(x)]
    acf /= max(float(acf[0]), 1e-12)
    vals = []
    for k in range(1, multiples + 1):
        lo, hi = int(np.floor(k * lag * (1 - tol))), int(np.ceil(k * lag * (1 + tol))) + 1
        if hi >= len(acf):
            break
        vals.append(float(acf[lo:hi].max()))
    return float(np.clip(np.mean(vals), 0.0, 1.0)) if vals else 0.0


def pulse_features(*, st: Stft, beats: np.ndarray, bpm: float, duration: float) -> Pulse:
    """The pulse on the beat grid the rhythm stage found.

    score = strength x clarity: strength 1 - exp(-(strength_db - 0.75) / 3) (0 at 0.75 dB, the
    level of noise's own fluctuation; 0.6 at 3.5 dB; ~1 from 12 dB), clarity mapped 0.15..0.55 to
    0..1 (noise, tones and free-time piano stay under 0.15; generated and rendered grooves, also
    limited or under pink noise at 10 dB SNR, read 0.55..0.9).
    """
    env = onset_envelope(st=st)
    if env.size == 0:
        return Pulse(0.0, 0.0, 0.0, 0.0)
    median = float(np.median(env))
    # Percussive onsets: local maxima (+-45 ms) rising _ONSET_DB above the median rise.
    w = _PEAK_HALF_WIDTH
    local_max = np.lib.stride_tricks.sliding_window_view(np.pad(env, w), 2 * w + 1).max(axis=1)
    onsets = int(np.count_nonzero((env >= local_max) & (env > median + _ONSET_DB)))
    onset_rate = onsets / max(duration, 1e-9)
    idx = np.round(np.asarray(beats, np.float64) * st.frame_rate).astype(int)
    idx = idx[(idx >= 2) & (idx < len(env) - 2)]
    if bpm <= 0 or idx.size < 4:
        return Pulse(0.0, 0.0, float(onset_rate), 0.0)
    at_beats = np.stack([env[idx + o] for o in (-2, -1, 0, 1, 2)]).max(axis=0)
    strength_db = max(float(at_beats.mean()) - median, 0.0)
    clarity = _beat_salience(env, 60.0 / bpm * st.frame_rate)
    strength = 1.0 - float(np.exp(-max(strength_db - 0.75, 0.0) / 3.0))
    score = strength * _unit(clarity, 0.15, 0.55)
    return Pulse(strength_db, clarity, float(onset_rate), float(np.clip(score, 0.0, 1.0)))


def dfa_unit(raw: float) -> float:
    """Essentia's Danceability (1 / mean DFA exponent) to 0..1: 0.5 (a free-time piano or string
    piece reads ~0.8-0.9) maps to 0, 2.0 and above (steady grooves) to 1."""
    return _unit(raw, 0.5, 2.0) if np.isfinite(raw) else 0.0


def danceability(*, signal: np.ndarray, sample_rate: float, pulse: Pulse) -> tuple[float, float]:
    """(0..1, Essentia's raw value).

    The pulse decides (no audible periodic beat: not danceable); the DFA value then ranks grooves
    within 60..100% of it. Before analyzer 1.3 the value was raw / 3 clipped to 0..1, which put a
    sine tone (raw ~550), a held chord (~30) and every generated groove (3..9) at 1.00.
    """
    if signal.size == 0 or not np.any(signal):
        return 0.0, 0.0
    raw, _dfa = ess().Danceability(sampleRate=sample_rate)(signal)
    raw = _finite(raw)
    dance = pulse.score * (0.6 + 0.4 * dfa_unit(raw))
    return float(np.clip(dance, 0.0, 1.0)), raw


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


def energy_rating(
    *, lufs: float, onset_rate: float, centroid_hz: float, flux: float, bpm: float, dance: float, lra: float
) -> tuple[int, float]:
    """(1..10, 0..1). Tempo and spectral flux count only as far as the track is danceable: a tone
    gets a tempo reading and white noise maximal flux, neither makes them energetic."""
    lufs = _finite(lufs, -70.0)  # silence: the meter answers -inf
    onset_rate, centroid_hz, flux, bpm, lra = map(_finite, (onset_rate, centroid_hz, flux, bpm, lra))
    dance = float(np.clip(_finite(dance), 0.0, 1.0))
    score = (
        0.30 * _unit(lufs, -24.0, -6.0)
        + 0.25 * dance
        + 0.15 * _unit(onset_rate, 1.0, 8.0)
        + 0.10 * _unit(centroid_hz, 400.0, 2500.0)
        + 0.10 * dance * _unit(flux, 0.05, 0.35)
        + 0.10 * dance * _unit(bpm, 70.0, 175.0)
        - 0.05 * _unit(lra, 6.0, 20.0)  # very dynamic material feels less relentless
    )
    score = float(np.clip(score, 0.0, 1.0))
    return int(np.clip(round(1 + 9 * score), 1, 10)), score
