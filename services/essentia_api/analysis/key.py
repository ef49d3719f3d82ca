"""Key and scale: the chords decide. Each bar of the beat grid is matched to a major, minor or dominant-seventh
triad, and each of the 24 keys scores the bars by the chord's function in it (the tonic chord most, the other
diatonic chords half, out-of-key chords against). Phrase starts may then switch a key to its relative
major/minor when the chords leave the two nearly tied (a loop and its rotation share every chord), and so may
the note the melody ends its phrases on (cadence_chroma). Without a beat grid or enough harmonic bars,
Essentia's KeyExtractor (edma profile) decides. The analyzer's own chroma and bass evidence feed the
candidates' tonic scores (analysis/alternatives.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import pairwise

import numpy as np

from services.common.camelot import PITCH_CLASSES, pitch_class
from services.essentia_api.analysis import ess
from services.essentia_api.analysis.alternatives import relative_of
from services.essentia_api.analysis.phrase import Phrases

FRAME = 4096  # at ~11 kHz: 0.37 s, 2.7 Hz bins, enough to resolve bass notes
HOP = 2048
# The deciding estimate: KeyExtractor (12-bin HPCP over 25-3500 Hz, Key with its polyphony model) with
# the edma profile, on the analyzer's low-rate mix. Up to 1.5 the analyzer voted edma/bgate/temperley on
# its own 36-bin chroma (100-5000 Hz) and overruled the vote with bass/triad tonic rules tuned on its own
# generated sets; on the held-out benchmark's tuning split (bench/analysis_heldout, FluidR3 seed 1) that
# read 31/48 keys where plain KeyExtractor edma reads 37/48. Measured there on top of KeyExtractor: the
# bass/triad relative switch costs 1-2 clips at every margin below 1.5 and gains none; summing or
# voting edma with bgate, temperley, krumhansl or shaath gains none (two-profile votes tie, three lose
# up to 2); the analyzer's chroma fed to Key loses 5-10 clips with any profile or polyphony setting.
BASE_PROFILE = "edma"
# Chord-based decision (analyzer 1.8). Weight of each chord (interval above the tonic, quality) in a key;
# any other chord counts OUT_OF_KEY. Chosen on tuning material only: the held-out benchmark's tuning split
# (144 clips, three generators) and the generated set (bench_analysis_accuracy.py, seed 1234, 96 clips).
# Correct keys there: analyzer 1.7 107 + 84; KeyExtractor edma alone 102 on the split; these weights 120 + 80.
# The minor's VII and (since 1.12) the major's V triad both weigh 0.4, so a minor i-VI-III-VII and its
# relative's I-V-vi-IV (the same four chords) tie and the bass decides (CHORD_TIE); with the VII at 0.5 every
# such unmarked loop read minor (generated set 74).
# 1.12, re-scanned on 3.7x the material (the 528 clips of bench/tune_key_chords.py, chords as 1.11 reads
# them): an out-of-key chord costs more (-0.3 -> -0.5), the major's V triad (0.3 -> 0.4) and the minor's iv
# (0.5 -> 0.6) count more, so fewer minor loops read as the major key on their VII. The chord decision alone
# (keys tied on the chords get an even share): 428 -> 442.5 right; around it OUT_OF_KEY -0.4 to -0.7 gives
# 441-442, V 0.3 / 0.5 434 / 439.5, iv 0.7-0.8 443.5. The whole key decision on the same clips: 427 -> 439
# (with CHORD_TIE). The script's wider grid peaks at 447.5 (2 of 864 combinations) with the V triad at 0.5,
# its edge: not taken.
CHORD_WEIGHTS = {
    "major": {
        (0, "maj"): 1.0, (2, "min"): 0.5, (4, "min"): 0.5, (5, "maj"): 0.5, (7, "maj"): 0.4, (7, "7"): 0.8,
        (9, "min"): 0.5,
    },
    "minor": {
        (0, "min"): 1.0, (3, "maj"): 0.5, (5, "min"): 0.6, (7, "min"): 0.3, (7, "maj"): 0.3, (7, "7"): 0.8,
        (8, "maj"): 0.5, (10, "maj"): 0.4,
    },
}
OUT_OF_KEY = -0.5
CHORD_BEATS = 4  # one chord per bar of the beat grid (a 2-beat window reads 100/144, 8 beats 86-99)
# A bar is a dominant seventh only when that template beats the triads by this factor (1.11). The flat
# seventh gets energy from the chord's own overtones (the 7th partial) and from the melody, so a plain major
# tonic matched the 7th template as often as not and read as V7 of its subdominant's key (a fifth off).
# Chosen on 528 tuning clips (tuning split, three more seeds of its generators, generated set s1234) by
# replaying the chord decision: 413 right at 1.0, 427-430 on 0.93-0.97, 423 at 0.8 (with 1.12's chord weights,
# ties shared: 421.5, 438.5-443, 435); the V7 loops (I-vi-ii-V7, ii-V7-I-I, i-VI-iv-V7) keep every clip.
DOM7_MATCH_FACTOR = 0.95
# A bar counts as harmonic when its chroma reaches this share of the loudest bar's (drum-only intros don't vote).
HARMONIC_BAR = 0.05
MIN_CHORD_BARS = 4  # fewer harmonic bars than this: KeyExtractor decides
# Phrase starts may switch the chords' key to its relative only when the two keys' chord scores are this
# close (per bar); 0.03-0.15 is a plateau on the tuning split (119/144), always-switch reads 117.
RELATIVE_CHORD_MARGIN = 0.1
# Chord scores closer than this are equal (sums of the same weights in another order). Since 1.12 the major's
# V triad weighs what the minor's VII does, so a I-V-vi-IV loop and the relative's i-VI-III-VII tie exactly
# (29 of the 528 tuning clips); the bass and triad evidence (the candidates' tonic score) then picks the key.
# Before, the first of the two in the keys' order won: 437 of 528 right, 439 with the evidence.
CHORD_TIE = 1e-9
# KeyExtractor fallback: a major reading whose flat seventh sounds clearly stronger than its leading tone
# (chroma at T+10 over T+11) is the subdominant's key: the profile took a major chord on a non-tonic degree
# (V of the true major key, VII of a minor) for the tonic. On the tuning split the ratio is at most 1.11 on
# the 25 correct major readings and 1.6-4.0 on the four it catches (all wrong before); 1.3-1.8 is a plateau
# (+1 exact, +1 fifth).
FLAT_SEVENTH_RATIO = 1.5
# Relative major/minor are only switched on phrase evidence (bass at marked phrase starts, plus the
# whole track's bass) at least this much stronger for the relative. On the tuning split 2.0-3.0 is a
# plateau that switches no tuning clip wrongly; 1.0-1.5 lost 1-3 clips (progressions that open on
# IV, VI or vi put a non-tonic bass under the phrase start).
SWITCH_MARGIN = 2.0
# Weight of the whole track's bass next to the phrase-start bass in that comparison.
BASS_WEIGHT = 1.5
# Default weight of the opening bar's bass in that decision: off. It only helps when a track opens on
# its tonic chord and costs as much when it opens on the relative's tonic (a major I-V-vi-IV loop
# that starts on vi); on clips with random phrase starts it lowered key accuracy.
OPENING_WEIGHT = 0.0
# Weight of the bass at marked phrase starts (analysis/phrase.py), scaled by the phrase confidence.
# Unlike the opening bar it does not depend on where the file starts.
PHRASE_WEIGHT = 3.0
# Melodies resolve to the tonic at the end of a phrase (a cadence), which tells a minor loop from its relative
# major's when their chords score alike. The cadence evidence (analyzer 1.13): the melody register's chroma
# (MELODY_BAND, fundamentals only) over the last half beat of every CADENCE_BARS-bar group of the beat grid
# counted from its first beat, each group voting once. When the pair's chord scores are within
# CADENCE_CHORD_MARGIN per bar and the relative's tonic sounds CADENCE_RATIO times the chosen tonic's there,
# the relative is the key. Chosen on the 528 tuning clips (bench/tune_key_cadence.py): 439 -> 451 right
# (+14 -2); margins 0.05-0.1 with ratios 3-5 give +9 to +12. The scan's best, 452 (ratio 1), switches 35 clips
# to gain 13; 4-bar groups peak at 451 the same way (+27 -15), since their ends are often mid-progression.
# The groups count from the grid's first beat: a track that does not start on a phrase gives no clear note.
MELODY_BAND = (500.0, 2000.0)
CADENCE_BARS = 8
CADENCE_CHORD_MARGIN = 0.05
CADENCE_RATIO = 3.0


@dataclass
class KeyResult:
    key: str
    scale: str
    strength: float
    candidates: list[tuple[str, str, float]] = field(default_factory=list)
    chroma12: np.ndarray | None = None  # mean chroma (index 0 = C), for analysis/alternatives.py
    # Each key's chord score (chord_key_scores), for the confidence; None when KeyExtractor decided.
    chord_scores: dict[tuple[int, str], float] | None = None


@dataclass
class Chroma:
    mean36: np.ndarray  # mean HPCP, 36 bins, bin 0 = A (Essentia's convention)
    chroma12: np.ndarray  # index 0 = C, max 1
    bass12: np.ndarray  # mean bass chroma, index 0 = C, max 1
    bass_frames: np.ndarray  # (frames, 12) per-frame bass chroma, index 0 = C
    frame_times: np.ndarray
    active: np.ndarray  # frames with harmonic content
    chord_frames: np.ndarray  # (frames, 12) per-frame chroma with harmonics folded in, index 0 = C, for chords
    # (frames, 12) energy per pitch class in MELODY_BAND, index 0 = C, for the cadence
    melody_frames: np.ndarray | None = None


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
    def treble_hpcp(size: int, harmonics: int):
        """HPCP over 100-5000 Hz, max 1: the mean chroma (36 bins, no harmonics) and the chords' (12, with)."""
        return es.HPCP(
            size=size,
            sampleRate=sample_rate,
            referenceFrequency=440,
            harmonics=harmonics,
            bandPreset=True,
            minFrequency=100,
            maxFrequency=5000,
            weightType="cosine",
            nonLinear=False,
            windowSize=1.0,
            normalized="unitMax",
        )

    hpcp = treble_hpcp(36, 0)
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
    # 8 harmonics: a note's overtones count towards it, so a triad's chroma looks like its template.
    chord_hpcp = treble_hpcp(12, 8)
    n = len(mags)
    c12_frames = np.zeros((n, 12), np.float32)
    h36 = np.zeros((n, 36), np.float32)
    b12 = np.zeros((n, 12), np.float32)
    energy = (mags**2).sum(axis=1)
    active = energy > 1e-4 * (energy.max() if n else 0)  # skip silent frames (intros, breaks)
    for i in np.flatnonzero(active):
        f, a = peaks(mags[i])
        if len(f):
            h36[i] = hpcp(f, a)
            c12_frames[i] = chord_hpcp(f, a)
            b12[i] = bass(f, a)
    freqs = np.fft.rfftfreq(FRAME, 1.0 / sample_rate)
    band = (freqs >= MELODY_BAND[0]) & (freqs <= MELODY_BAND[1])
    pitch = (np.round(12 * np.log2(freqs[band] / 440.0)).astype(int) + 9) % 12  # index 0 = C
    melody = (mags[:, band] ** 2) @ (pitch[:, None] == np.arange(12)).astype(np.float32)
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
        chord_frames=np.roll(c12_frames, 9, axis=1),
        melody_frames=melody,
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


