"""Compact waveform: per bucket the peak of the mix and low/mid/high energy, all 0..1."""

from __future__ import annotations

import numpy as np

from services.essentia_api.analysis.spectral import Stft

MAX_POINTS = 1200  # ~20 KB of JSON for a 5-minute track at 4 points/s


def waveform(*, signal: np.ndarray, sample_rate: float, st: Stft, duration: float) -> dict:
    n_points = int(np.clip(round(duration * 4), 1, MAX_POINTS))
    edges = np.linspace(0, len(signal), n_points + 1).astype(int)
    absig = np.abs(signal)
    peaks = np.maximum.reduceat(absig, edges[:-1]) if len(absig) else np.zeros(n_points)
    power = st.mag**2
    bands = []
    for lo, hi in ((0, 250), (250, 2000), (2000, 1e9)):
        sel = (st.freqs >= lo) & (st.freqs < hi)
        e = power[:, sel].sum(axis=1)
        fedges = np.linspace(0, len(e), n_points + 1).astype(int)
        v = np.add.reduceat(e, np.minimum(fedges[:-1], len(e) - 1)) / np.maximum(np.diff(fedges), 1)
        v = np.sqrt(v)
        bands.append(v / max(v.max(), 1e-12))
    peak_max = max(float(peaks.max()), 1e-12)
    return {
        "points_per_second": round(n_points / max(duration, 1e-9), 4),
        "peaks": np.round(peaks / peak_max, 3).tolist(),
        "low": np.round(bands[0], 3).tolist(),
        "mid": np.round(bands[1], 3).tolist(),
        "high": np.round(bands[2], 3).tolist(),
    }
