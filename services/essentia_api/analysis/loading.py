"""Decode once with Essentia's AudioLoader, then derive the signals every feature needs."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import resample_poly

from services.essentia_api.analysis import ess
from services.essentia_api.errors import EmptyAudio, SilentAudio, TooShort, UnreadableAudio

# Rhythm, key, danceability and spectral features run on a ~11 kHz mono mix: everything they use
# lies below 5 kHz, and a quarter of the samples is what makes 100x real time reachable.
ANALYSIS_RATE = 11025
# EBU R128 is measured on the same decimated stereo pair: the meter costs 1.5 s per 5 minutes at
# 44.1 kHz, a quarter of that here; what is lost is K-weighted energy above 5.5 kHz (cymbals, air),
# measured in docs/benchmarks.md as a small, mostly negative offset.
MIN_SECONDS = 5.0
SILENCE_DBFS = -60.0


@dataclass
class LoadedAudio:
    stereo_lo: np.ndarray  # (n, 2) float32 at lo_rate (mono files: both channels equal)
    sample_rate: int
    channels: int
    codec: str | None
    mono_lo: np.ndarray  # mono mix at lo_rate
    lo_rate: float
    duration: float


def _decimate(x: np.ndarray, factor: int) -> np.ndarray:
    # Polyphase FIR decimation: proper anti-aliasing at a fraction of Resample(quality=0)'s cost.
    if factor <= 1:
        return np.ascontiguousarray(x, dtype=np.float32)
    return resample_poly(x, 1, factor, axis=0).astype(np.float32)


def rate_factor(sample_rate: float, target: float) -> int:
    return max(1, int(round(sample_rate / target)))


def load_audio(*, path: str) -> LoadedAudio:
    es = ess()
    try:
        audio, sr, channels, _md5, _bitrate, codec = es.AudioLoader(filename=path, computeMD5=False)()
    except RuntimeError as exc:
        raise UnreadableAudio(f"cannot decode audio: {str(exc).strip()[:200]}") from None
    sr = int(round(sr))
    if audio.size == 0 or sr <= 0:
        raise EmptyAudio("the file contains no audio samples")
    duration = audio.shape[0] / sr
    if duration < MIN_SECONDS:
        raise TooShort(f"audio is {duration:.2f} s long; at least {MIN_SECONDS:.0f} s is needed")
    peak = float(np.max(np.abs(audio)))
    if peak <= 10 ** (SILENCE_DBFS / 20):
        raise SilentAudio(f"audio is silent (peak {20 * np.log10(max(peak, 1e-12)):.1f} dBFS)")
    # Decimate each channel once (contiguous copies filter ~3x faster than the strided view); the
    # mono mix is then just their average at the low rate.
    factor = rate_factor(sr, ANALYSIS_RATE)
    left = _decimate(np.ascontiguousarray(audio[:, 0]), factor)
    right = _decimate(np.ascontiguousarray(audio[:, 1]), factor) if int(channels) > 1 else left
    lo = (0.5 * (left + right)).astype(np.float32)
    return LoadedAudio(
        stereo_lo=np.ascontiguousarray(np.stack([left, right], axis=1)),
        sample_rate=sr,
        channels=int(channels),
        codec=str(codec) or None,
        mono_lo=lo,
        lo_rate=sr / factor,
        duration=duration,
    )