def cadence_chroma(ch: Chroma, *, beats: np.ndarray | None, bars: int = CADENCE_BARS) -> np.ndarray | None:
    """The melody register's pitch classes over the last half beat of every `bars`-bar group (max 1), each
    group normalized so that every phrase end votes once; None with fewer than two groups."""
    per = 4 * bars
    if ch.melody_frames is None or beats is None or len(beats) <= 2 * per:
        return None
    beats = np.asarray(beats, dtype=float)
    votes = []
    for end in range(per, len(beats), per):
        half_beat = (beats[end] - beats[end - 1]) / 2
        sel = (ch.frame_times >= beats[end] - half_beat) & (ch.frame_times < beats[end])
        v = ch.melody_frames[sel].sum(axis=0)
        if v.max() > 0:
            votes.append(v / v.max())
    if len(votes) < 2:
        return None
    v = np.mean(votes, axis=0)
    return v / max(float(v.max()), 1e-12)


def _mean_bass(ch: Chroma, sel: np.ndarray) -> np.ndarray | None:
    """Mean bass chroma of the selected frames, max 1 (None when nothing is selected)."""
    if not sel.any():
        return None
    v = ch.bass_frames[sel].mean(axis=0)
    return v / max(float(v.max()), 1e-12)


def _chord_templates() -> tuple[np.ndarray, list[tuple[int, str]]]:
    """Unit-norm chroma templates of the 36 chords (12 roots x major, minor, dominant seventh)."""
    rows, labels = [], []
    for root in range(12):
        for quality, intervals in (("maj", (0, 4, 7)), ("min", (0, 3, 7)), ("7", (0, 4, 7, 10))):
            v = np.zeros(12)
            v[[(root + i) % 12 for i in intervals]] = 1
            rows.append(v / np.linalg.norm(v))
            labels.append((root, quality))
    return np.array(rows), labels


