"""Phrase starts: the downbeats where club tracks mark a new phrase (a crash cymbal, a fill landing),
found as the beat position that repeatedly gets a burst of high-band energy its neighbours lack.

Used by the key stage: a phrase usually opens on the tonic chord, which tells a minor loop
(i-VI-III-VII) from its relative major's identical vi-IV-I-V wherever the track happens to start.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from services.essentia_api.analysis.spectral import Stft

BEATS_PER_PHRASE = 16  # 4 bars of 4/4; 8-bar phrases fold onto it with every other start marked
HIGH_BAND_HZ = 3000.0  # cymbals, not kick/bass/chords
# The best beat position must beat every other non-adjacent one by this factor: crashes on every
# bar (four equal positions) or no marks at all give no phrase.
MIN_CONTRAST = 2.0
MIN_MARKS = 2
MIN_NOVELTY = 0.15  # log10 units: a ~1.4x rise of high-band energy over the same beat a bar away


@dataclass
class Phrases:
    starts: np.ndarray  # every phrase start (seconds), one each BEATS_PER_PHRASE beats
    confidence: float  # 0..1, from how clearly that beat position stands out


def per_beat_high_energy(*, st: Stft, beats: np.ndarray) -> np.ndarray:
    """log10 mean high-band energy in each beat interval [beats[k], beats[k+1])."""
    band = st.freqs >= HIGH_BAND_HZ
    e = (st.mag[:, band] ** 2).sum(axis=1) if band.any() else np.zeros(len(st.mag))
    frames = np.round(np.asarray(beats) * st.frame_rate).astype(int)
    frames = np.clip(frames, 0, len(e))
    cums = np.concatenate([[0.0], np.cumsum(e, dtype=np.float64)])
    lengths = np.maximum(np.diff(frames), 1)
    means = (cums[frames[1:]] - cums[frames[:-1]]) / lengths
    # A floor at a tenth of the busier beats' level: on near-silent beats the log would turn
    # noise-level wobble into large "rises".
    floor = 0.1 * float(np.percentile(means, 75)) if means.size else 0.0
    return np.log10(means + floor + 1e-10)


def find_phrases(*, st: Stft, beats: np.ndarray, beats_per_phrase: int = BEATS_PER_PHRASE) -> Phrases | None:
    beats = np.asarray(beats, dtype=np.float64)
    if len(beats) < beats_per_phrase + 8:
        return None
    energy = per_beat_high_energy(st=st, beats=beats)
    # Compare each beat with the same beat one bar before and after: the drum pattern repeats each
    # bar, so hats and snares cancel and only what is new at this bar line remains.
    padded = np.pad(energy, 4, mode="edge")
    novelty = np.maximum(0.0, energy - np.maximum(padded[:-8], padded[8:]))
    folded = np.array([novelty[p::beats_per_phrase].mean() for p in range(beats_per_phrase)])
    best = int(np.argmax(folded))
    # A phrase mark repeats: one isolated burst (a fill, a sample) is not a phrase grid.
    if int((novelty[best::beats_per_phrase] >= MIN_NOVELTY).sum()) < MIN_MARKS:
        return None
    # A crash rings on for a few beats: the rest of its bar is its tail, not a competitor.
    tail = {(best + d) % beats_per_phrase for d in (-1, 0, 1, 2, 3)}
    others = [folded[p] for p in range(beats_per_phrase) if p not in tail]
    runner_up = max(max(others, default=0.0), 0.02)
    contrast = float(folded[best] / runner_up)
    if folded[best] < MIN_NOVELTY or contrast < MIN_CONTRAST:
        return None
    return Phrases(
        starts=beats[best::beats_per_phrase],
        confidence=float(np.clip((contrast - 1.0) / 2.0, 0.0, 1.0)),  # 0.5 at MIN_CONTRAST, 1 at 3x
    )
