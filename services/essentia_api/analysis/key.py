"""Key and scale: Essentia HPCP + Key with electronic-music profiles, then a tonic check with bass
evidence to separate a minor key from its relative major (the most common error on club music)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from services.common.camelot import PITCH_CLASSES, key_to_camelot
from services.essentia_api.analysis import ess

FRAME = 4096  # at ~11 kHz: 0.37 s, 2.7 Hz bins, enough to resolve bass notes
HOP = 4096
# edma (Faraldo's electronic dance music profile) first; bgate and temperley as a second opinion.
PROFILES = ("edma", "bgate", "temperley")
HPCP_HARMONICS = 0
KEY_POLY = dict(usePolyphony=False, useThreeChords=False)
_NAME_TO_PC = {n: i for i, n in enumerate(PITCH_CLASSES)} | {"A#": 10, "D#": 3, "G#": 8, "Db": 1, "Gb": 6}


@dataclass
class KeyResult:
    key: str
    scale: str
    strength: float
    candidates: list[tuple[str, str, float]] = field(default_factory=list)


def _chromas(*, signal: np.ndarray, sample_rate: float) -> tuple[np.ndarray, np.ndarray]:
    """Mean HPCP (36 bins, harmonic-weighted, 100-5000 Hz) and mean bass chroma (12, 35-260 Hz)."""
    es = ess()
    n = (len(signal) - FRAME) // HOP + 1
    if n < 1:
        signal = np.pad(signal, (0, FRAME - len(signal)))
        n = 1
    frames = np.lib.stride_tricks.sliding_window_view(signal, FRAME)[::HOP][:n]
    win = np.blackman(FRAME).astype(np.float32)
    mags = np.abs(np.fft.rfft(frames * win, axis=1)).astype(np.float32)
    peaks = es.SpectralPeaks(
        sampleRate=sample_rate, maxPeaks=60, magnitudeThreshold=1e-5, minFrequency=35, maxFrequency=5000,
        orderBy="magnitude",
    )
    hpcp = es.HPCP(
        size=36, sampleRate=sample_rate, referenceFrequency=440, harmonics=HPCP_HARMONICS, bandPreset=True,
        minFrequency=100, maxFrequency=5000, weightType="cosine", nonLinear=False, windowSize=1.0,
        normalized="unitMax",
    )
    bass = es.HPCP(
        size=12, sampleRate=sample_rate, referenceFrequency=440, harmonics=0, bandPreset=False,
        minFrequency=35, maxFrequency=260, weightType="cosine", windowSize=1.0, normalized="none",
    )
    acc = np.zeros(36)
    bacc = np.zeros(12)
    energy = (mags**2).sum(axis=1)
    gate = energy > 1e-4 * (energy.max() if energy.size else 0)  # skip silent frames (intros, breaks)
    for m, ok in zip(mags, gate):
        if not ok:
            continue
        f, a = peaks(m)
        if len(f) == 0:
            continue
        acc += hpcp(f, a)
        bacc += bass(f, a)
    # HPCP bin 0 is the reference pitch A; rotate the bass chroma so index 0 is C.
    bass12 = np.roll(bacc, 9)
    return acc / max(acc.max(), 1e-12), bass12 / max(bass12.max(), 1e-12)


def _pc(name: str) -> int:
    return _NAME_TO_PC[name]


def analyze_key(*, signal: np.ndarray, sample_rate: float) -> KeyResult:
    es = ess()
    chroma36, bass = _chromas(signal=signal, sample_rate=sample_rate)
    chroma36 = chroma36.astype(np.float32)
    votes: dict[tuple[int, str], float] = {}
    strengths = []
    for profile in PROFILES:
        key, scale, strength, _ = es.Key(profileType=profile, pcpSize=36, numHarmonics=4, slope=0.6,
                                          useMajMin=False, **KEY_POLY)(chroma36)
        k = (_pc(key), scale)
        # The first profile's vote counts a bit more so ties go to edma.
        votes[k] = votes.get(k, 0.0) + strength * (1.2 if profile == PROFILES[0] else 1.0)
        strengths.append(strength)
    (tonic, scale), _ = max(votes.items(), key=lambda kv: kv[1])
    # 36 bins, 3 per semitone, bin 0 centred on A: group (-1, 0, +1) around each semitone, then
    # rotate so index 0 is C.
    chroma12 = np.roll(np.roll(chroma36, 1).reshape(12, 3).sum(axis=1), 9)
    chroma12 = chroma12 / max(chroma12.max(), 1e-12)
    # Relative major/minor share all seven notes; the tonic shows in the bass line and in the
    # tonic triad (A minor: A-C-E vs C major: C-E-G differ by A against G).
    rel_tonic, rel_scale = ((tonic + 3) % 12, "major") if scale == "minor" else ((tonic - 3) % 12, "minor")

    def tonic_score(t: int, sc: str) -> float:
        fifth = (t + 7) % 12
        return float(bass[t] + 0.5 * chroma12[t] + 0.25 * chroma12[fifth] + 0.25 * bass[fifth])

    own, rel = tonic_score(tonic, scale), tonic_score(rel_tonic, rel_scale)
    cands = [(tonic, scale, own), (rel_tonic, rel_scale, rel)]
    for (t, sc), v in votes.items():
        if (t, sc) not in {(tonic, scale), (rel_tonic, rel_scale)}:
            cands.append((t, sc, tonic_score(t, sc) * 0.5))
    if rel > own * 1.1:
        tonic, scale = rel_tonic, rel_scale
    cands.sort(key=lambda c: -c[2])
    return KeyResult(
        key=PITCH_CLASSES[tonic],
        scale=scale,
        strength=float(np.mean(strengths)),
        candidates=[(PITCH_CLASSES[t], sc, round(s, 3)) for t, sc, s in cands[:4]],
    )


def camelot_of(*, key: str, scale: str) -> str:
    return str(key_to_camelot(key, scale))
