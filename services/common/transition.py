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

Energy curve (per position; see `energy_targets` and `energy_fit`): a named curve asks, at each
position, for a quantile of the energies at hand (rising over a whole crate = its energies sorted);
the fit is 1 - |energy - target| / span of the energies, weighted by w_energy (default 6, so the
curve is followed and tempo/key decide among tracks of about the same energy).

A term that cannot be computed because a track lacks analysis (no BPM, no key, no tags, no energy)
gets the neutral raw value 0.5 and is listed in `neutral`, so callers can report it. (The set
builder keeps tracks lacking BPM, key or energy out of the optimisation: `missing_analysis`.)

What DJs see: `explain_transition` turns a transition into a 0-100 mix score (the total divided by
its best possible value, MIX_SCALE), a verdict and words per part ("adjacent key (8A→9A)",
"+2.1 BPM (1.7%)"); the API and the pages both use it.
Everything here is pure; services/ga_service/scoring.py has the vectorized twin and the tests check
that both agree.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from services.common.camelot import CamelotKey, KeyMove, describe_move, key_move

NEUTRAL = 0.5
MIN_ENERGY_SCALE = 0.1  # energies within 0.1 of each other (about one step of 1-10) count as one level
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
    model_config = ConfigDict(extra="forbid")
    tempo: float = Field(1.0, ge=0.0)
    key: float = Field(1.0, ge=0.0)
    # Per position, against 1 per transition for tempo and key: 6 keeps a chosen energy curve (a
    # rising set rises) while tempo and key still decide among tracks of about the same energy.
    energy: float = Field(6.0, ge=0.0)
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


# --- the mix score shown to DJs ------------------------------------------------------------------

MIX_SCALE = (
    "Mix score 0-100: 100 = same key, same tempo, same style; 50 = cannot tell (analysis missing); "
    "0 = key clash, tempo out of pitch range or the same artist back to back. "
    "It is the transition score divided by its best possible value (weights of tempo + key + similarity)."
)
# Verdicts by mix score, best first.
MIX_VERDICTS: tuple[tuple[float, str], ...] = ((80.0, "Smooth"), (60.0, "Good"), (40.0, "Workable"), (0.0, "Rough"))
ANALYSIS_FIELDS = ("bpm", "key", "energy")
KEY_WORDS: dict[KeyMove, str] = {
    KeyMove.SAME: "same key",
    KeyMove.ADJACENT: "adjacent key",
    KeyMove.RELATIVE: "relative major/minor",
    KeyMove.DIAGONAL: "diagonal key move",
    KeyMove.ENERGY_BOOST: "energy boost (+2)",
    KeyMove.SEMITONE_UP: "semitone up (+7)",
    KeyMove.CLASH: "key clash",
}


def missing_analysis(track: TrackFeatures) -> list[str]:
    """Which of BPM, key and energy a track lacks ([] for an analysed track): the set builder puts such
    tracks after the analysed ones, or leaves them out."""
    values = {"bpm": track.bpm, "key": track.key, "energy": track.energy}
    return [name for name in ANALYSIS_FIELDS if values[name] is None]


def energy_level(energy: float) -> float:
    """Energy 0..1 (the set builder's scale) -> the 1-10 rating DJs see."""
    return 1.0 + 9.0 * energy


class MixPart(BaseModel):
    value: float | None = Field(description="key/tempo/similarity: raw 0-1; energy: step on the 1-10 scale")
    weight: float = Field(description="weight in the mix score (0: shown, not scored)")
    label: str


class MixExplanation(BaseModel):
    score: float = Field(ge=0.0, le=100.0, description="0-100, see MIX_SCALE")
    verdict: Literal["Smooth", "Good", "Workable", "Rough", "Unknown"]
    summary: str = Field(description="e.g. 'Smooth: adjacent key, +2.1 BPM'")
    parts: dict[str, MixPart]


def mix_score(total: float, weights: Weights) -> float:
    """A transition score on the 0-100 scale of MIX_SCALE."""
    best = weights.tempo + weights.key + weights.similarity
    if best <= 0:
        return 50.0
    return round(min(100.0, max(0.0, 100.0 * total / best)), 1)


def mix_verdict(score: float | None) -> str:
    if score is None:
        return "Unknown"
    return next(word for floor, word in MIX_VERDICTS if score >= floor)


def _tempo_words(a: TrackFeatures, b: TrackFeatures, br: TransitionBreakdown, options: TransitionOptions) -> str:
    t = br.tempo
    if t.mode == "n/a":
        return "tempo unknown"
    if t.step_violation:
        return f"{t.bpm_delta:+.1f} BPM step, more than the {options.max_bpm_step:g} BPM allowed"
    prefix = {"half": "at half time, ", "double": "at double time, "}.get(t.mode, "")
    if abs(t.bpm_delta) < 0.05:
        words = f"{prefix}same tempo ({round(a.bpm, 1):g} BPM)"
    else:
        words = f"{prefix}{t.bpm_delta:+.1f} BPM ({t.pitch_pct:.1f}%)"
    if t.pitch_pct > options.pitch_range_pct:
        words += f", beyond the {options.pitch_range_pct:g}% pitch range"
    return words


