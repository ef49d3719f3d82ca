"""Honest reporting of the two ambiguous estimates: the tempo octave and the relative major/minor.

Nothing here changes a decision the analyzer made; it turns the evidence behind the decision into
confidences a DJ can read ("128 BPM, or 64 at 22 %") and into the runner-up the UI offers to accept.

Tempo: for the chosen tempo T the candidates are T, T/2 and 2T (the octave alternatives inside
50-220 BPM). The evidence is the one analysis/rhythm.py decides the octave by, measured on the final
beat grid: its case for doubling (half_read: where kick and snare fall, onsets half-way between the
beats) of T, for 2T, and of T/2 against T/2; alternate beats of equal strength (r_parity, high = no
reason to halve; low = a double-time reading of a slow groove) also weigh T/2. At the analyzer's
thresholds an alternative is exactly as likely as T; the chosen tempo weighs 1 and the weights are
normalised to sum to 1. Without the analyzer's margins (tempo_candidates_from_evidence alone), 2T
gets a logistic weight on r_mid centred on 0.5.

Key: the chosen key, its relative (same seven notes, the usual confusion) and the best other key.
Evidence: the chord scores the analyzer decided by (analysis/key.py: how far the chosen key leads its
relative, how far the pair leads every other key), the correlation of the mean chroma with the
Krumhansl-Kessler profiles of all 24 keys, and the analyzer's tonic scores (bass, triad, phrase
starts) of the two. Weights were fitted by logistic regression on the held-out benchmark's tuning split
(bench/calibrate_key_confidence.py); its frozen test split reports how well they hold
(bench/bench_analysis_heldout.py). Rendered clips, not real records: treat the percentages as an
ordering with a rough scale.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from services.common.camelot import PITCH_CLASSES, pitch_class
from services.essentia_api.analysis.rhythm import (  # the octave decision's own measures
    MARGIN_POWER,
    _strength,
)
from services.essentia_api.analysis.spectral import Stft, mel_matrix

# Candidate tempi outside this window are not offered (a 45 BPM or 256 BPM "alternative" is noise).
ALT_BPM_MIN, ALT_BPM_MAX = 50.0, 220.0
# The analyzer's octave thresholds (analysis/rhythm.py R_MID_DOUBLE, R_PARITY_HALVE) and the slope
# of the logistic around them: 0.25 past a threshold is e^-2 (about 12 % of the chosen weight).
R_MID_EVEN, R_PARITY_EVEN, TEMPO_SLOPE = 0.5, 0.45, 8.0

# Krumhansl-Kessler probe-tone profiles, index 0 = tonic.
_KK_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
_KK_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
# Logistic weights fitted by bench/calibrate_key_confidence.py on the held-out benchmark's tuning split
# (144 clips, analyzer 1.8's readings; on 1.11's and 1.12's they still hold, ECE 0.043 / 0.062, and a re-fit
# gains nothing cross-validated; figures in docs/benchmarks.md, analyzers 1.9, 1.11 and 1.12):
# P(the pair holds the key) = sigmoid(pair.bias + pair.pair_margin * (r_pair - r_other)
#                                     + pair.chord_pair_margin * (chord score of the pair - of the best other key))
# P(chosen | pair) = sigmoid(chosen.bias + chosen.tonic_ratio * ln(tonic_chosen / tonic_relative)
#                            + chosen.profile_diff * (r_chosen - r_rel) + chosen.chord_margin * (chord_chosen - chord_rel))
KEY_CONFIDENCE_WEIGHTS = {
    "pair": {"bias": 1.76, "pair_margin": 5.64, "chord_pair_margin": 1.03},
    "chosen": {"bias": 1.79, "tonic_ratio": 1.71, "profile_diff": 0.06, "chord_margin": 2.39},
}
# Readings KeyExtractor made (no beat grid, or under MIN_CHORD_BARS harmonic bars) have no chord scores, and
# neither split holds one, so the biases above (the chord decision's record) do not apply to them: they keep
# the weights used until 1.8, fitted on profile-based readings (in-project synthesiser), whose chosen-key
# bias is 0 (no evidence, no lean).
KEYEXTRACTOR_CONFIDENCE_WEIGHTS = {
    "pair": {"bias": 2.2, "pair_margin": 8.4},
    "chosen": {"bias": 0.0, "tonic_ratio": 3.1, "profile_diff": 3.1},
}
# Chroma range (max 1) below which there is no tonal evidence; then the pair is 2 of 24 keys.
FLAT_CHROMA, NO_EVIDENCE_PAIR = 1e-3, 2 / 24


@dataclass(frozen=True)
class TempoCandidate:
    bpm: float
    confidence: float
    relation: str  # "chosen" | "half" | "double"


@dataclass(frozen=True)
class KeyAlternative:
    key: str
    scale: str
    confidence: float


@dataclass(frozen=True)
class KeyConfidence:
    confidence: float
    alternative: KeyAlternative | None


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(min(x, 40.0), -40.0)))


def octave_onsets(*, st: Stft) -> dict[str, np.ndarray]:
    """The kick/bass-band flux and the mel flux as analysis/rhythm.py computes them (same scaling),
    without its costlier complex-domain function."""
    logmag = np.log1p(100.0 * st.mag[:, st.freqs < 300])
    low = np.maximum(np.diff(logmag, axis=0, prepend=logmag[:1]), 0).sum(axis=1)
    mel = np.log1p(100.0 * (st.mag**2 @ mel_matrix(freqs=st.freqs).T))
    melflux = np.maximum(np.diff(mel, axis=0, prepend=mel[:1]), 0).sum(axis=1)
    out = {}
    for name, f in {"low": low, "melflux": melflux}.items():
        f = np.nan_to_num(f.astype(np.float64))
        f[:3] = 0
        peak = np.percentile(f, 99.5) if f.size else 0
        out[name] = np.clip(f / peak, 0, 2) if peak > 0 else f
    return out


def octave_evidence(*, st: Stft, bpm: float, first_beat: float, duration: float,
                    odfs: dict[str, np.ndarray] | None = None) -> tuple[float, float]:
    """(r_mid, r_parity) on the grid of this tempo through first_beat, both 0..1 (symmetric ratios)."""
    odfs = odfs or octave_onsets(st=st)
    period = 60.0 / bpm
    phase = first_beat % period
    grid = phase + period * np.arange(int(max(duration - phase, 0) / period) + 1)
    r_mids, r_pars = [], []
    for name in ("low", "melflux"):
        f = odfs[name]
        on = _strength(f, st.frame_rate, grid)
        mid = _strength(f, st.frame_rate, grid + period / 2)
        even = _strength(f, st.frame_rate, grid[0::2])
        odd = _strength(f, st.frame_rate, grid[1::2])
        r_mids.append(min(on, mid) / max(on, mid, 1e-9))
        r_pars.append(min(even, odd) / max(even, odd, 1e-9))
    return float(np.mean(r_mids)), float(np.mean(r_pars))


def tempo_candidates_from_evidence(*, bpm: float, r_mid: float, r_parity: float,
                                   margins: tuple[float, float] | None = None) -> list[TempoCandidate]:
    """The chosen tempo and its octave alternatives (inside 50-220 BPM), confidences summing to 1,
    highest first.

    margins: the analyzer's own case for doubling (analysis/rhythm.py half_read) of the chosen
    reading and of its half. With them, 2T weighs m_chosen**6 (as likely as T at the analyzer's
    threshold) and T/2 weighs the smaller of its parity weight and m_half**-6 (a half reading the
    kick and snare say is half-time is no candidate)."""
    weights = [(bpm, 1.0, "chosen")]
    if bpm * 2 <= ALT_BPM_MAX:
        w = math.exp(TEMPO_SLOPE * (r_mid - R_MID_EVEN))
        if margins is not None:
            w = min(max(margins[0], 1e-3), 1e3) ** MARGIN_POWER
        weights.append((bpm * 2, w, "double"))
    if bpm / 2 >= ALT_BPM_MIN:
        w = math.exp(TEMPO_SLOPE * (R_PARITY_EVEN - r_parity))
        if margins is not None:
            w = min(w, min(max(margins[1], 1e-3), 1e3) ** -MARGIN_POWER)
        weights.append((bpm / 2, w, "half"))
    total = sum(w for _, w, _ in weights)
    out = [TempoCandidate(bpm=round(b, 2), confidence=round(w / total, 3), relation=rel) for b, w, rel in weights]
    return sorted(out, key=lambda c: (-c.confidence, c.relation != "chosen"))


def tempo_candidates(*, st: Stft, bpm: float, first_beat: float, duration: float,
                     odfs: dict[str, np.ndarray] | None = None,
                     margins: tuple[float, float] | None = None) -> list[TempoCandidate]:
    if not bpm or bpm <= 0:
        return []
    r_mid, r_parity = octave_evidence(st=st, bpm=bpm, first_beat=first_beat, duration=duration, odfs=odfs)
    return tempo_candidates_from_evidence(bpm=bpm, r_mid=r_mid, r_parity=r_parity, margins=margins)


def profile_correlations(chroma12: np.ndarray) -> dict[tuple[int, str], float]:
    """Pearson correlation of a 12-bin chroma (index 0 = C) with the 24 Krumhansl-Kessler key profiles."""
    x = np.asarray(chroma12, np.float64)
    out = {}
    if x.std() < 1e-9:
        return {(t, s): 0.0 for t in range(12) for s in ("major", "minor")}
    for scale, prof in (("major", _KK_MAJOR), ("minor", _KK_MINOR)):
        for t in range(12):
            out[(t, scale)] = float(np.corrcoef(x, np.roll(prof, t))[0, 1])
    return out


def relative_of(tonic: int, scale: str) -> tuple[int, str]:
    return ((tonic + 3) % 12, "major") if scale == "minor" else ((tonic - 3) % 12, "minor")


def key_features(*, key: str, scale: str, chroma12: np.ndarray | None,
                 tonic_scores: dict[tuple[int, str], float],
                 chord_scores: dict[tuple[int, str], float] | None = None) -> dict[str, float]:
    """The numbers the confidence is built from (also used by the calibration script). Without
    chord scores (KeyExtractor decided) the two chord features are 0."""
    chosen = (pitch_class(key), scale)
    rel = relative_of(*chosen)
    corr = profile_correlations(chroma12) if chroma12 is not None else {}
    if corr:
        r_pair = max(corr[chosen], corr[rel])
        others = [(v, k) for k, v in corr.items() if k not in (chosen, rel)]
        r_other, other = max(others)
        r_diff = corr[chosen] - corr[rel]
    else:
        r_pair, r_other, other, r_diff = 1.0, 0.0, None, 0.0
    s_c, s_r = tonic_scores.get(chosen), tonic_scores.get(rel)
    tonic_ratio = math.log(max(s_c, 1e-6) / max(s_r, 1e-6)) if s_c is not None and s_r is not None else 0.0
    chord_margin = chord_pair_margin = 0.0
    if chord_scores:
        chord_margin = chord_scores[chosen] - chord_scores[rel]
        chord_pair_margin = max(chord_scores[chosen], chord_scores[rel]) - max(
            v for k, v in chord_scores.items() if k not in (chosen, rel))
    return {"pair_margin": r_pair - r_other, "profile_diff": r_diff, "tonic_ratio": tonic_ratio,
            "chord_margin": chord_margin, "chord_pair_margin": chord_pair_margin,
            "other_tonic": other[0] if other else -1, "other_scale": other[1] if other else ""}


def key_probabilities(features: dict[str, float], *,
                      weights: dict = KEY_CONFIDENCE_WEIGHTS) -> tuple[float, float]:
    """(P(the chosen key or its relative is right), P(the chosen key is right | the pair is))."""

    def linear(part: str) -> float:
        w = weights[part]
        return w["bias"] + sum(v * features[k] for k, v in w.items() if k != "bias")

    return _sigmoid(linear("pair")), _sigmoid(linear("chosen"))


def key_confidence(*, key: str, scale: str, chroma12: np.ndarray | None,
                   tonic_scores: dict[tuple[int, str], float],
                   chord_scores: dict[tuple[int, str], float] | None = None) -> KeyConfidence:
    """Confidence of the chosen key and the runner-up (the relative key, or another key when the
    chroma fits another key better than the pair), both 0..1."""
    f = key_features(key=key, scale=scale, chroma12=chroma12, tonic_scores=tonic_scores, chord_scores=chord_scores)
    # A chroma without contrast (no harmony at all) supports no key: the fitted biases are the
    # analyzer's record on tonal music and say nothing there.
    tonal = chroma12 is not None and float(np.ptp(chroma12)) > FLAT_CHROMA
    weights = KEY_CONFIDENCE_WEIGHTS if chord_scores else KEYEXTRACTOR_CONFIDENCE_WEIGHTS
    p_pair, p_chosen = key_probabilities(f, weights=weights) if tonal else (NO_EVIDENCE_PAIR, 0.5)
    conf = p_pair * p_chosen
    rel_t, rel_s = relative_of(pitch_class(key), scale)
    alt = KeyAlternative(key=PITCH_CLASSES[rel_t], scale=rel_s, confidence=round(p_pair * (1 - p_chosen), 3))
    if f["other_tonic"] >= 0 and 1 - p_pair > alt.confidence:
        alt = KeyAlternative(key=PITCH_CLASSES[int(f["other_tonic"])], scale=str(f["other_scale"]),
                             confidence=round(1 - p_pair, 3))
    return KeyConfidence(confidence=round(conf, 3), alternative=alt)