CHORD_TEMPLATES, CHORD_LABELS = _chord_templates()
_DOM7_COLUMNS = [j for j, (_, quality) in enumerate(CHORD_LABELS) if quality == "7"]


def bar_chromas(ch: Chroma, *, beats: np.ndarray | None) -> np.ndarray:
    """(bars, 12) mean chord chroma of every bar (CHORD_BEATS beats of the grid) that has frames."""
    if beats is None or len(beats) <= CHORD_BEATS:
        return np.zeros((0, 12))
    edges = np.asarray(beats, dtype=float)[::CHORD_BEATS]
    bars = []
    for start, end in pairwise(edges):
        sel = (ch.frame_times >= start) & (ch.frame_times < end)
        if sel.any():
            bars.append(ch.chord_frames[sel].mean(axis=0))
    return np.array(bars) if bars else np.zeros((0, 12))


def classify_bars(chroma: np.ndarray) -> list[tuple[int, str]]:
    """The best-matching chord of every harmonic bar (drum-only bars are skipped)."""
    if not len(chroma):
        return []
    norms = np.linalg.norm(chroma, axis=1)
    harmonic = norms > HARMONIC_BAR * max(float(norms.max()), 1e-12)
    match = (chroma[harmonic] / norms[harmonic, None]) @ CHORD_TEMPLATES.T
    match[:, _DOM7_COLUMNS] *= DOM7_MATCH_FACTOR
    return [CHORD_LABELS[j] for j in match.argmax(axis=1)]


