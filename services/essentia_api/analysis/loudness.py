"""EBU R128 loudness (ITU-R BS.1770 K-weighting, EBU Tech 3341/3342) on the analyzer's ~11 kHz stereo pair.

Up to analyzer 1.13 this was Essentia's `LoudnessEBUR128`, which resamples any rate other than 44.1 kHz
to 48 kHz before its fixed-coefficient filters: on the ~11 kHz pair that is 4.35x the samples and most
of the loudness stage's time. Here the K-weighting is designed for the signal's own rate (libebur128's
bilinear design, which reproduces the published 48 kHz coefficients), run with scipy's `sosfilt`, and the
block powers come from one cumulative sum. The gating and the loudness range follow Essentia's meter
(absolute gate -70 LUFS; relative gates -10 LU for the integrated loudness, -20 LU for the range; range
= 95th minus 10th percentile of the gated short-term powers, nearest rank). The K-weighted energy the
decimation removes is added back by the caller (loading.hf_loudness_correction), which models exactly
this filter."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import sosfilt, sosfreqz

MOMENTARY_SECONDS = 0.4
SHORT_TERM_SECONDS = 3.0
HOP_SECONDS = 0.1  # 75 % overlap of the 400 ms gating blocks, as BS.1770 prescribes
ABSOLUTE_GATE_LUFS = -70.0


@dataclass
class Loudness:
    integrated_lufs: float
    range_lu: float
    short_term: np.ndarray  # LUFS every HOP_SECONDS over 3 s windows (full windows only)


def k_weighting_sos(sample_rate: float) -> np.ndarray:
    """BS.1770 K-weighting (high shelf, then the RLB high-pass) as second-order sections for sample_rate."""
    k = np.tan(np.pi * 1681.974450955533 / sample_rate)
    vh = 10 ** (3.999843853973347 / 20)
    vb = vh**0.4996667741545416
    q = 0.7071752369554196
    a0 = 1 + k / q + k * k
    shelf = [(vh + vb * k / q + k * k) / a0, 2 * (k * k - vh) / a0, (vh - vb * k / q + k * k) / a0,
             1.0, 2 * (k * k - 1) / a0, (1 - k / q + k * k) / a0]
    k = np.tan(np.pi * 38.13547087602444 / sample_rate)
    q = 0.5003270373238773
    a0 = 1 + k / q + k * k
    high_pass = [1.0, -2.0, 1.0, 1.0, 2 * (k * k - 1) / a0, (1 - k / q + k * k) / a0]
    return np.array([shelf, high_pass])


def k_weighting_power(freqs: np.ndarray, sample_rate: float) -> np.ndarray:
    """|K(f)|^2 of the filter the meter runs at sample_rate."""
    return np.abs(sosfreqz(k_weighting_sos(sample_rate), worN=freqs, fs=sample_rate)[1]) ** 2


def _to_lufs(power: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return -0.691 + 10 * np.log10(power)


def _gated(power: np.ndarray, relative_db: float) -> np.ndarray:
    """The blocks above the absolute gate and above (the mean of those) - relative_db."""
    absolute = 10 ** ((ABSOLUTE_GATE_LUFS + 0.691) / 10)
    above = power[power >= absolute]
    threshold = max(float(above.mean()) / 10 ** (relative_db / 10), absolute) if above.size else absolute
    return power[power >= threshold]


def loudness_ebu(*, stereo: np.ndarray, sample_rate: float, correction_db: float = 0.0) -> Loudness:
    """Integrated loudness, loudness range and short-term loudness of an (n, 2) signal; correction_db is added
    to every level (the energy the caller's decimation removed)."""
    filtered = sosfilt(k_weighting_sos(sample_rate).astype(np.float32), stereo, axis=0)
    # Channel weights are 1.0 for left and right (BS.1770); a mono file arrives with a silent right channel.
    power = np.einsum("ij,ij->i", filtered, filtered, dtype=np.float64)  # summed over the channels
    cumulative = np.concatenate(([0.0], np.cumsum(power)))
    hop = round(HOP_SECONDS * sample_rate)

    def block_power(seconds: float) -> np.ndarray:
        size = round(seconds * sample_rate)
        starts = np.arange(0, len(stereo) - size + 1, hop)
        return (cumulative[starts + size] - cumulative[starts]) / size

    gated = _gated(block_power(MOMENTARY_SECONDS), 10.0)
    integrated = float(_to_lufs(np.array([gated.mean()]))[0]) if gated.size else ABSOLUTE_GATE_LUFS
    short = block_power(SHORT_TERM_SECONDS)
    in_range = _gated(short, 20.0)
    if in_range.size:
        ranked = np.sort(in_range)
        high = ranked[int(0.95 * (ranked.size - 1) + 0.5)]  # rounding half up, as the C++ meter does
        low = ranked[int(0.10 * (ranked.size - 1) + 0.5)]
        range_lu = float(_to_lufs(np.array([high]))[0] - _to_lufs(np.array([low]))[0])
    else:
        range_lu = 0.0
    return Loudness(integrated + correction_db, range_lu, _to_lufs(short) + correction_db)
