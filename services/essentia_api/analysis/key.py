"""Key and scale: Essentia HPCP + Key with electronic-music profiles, then a tonic check with bass
evidence to separate a minor key from its relative major (the most common error on club music)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from services.common.camelot import PITCH_CLASSES, pitch_class
from services.essentia_api.analysis import ess
from services.essentia_api.analysis.phrase import Phrases

FRAME = 4096  # at ~11 kHz: 0.37 s, 2.7 Hz bins, enough to resolve bass notes
HOP = 2048
# edma (Faraldo's electronic dance music profile) first; bgate and temperley as second opinions.
PROFILES = ("edma", "bgate", "temperley")
# Key's own polyphony/three-chord options double-count harmonics on a 36-bin HPCP and pushed minor
# keys to their relative major or subdominant on our set (33/48 vs 42/48 correct without them).
KEY_POLY = {"usePolyphony": False, "useThreeChords": False}
# Relative major/minor are only switched when the tonic evidence is clearly stronger. 1.2 was chosen
# on the tuning sets (seed 1234, tonic-first and rotated progressions): 1.15-1.25 is a plateau, 1.05
# switched too eagerly on rotated clips (docs/benchmarks.md, "Audio analysis").
SWITCH_MARGIN = 1.2
# Default weight of the opening bar's bass in that decision: off. It only helps when a track opens on
# its tonic chord and costs as much when it opens on the relative's tonic (a major I-V-vi-IV loop
# that starts on vi); on clips with random phrase starts it lowered key accuracy.
OPENING_WEIGHT = 0.0
# Weight of the bass at marked phrase starts (analysis/phrase.py), scaled by the phrase confidence.
# Unlike the opening bar it does not depend on where the file starts.
PHRASE_WEIGHT = 3.0


@dataclass
class KeyResult:
    key: str
    scale: str
    strength: float
    candidates: list[tuple[str, str, float]] = field(default_factory=list)
    chroma12: np.ndarray | None = None  # mean chroma (index 0 = C), for analysis/alternatives.py


@dataclass
class Chroma:
    mean36: np.ndarray  # mean HPCP, 36 bins, bin 0 = A (Essentia's convention)
    chroma12: np.ndarray  # index 0 = C, max 1
    bass12: np.ndarray  # mean bass chroma, index 0 = C, max 1
    bass_frames: np.ndarray  # (frames, 12) per-frame bass chroma, index 0 = C
    frame_times: np.ndarray
    active: np.ndarray  # frames with harmonic content


def chromas(*, signal: np.ndarray, sample_rate: float) -> Chroma:
    """Mean HPCP (100-5000 Hz) and bass chroma (35-260 Hz) from one pass of spectral peaks."""
    es = ess()
    if len(signal) < FRAME:
        signal = np.pad(signal, (0, FRAME - len(signal)))
    frames = np.lib.stride_tricks.sliding_window_view(signal, FRAME)[::HOP]
    win = np.blackman(FRAME).astype(np.float32)
    mags = np.abs(np.fft.rfft(frames * win, axis=1)).astype(np.float32)
    peaks = es.SpectralPeaks(
        sampleRate=sample_rate,
        maxPeaks=60,
        magnitudeThreshold=1e-5,
        minFrequency=35,
        maxFrequency=5000,
        orderBy="magnitude",
    )
    hpcp = es.HPCP(
        size=36,
        sampleRate=sample_rate,
        referenceFrequency=440,
        harmonics=0,
        bandPreset=True,
        minFrequency=100,
        maxFrequency=5000,
        weightType="cosine",
        nonLinear=False,
        windowSize=1.0,
        normalized="unitMax",
    )
    bass = es.HPCP(
        size=12,
        sampleRate=sample_rate,
        referenceFrequency=440,
        harmonics=0,
        bandPreset=False,
        minFrequency=35,
        maxFrequency=260,
        weightType="cosine",
        windowSize=1.0,
        normalized="none",
    )
    n = len(mags)
    h36 = np.zeros((n, 36), np.float32)
    b12 = np.zeros((n, 12), np.float32)
    energy = (mags**2).sum(axis=1)
    active = energy > 1e-4 * (energy.max() if n else 0)  # skip silent frames (intros, breaks)
    for i in np.flatnonzero(active):
        f, a = peaks(mags[i])
        if len(f):
            h36[i] = hpcp(f, a)
            b12[i] = bass(f, a)
    mean36 = h36[active].mean(axis=0) if active.any() else h36.mean(axis=0)
    mean36 = mean36 / max(float(mean36.max()), 1e-12)
    # 3 bins per semitone centred on bin 0 = A: group (-1, 0, +1), then rotate so index 0 is C.
    c12 = np.roll(np.roll(mean36, 1).reshape(12, 3).sum(axis=1), 9)
    b_frames = np.roll(b12, 9, axis=1)
    bmean = b_frames[active].mean(axis=0) if active.any() else b_frames.mean(axis=0)
    return Chroma(
        mean36=mean36.astype(np.float32),
        chroma12=c12 / max(float(c12.max()), 1e-12),
        bass12=bmean / max(float(bmean.max()), 1e-12),
        bass_frames=b_frames,
        frame_times=(np.arange(n) * HOP + FRAME / 2) / sample_rate,
        active=active,
    )


def _opening_bass(ch: Chroma, *, bar_seconds: float | None, first_beat: float) -> np.ndarray | None:
    """Bass chroma over the first bar with harmonic content (phrases usually open on the tonic)."""
    if not bar_seconds or not ch.active.any():
        return None
    loud = ch.bass_frames.sum(axis=1)
    thresh = 0.25 * np.median(loud[ch.active]) if ch.active.any() else 0
    start_idx = np.flatnonzero(ch.active & (loud > thresh))
    if start_idx.size == 0:
        return None
    t0 = ch.frame_times[start_idx[0]] - (ch.frame_times[0] if len(ch.frame_times) else 0)  # frame start
    # Snap to the beat grid so the window is a whole bar starting on a beat.
    beat = bar_seconds / 4
    t0 = first_beat + np.floor(max(t0 - first_beat, 0) / beat + 0.25) * beat
    return _mean_bass(ch, (ch.frame_times >= t0) & (ch.frame_times < t0 + bar_seconds))


def _phrase_bass(ch: Chroma, *, starts: np.ndarray, bar_seconds: float | None) -> np.ndarray | None:
    """Bass chroma over the first bar of every phrase."""
    if not bar_seconds or len(starts) == 0:
        return None
    t = ch.frame_times
    sel = np.zeros(len(t), bool)
    for s in starts:
        sel |= (t >= s) & (t < s + bar_seconds)
    return _mean_bass(ch, sel & ch.active)


def _mean_bass(ch: Chroma, sel: np.ndarray) -> np.ndarray | None:
    """Mean bass chroma of the selected frames, max 1 (None when nothing is selected)."""
    if not sel.any():
        return None
    v = ch.bass_frames[sel].mean(axis=0)
    return v / max(float(v.max()), 1e-12)


def analyze_key(
    *,
    signal: np.ndarray,
    sample_rate: float,
    bar_seconds: float | None = None,
    first_beat: float = 0.0,
    opening_weight: float = OPENING_WEIGHT,
    phrases: Phrases | None = None,
    phrase_weight: float = PHRASE_WEIGHT,
) -> KeyResult:
    es = ess()
    ch = chromas(signal=signal, sample_rate=sample_rate)
    votes: dict[tuple[int, str], float] = {}
    strengths = []
    for profile in PROFILES:
        key, scale, strength, _ = es.Key(
            profileType=profile, pcpSize=36, numHarmonics=4, slope=0.6, useMajMin=False, **KEY_POLY
        )(ch.mean36)
        k = (pitch_class(key), scale)
        # The first profile's vote counts a bit more so ties go to edma.
        votes[k] = votes.get(k, 0.0) + strength * (1.2 if profile == PROFILES[0] else 1.0)
        strengths.append(strength)
    (tonic, scale), _ = max(votes.items(), key=lambda kv: kv[1])
    # Relative major/minor share all seven notes; the tonic shows in the bass line, in the tonic
    # triad (A minor: A-C-E vs C major: C-E-G differ by A against G) and in the opening bar.
    rel_tonic, rel_scale = ((tonic + 3) % 12, "major") if scale == "minor" else ((tonic - 3) % 12, "minor")
    opening = _opening_bass(ch, bar_seconds=bar_seconds, first_beat=first_beat) if opening_weight else None
    phrase = (
        _phrase_bass(ch, starts=phrases.starts, bar_seconds=bar_seconds)
        if phrases and phrase_weight
        else None
    )
    bass, c12 = ch.bass12, ch.chroma12

    def tonic_score(t: int) -> float:
        fifth = (t + 7) % 12
        s = bass[t] + 0.5 * c12[t] + 0.25 * c12[fifth] + 0.25 * bass[fifth]
        if opening is not None:
            s += opening_weight * opening[t]
        if phrase is not None:
            s += phrase_weight * phrases.confidence * phrase[t]
        return float(s)

    own, rel = tonic_score(tonic), tonic_score(rel_tonic)
    cands = [(tonic, scale, own), (rel_tonic, rel_scale, rel)]
    for t, sc in votes:
        if (t, sc) not in {(tonic, scale), (rel_tonic, rel_scale)}:
            cands.append((t, sc, tonic_score(t) * 0.5))
    if rel > own * SWITCH_MARGIN:
        tonic, scale = rel_tonic, rel_scale
    cands.sort(key=lambda c: -c[2])
    return KeyResult(
        key=PITCH_CLASSES[tonic],
        scale=scale,
        strength=float(np.mean(strengths)),
        candidates=[(PITCH_CLASSES[t], sc, round(s, 3)) for t, sc, s in cands[:4]],
        chroma12=ch.chroma12,
    )