def explain_transition(
    a: TrackFeatures, b: TrackFeatures, *, options: TransitionOptions, breakdown: TransitionBreakdown | None = None
) -> MixExplanation:
    """The transition a -> b in numbers and words: the one explanation the API and the pages show."""
    br = breakdown or transition_score(a, b, options=options)
    w = options.weights
    score = mix_score(br.total, w)
    parts: dict[str, MixPart] = {}
    if br.key_move is None:
        key_words = "key unknown"
    else:
        key_words = KEY_WORDS[br.key_move]
        if br.key_move in (KeyMove.ENERGY_BOOST, KeyMove.SEMITONE_UP) and br.raw["key"] == 0.0:
            key_words += ", switched off: counts as a clash"
    key_label = key_words if br.key_move is None else f"{key_words} ({a.key}→{b.key})"
    parts["key"] = MixPart(value=round(br.raw["key"], 3), weight=w.key, label=key_label)
    tempo_words = _tempo_words(a, b, br, options)
    parts["tempo"] = MixPart(value=round(br.raw["tempo"], 3), weight=w.tempo, label=tempo_words)
    sim = br.raw["similarity"]
    if br.similarity_source == "n/a":
        sim_words = "style unknown"
    else:
        kind = "sound" if br.similarity_source == "embedding" else "style"
        sim_words = f"{'similar' if sim >= 0.6 else 'related' if sim >= 0.3 else 'different'} {kind}"
    parts["similarity"] = MixPart(value=round(sim, 3), weight=w.similarity, label=f"{sim_words} ({sim:.2f})")
    if br.energy_step is None:
        parts["energy"] = MixPart(value=None, weight=0.0, label="energy unknown")
    else:
        ea, eb = round(energy_level(a.energy), 1), round(energy_level(b.energy), 1)
        step = round(eb - ea, 1)
        parts["energy"] = MixPart(value=step, weight=0.0, label=f"energy {ea:g} → {eb:g} ({step:+g})")
    repeats = [name for name in ("artist", "album") if br.terms[name] < 0]
    if repeats:
        parts["repeat"] = MixPart(
            value=round(sum(br.terms[n] for n in repeats), 3), weight=1.0,
            label=" and ".join(f"same {n}" for n in repeats) + " back to back",
        )
    if "tempo" in br.neutral and "key" in br.neutral:
        verdict = "Unknown"
        words = ["no BPM or key to judge by"]
    else:
        verdict = mix_verdict(score)
        words = [key_words, tempo_words]
        if repeats:
            words.append(parts["repeat"].label)
    return MixExplanation(score=score, verdict=verdict, summary=f"{verdict}: {', '.join(words)}", parts=parts)


# --- energy curve ---------------------------------------------------------------------------------

_SHAPES: dict[str, tuple[tuple[float, float], ...]] = {
    "rising": ((0.0, 0.0), (1.0, 1.0)),
    # Build up to the peak a little after the middle, then come down to about a third.
    "peak": ((0.0, 0.1), (0.6, 1.0), (1.0, 0.4)),
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


def quantile(sorted_values: Sequence[float], q: float) -> float:
    """Linear-interpolated quantile q in [0, 1] of already sorted values."""
    pos = min(1.0, max(0.0, q)) * (len(sorted_values) - 1)
    i = int(pos)
    if i + 1 >= len(sorted_values):
        return sorted_values[-1]
    return sorted_values[i] + (sorted_values[i + 1] - sorted_values[i]) * (pos - i)


def energy_targets(
    curve: str | Sequence[tuple[float, float]] | None, length: int, energies: Sequence[float | None]
) -> list[float] | None:
    """Target energy per position for a set of `length` tracks, or None when there is no curve.

    A named shape gives a level in [0, 1] per position, read as a quantile of the known energies:
    level 0 is the calmest track at hand, 1 the most intense, 0.5 the median. So "rising" over a
    whole crate asks for exactly its energies in ascending order, and a crate whose energies sit in
    5..7 gets a curve it can follow. Explicit points are absolute energies (0..1).
    """
    if curve is None or curve == "none" or length <= 0:
        return None
    ts = [k / (length - 1) if length > 1 else 0.0 for k in range(length)]
    if not isinstance(curve, str):
        return [interpolate(curve, t) for t in ts]
    known = sorted(e for e in energies if e is not None) or [0.3, 0.9]
    return [quantile(known, curve_shape(curve, t)) for t in ts]


def energy_scale(energies: Iterable[float | None], targets: Sequence[float]) -> float:
    """The energy span the curve fit is measured against: every known energy and target lies within it."""
    values = [e for e in energies if e is not None] + list(targets)
    if not values:
        return 1.0
    return max(max(values) - min(values), MIN_ENERGY_SCALE)


def energy_fit(energy: float | None, target: float, scale: float = 1.0) -> float:
    """Raw fit in [0, 1]: 1 - |energy - target| / scale; neutral when the track has no energy value.

    `scale` is the span of the energies at hand (`energy_scale`), so a crate whose energies sit in
    5..7 is held to the curve as firmly as one spanning 1..10: putting the calmest track where the
    most intense belongs costs the full weight, whatever the crate.
    """
    if energy is None:
        return NEUTRAL
    return max(0.0, 1.0 - abs(energy - target) / scale)
