"""Transition score between two tracks: the one definition shared by the set builder and the web app.

A set's objective (what services/ga_service maximizes) is

    score = sum over transitions a->b of  transition_score(a, b).total
          + sum over positions k of        w_energy * energy_fit(track_k, target(k / (L - 1)))
          - sum over pairs at distance d in 2..artist_window of  repeat_penalty(a, b) / d

Per-transition terms (raw values in [0, 1] unless noted, multiplied by their weight):

* tempo      1 - (pitch / pitch_range)^2, where pitch is the % change needed to match b to a
             (b may be played at half or double time when allowed; that costs a 15% discount).
             0 beyond the pitch range; -1 when the effective BPM step exceeds `max_bpm_step`.
* key        Camelot wheel: same 1.0, +/-1 0.9, relative major/minor 0.8, diagonal 0.6,
             +2 "energy boost" 0.6 and +7 "semitone up" 0.5 (deliberate moves, can be disabled -> clash),
             clash 0.0.
* similarity cosine of embeddings mapped to [0, 1] when both tracks have one, else the Jaccard index
             of genres + styles + moods.
* artist / album  -1 when the two tracks share an artist (album); the same penalty, divided by the
             distance d, applies to tracks up to `artist_window` slots apart.

A term that cannot be computed because a track lacks analysis (no BPM, no key, no tags, no energy)
gets the neutral raw value 0.5 and is listed in `neutral`, so callers can report it.
Everything here is pure; services/ga_service/scoring.py has the vectorized twin and the tests check
that both agree.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import pairwise

from pydantic import BaseModel, ConfigDict, Field, field_validator

from services.common.camelot import CamelotKey, KeyMove, describe_move, key_move

NEUTRAL = 0.5
HALF_DOUBLE_FACTOR = 0.85  # half/double-time blends work but are less seamless than a straight mix
TEMPO_STEP_VIOLATION = -1.0

KEY_MOVE_SCORES: dict[KeyMove, float] = {
    KeyMove.SAME: 1.0,
    KeyMove.ADJACENT: 0.9,
    KeyMove.RELATIVE: 0.8,
    KeyMove.DIAGONAL: 0.6,
    KeyMove.ENERGY_BOOST: 0.6,
    KeyMove.SEMITONE_UP: 0.5,
    KeyMove.CLASH: 0.0,
}


def must_be_finite(v: float | None) -> float | None:
    """Body of the option models' field validators: refuse NaN and infinities (not JSON; `gt`/`le`
    limits catch only some of them)."""
    if v is not None and not math.isfinite(v):
        raise ValueError("must be a finite number")
    return v


# The models below are also the set builder's JSON contract (contracts/setbuilder.py builds on them):
# no class docstrings, so the published schema carries no model descriptions.
class Weights(BaseModel):
    tempo: float = Field(1.0, ge=0.0)
    key: float = Field(1.0, ge=0.0)
    energy: float = Field(1.0, ge=0.0)
    similarity: float = Field(0.5, ge=0.0)
    artist: float = Field(1.0, ge=0.0)
    album: float = Field(0.5, ge=0.0)


class TransitionOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_bpm_step: float | None = Field(None, ge=0, description="largest effective BPM step between tracks")
    pitch_range_pct: float = Field(8.0, gt=0, le=50, description="tempo matching range, e.g. 6 or 8 (%)")
    allow_half_double: bool = True
    allow_energy_boost: bool = True
    allow_semitone: bool = True
    artist_window: int = Field(3, ge=0, le=10, description="penalise same artist/album up to N slots apart")
    weights: Weights = Field(default_factory=Weights)

    @field_validator("max_bpm_step", "pitch_range_pct")
    @classmethod
    def _finite(cls, v: float | None) -> float | None:
        return must_be_finite(v)


@dataclass(frozen=True, slots=True)
class TrackFeatures:
    """What the score needs from a track; build it with `features(...)`."""

    id: str
    bpm: float | None = None
    key: CamelotKey | None = None
    energy: float | None = None
    artists: frozenset[str] = frozenset()
    album: str | None = None
    tags: frozenset[str] = frozenset()
    embedding: tuple[float, ...] | None = None


_ARTIST_SPLIT = re.compile(r"\s*(?:,|&|/|;|\bfeat\.?|\bft\.?|\bvs\.?)\s*", re.IGNORECASE)


def normalize_artists(artist: str | None) -> frozenset[str]:
    """'Disclosure & Sam Smith' -> {'disclosure', 'sam smith'}: collaborations count for each artist."""
    if not artist:
        return frozenset()
    return frozenset(p.casefold().strip() for p in _ARTIST_SPLIT.split(artist) if p and p.strip())


def features(
    id: str,
    *,
    bpm: float | None = None,
    key: CamelotKey | None = None,
    energy: float | None = None,
    artist: str | None = None,
    album: str | None = None,
    tags: Iterable[str] = (),
    embedding: Sequence[float] | None = None,
) -> TrackFeatures:
    return TrackFeatures(
        id=str(id),
        bpm=bpm,
        key=key,
        energy=energy,
        artists=normalize_artists(artist),
        album=album.casefold().strip() if album and album.strip() else None,
        tags=frozenset(t.casefold().strip() for t in tags if t and t.strip()),
        embedding=tuple(float(x) for x in embedding) if embedding else None,
    )


@dataclass(frozen=True, slots=True)
class TempoMatch:
    score: float  # raw, before weight
    pitch_pct: float | None  # % pitch change needed on b to match a (after half/double)
    bpm_delta: float | None  # effective BPM step b*factor - a
    mode: str  # "normal", "half", "double" or "n/a"
    step_violation: bool = False


def tempo_match(
    bpm_a: float | None,
    bpm_b: float | None,
    *,
    pitch_range_pct: float = 8.0,
    allow_half_double: bool = True,
    max_bpm_step: float | None = None,
) -> TempoMatch:
    if bpm_a is None or bpm_b is None:
        return TempoMatch(NEUTRAL, None, None, "n/a")
    candidates = [(1.0, "normal")]
    if allow_half_double:
        candidates += [(2.0, "double"), (0.5, "half")]
    # Smallest pitch change wins; ties keep the straight mix (listed first).
    factor, mode = min(candidates, key=lambda c: abs(bpm_b * c[0] / bpm_a - 1.0))
    pitch = abs(bpm_b * factor / bpm_a - 1.0) * 100.0
    delta = bpm_b * factor - bpm_a
    if max_bpm_step is not None and abs(delta) > max_bpm_step + 1e-9:
        return TempoMatch(TEMPO_STEP_VIOLATION, pitch, delta, mode, step_violation=True)
    score = max(0.0, 1.0 - (pitch / pitch_range_pct) ** 2)
    if mode != "normal":
        score *= HALF_DOUBLE_FACTOR
    return TempoMatch(score, pitch, delta, mode)


def key_score(
    a: CamelotKey | None,
    b: CamelotKey | None,
    *,
    allow_energy_boost: bool = True,
    allow_semitone: bool = True,
) -> tuple[float, KeyMove | None]:
    if a is None or b is None:
        return NEUTRAL, None
    move = key_move(a, b)
    if (move is KeyMove.ENERGY_BOOST and not allow_energy_boost) or (
        move is KeyMove.SEMITONE_UP and not allow_semitone
    ):
        return 0.0, move
    return KEY_MOVE_SCORES[move], move


def similarity(a: TrackFeatures, b: TrackFeatures) -> tuple[float, str]:
    """(raw similarity in [0, 1], source) with source 'embedding', 'tags' or 'n/a' (neutral)."""
    if a.embedding is not None and b.embedding is not None and len(a.embedding) == len(b.embedding):
        na = math.sqrt(sum(x * x for x in a.embedding))
        nb = math.sqrt(sum(x * x for x in b.embedding))
        if na > 0 and nb > 0:
            cos = sum(x * y for x, y in zip(a.embedding, b.embedding, strict=True)) / (na * nb)
            return (1.0 + max(-1.0, min(1.0, cos))) / 2.0, "embedding"
    if a.tags and b.tags:
        return len(a.tags & b.tags) / len(a.tags | b.tags), "tags"
    return NEUTRAL, "n/a"


def repeat_penalty(a: TrackFeatures, b: TrackFeatures, weights: Weights) -> tuple[float, float]:
    """(artist, album) penalties (positive numbers, weighted) for two tracks next to each other."""
    artist = weights.artist if a.artists and (a.artists & b.artists) else 0.0
    album = weights.album if a.album is not None and a.album == b.album else 0.0
    return artist, album


@dataclass(frozen=True, slots=True)
class TransitionBreakdown:
    total: float
    terms: dict[str, float]  # weighted: tempo, key, similarity, artist (<= 0), album (<= 0)
    raw: dict[str, float]
    tempo: TempoMatch
    key_move: KeyMove | None
    key_label: str | None  # e.g. "8A → 9A (+1)"
    energy_step: float | None
    similarity_source: str
    neutral: tuple[str, ...]  # terms scored neutral for lack of analysis


def transition_score(
    a: TrackFeatures, b: TrackFeatures, *, options: TransitionOptions
) -> TransitionBreakdown:
    """Score of mixing from a into b (higher is better), with the per-term breakdown."""
    w = options.weights
    tempo = tempo_match(
        a.bpm,
        b.bpm,
        pitch_range_pct=options.pitch_range_pct,
        allow_half_double=options.allow_half_double,
        max_bpm_step=options.max_bpm_step,
    )
    k_raw, move = key_score(
        a.key, b.key, allow_energy_boost=options.allow_energy_boost, allow_semitone=options.allow_semitone
    )
    s_raw, s_src = similarity(a, b)
    artist, album = repeat_penalty(a, b, w) if options.artist_window >= 1 else (0.0, 0.0)
    terms = {
        "tempo": w.tempo * tempo.score,
        "key": w.key * k_raw,
        "similarity": w.similarity * s_raw,
        "artist": -artist,
        "album": -album,
    }
    neutral = []
    if tempo.mode == "n/a":
        neutral.append("tempo")
    if move is None:
        neutral.append("key")
    if s_src == "n/a":
        neutral.append("similarity")
    label = None
    if a.key is not None and b.key is not None:
        label = describe_move(a.key, b.key)
        if move is KeyMove.SEMITONE_UP:
            label += " semitone up"
        elif move is KeyMove.ENERGY_BOOST:
            label += " energy boost"
    step = b.energy - a.energy if a.energy is not None and b.energy is not None else None
    return TransitionBreakdown(
        total=sum(terms.values()),
        terms=terms,
        raw={"tempo": tempo.score, "key": k_raw, "similarity": s_raw},
        tempo=tempo,
        key_move=move,
        key_label=label,
        energy_step=step,
        similarity_source=s_src,
        neutral=tuple(neutral),
    )


def window_decay(distance: int) -> float:
    """Weight of the artist/album penalty for two tracks `distance` slots apart (1 = adjacent)."""
    return 1.0 / distance


# --- energy curve ---------------------------------------------------------------------------------

_SHAPES: dict[str, tuple[tuple[float, float], ...]] = {
    "rising": ((0.0, 0.0), (1.0, 1.0)),
    "peak": ((0.0, 0.15), (0.7, 1.0), (1.0, 0.55)),
}


def curve_shape(curve: str, t: float) -> float:
    """Target in [0, 1] at relative position t in [0, 1] for a named curve."""
    if curve == "flat":
        return 0.5
    if curve == "wave":
        # Two build-ups and breakdowns across the set, starting low.
        return 0.5 - 0.5 * math.cos(4.0 * math.pi * t)
    pts = _SHAPES[curve]
    return interpolate(pts, t)


def interpolate(points: Sequence[tuple[float, float]], t: float) -> float:
    pts = sorted(points)
    if t <= pts[0][0]:
        return pts[0][1]
    for (t0, e0), (t1, e1) in pairwise(pts):
        if t <= t1:
            return e0 if t1 == t0 else e0 + (e1 - e0) * (t - t0) / (t1 - t0)
    return pts[-1][1]


def energy_targets(
    curve: str | Sequence[tuple[float, float]] | None, length: int, energies: Sequence[float]
) -> list[float] | None:
    """Target energy per position for a set of `length` tracks, or None when there is no curve.

    Named shapes are stretched over the 10th..90th percentile of the known energies so a library
    whose energies sit in 0.4..0.8 still gets a curve it can follow; explicit points are absolute.
    """
    if curve is None or curve == "none" or length <= 0:
        return None
    ts = [k / (length - 1) if length > 1 else 0.0 for k in range(length)]
    if not isinstance(curve, str):
        return [interpolate(curve, t) for t in ts]
    known = sorted(e for e in energies if e is not None)
    if known:
        lo = known[int(0.1 * (len(known) - 1))]
        hi = known[round(0.9 * (len(known) - 1))]
    else:
        lo, hi = 0.3, 0.9
    if curve == "flat":
        mid = known[len(known) // 2] if known else 0.6
        return [mid] * length
    return [lo + (hi - lo) * curve_shape(curve, t) for t in ts]


def energy_fit(energy: float | None, target: float) -> float:
    """Raw fit in [0, 1]; neutral when the track has no energy value."""
    if energy is None:
        return NEUTRAL
    return max(0.0, 1.0 - abs(energy - target))