def bar_chords(ch: Chroma, *, beats: np.ndarray | None) -> list[tuple[int, str]]:
    """The best-matching chord of every harmonic bar of the beat grid."""
    return classify_bars(bar_chromas(ch, beats=beats))


def chord_key_scores(chords: list[tuple[int, str]]) -> dict[tuple[int, str], float]:
    """Each key's mean weight per bar of the chords' functions in it (CHORD_WEIGHTS)."""
    scores = {}
    for tonic in range(12):
        for scale, weights in CHORD_WEIGHTS.items():
            total = sum(weights.get(((root - tonic) % 12, quality), OUT_OF_KEY) for root, quality in chords)
            scores[(tonic, scale)] = total / len(chords)
    return scores


def analyze_key(
    *,
    signal: np.ndarray,
    sample_rate: float,
    bar_seconds: float | None = None,
    first_beat: float = 0.0,
    opening_weight: float = OPENING_WEIGHT,
    phrases: Phrases | None = None,
    phrase_weight: float = PHRASE_WEIGHT,
    beats: np.ndarray | None = None,
) -> KeyResult:
    es = ess()
    ch = chromas(signal=signal, sample_rate=sample_rate)
    c12 = ch.chroma12
    chords = bar_chords(ch, beats=beats)
    chord_scores = chord_key_scores(chords) if len(chords) >= MIN_CHORD_BARS else None
    if chord_scores:
        tonic, scale = max(chord_scores, key=chord_scores.get)
        strength = min(max(chord_scores[(tonic, scale)], 0.0), 1.0)
    else:
        key, scale, strength = es.KeyExtractor(profileType=BASE_PROFILE, sampleRate=sample_rate)(
            np.ascontiguousarray(signal, dtype=np.float32)
        )
        tonic = pitch_class(key)
        if scale == "major" and c12[(tonic + 10) % 12] > FLAT_SEVENTH_RATIO * c12[(tonic + 11) % 12]:
            tonic = (tonic + 5) % 12
    # Relative major/minor share all seven notes; the tonic shows in the bass line, in the tonic
    # triad (A minor: A-C-E vs C major: C-E-G differ by A against G) and at phrase starts.
    rel_tonic, rel_scale = relative_of(tonic, scale)
    opening = _opening_bass(ch, bar_seconds=bar_seconds, first_beat=first_beat) if opening_weight else None
    phrase = (
        _phrase_bass(ch, starts=phrases.starts, bar_seconds=bar_seconds)
        if phrases and phrase_weight
        else None
    )
    bass = ch.bass12

    def tonic_score(t: int) -> float:
        """Bass, triad and phrase-start evidence for t as the tonic (the candidates' scores)."""
        fifth = (t + 7) % 12
        s = bass[t] + 0.5 * c12[t] + 0.25 * c12[fifth] + 0.25 * bass[fifth]
        if opening is not None:
            s += opening_weight * opening[t]
        if phrase is not None:
            s += phrase_weight * phrases.confidence * phrase[t]
        return float(s)

    def start_evidence(t: int) -> float:
        """Bass where phrases (or, when asked, the file) start, next to the track's bass."""
        s = BASS_WEIGHT * bass[t]
        if opening is not None:
            s += opening_weight * opening[t]
        if phrase is not None:
            s += phrase_weight * phrases.confidence * phrase[t]
        return float(s)

    chosen, other = (tonic, scale), (rel_tonic, rel_scale)
    # Chords tied between the pair (a loop and its rotation): the tonic evidence decides, not the keys' order.
    if chord_scores and chord_scores[chosen] - chord_scores[other] < CHORD_TIE and (
        tonic_score(other[0]) > tonic_score(chosen[0])
    ):
        chosen, other = other, chosen
    chords_tied = chord_scores is None or chord_scores[chosen] - chord_scores[other] < RELATIVE_CHORD_MARGIN
    if (
        chords_tied
        and (phrase is not None or opening is not None)
        and start_evidence(other[0]) > SWITCH_MARGIN * start_evidence(chosen[0])
    ):
        chosen, other = other, chosen
    cadence = cadence_chroma(ch, beats=beats) if chord_scores else None
    if (
        cadence is not None
        and abs(chord_scores[chosen] - chord_scores[other]) <= CADENCE_CHORD_MARGIN + CHORD_TIE
        and cadence[other[0]] > CADENCE_RATIO * cadence[chosen[0]]
    ):
        chosen, other = other, chosen
    # Candidates: the decision first, then its relative, dominant and subdominant keys by tonic score.
    t0, s0 = chosen
    neighbours = [other, ((t0 + 7) % 12, s0), ((t0 + 5) % 12, s0)]
    cands = [(t0, s0, tonic_score(t0))] + sorted(
        [(other[0], other[1], tonic_score(other[0]))]
        + [(t, sc, tonic_score(t) * 0.5) for t, sc in neighbours[1:]],
        key=lambda c: -c[2],
    )
    return KeyResult(
        key=PITCH_CLASSES[t0],
        scale=s0,
        strength=float(strength),
        candidates=[(PITCH_CLASSES[t], sc, round(s, 3)) for t, sc, s in cands[:4]],
        chroma12=ch.chroma12,
        chord_scores=chord_scores,
    )
