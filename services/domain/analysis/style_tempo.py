"""The tempo octave a record's Discogs styles count it in.

Audio alone cannot always tell 70 from 140 (dubstep's half-time drums) or 85 from 170 (drum & bass whose
snare lands where a slow groove's would): both readings fit the beats, and DJs settle it by convention.
Rekordbox and Lexicon ask the DJ for a BPM range per analysis; this library already knows every record's
styles from Discogs, so it applies the convention itself and keeps the audio's reading as the alternative.

The rule (one place, used by analysis/results.py, corrections.py and bench/bench_analysis_heldout.py): the
ranges of the track's styles (of its genres only when it has no style) are where its tempo usually is; a
tempo outside all of them is taken as OUTSIDE_ODDS times as likely as one inside. The analysis's octave
candidates keep their own confidences, so a reading the audio is sure of stays even outside the range.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

# Usual tempo ranges of Discogs styles (names as Discogs spells them), from common DJ practice. Only styles
# with a convention are listed: a style whose tracks are counted at either octave (Trap, Reggae, Dub) or
# that spans everything (Ambient, Experimental) has no entry and never moves a tempo.
STYLE_BPM_RANGES: dict[str, tuple[float, float]] = {
    "Acid House": (115, 135),
    "Bassline": (130, 142),
    "Big Beat": (95, 140),
    "Boom Bap": (70, 112),
    "Breakbeat": (110, 145),
    "Breaks": (110, 145),
    "Dancehall": (80, 115),
    "Deep House": (110, 130),
    "Disco": (100, 135),
    "Downtempo": (60, 118),
    "Drum n Bass": (155, 185),
    "Dub Techno": (110, 135),
    "Dubstep": (130, 150),
    "Electro": (105, 140),
    "Electro House": (120, 135),
    "Footwork": (150, 170),
    "Gabber": (150, 220),
    "Goa Trance": (130, 150),
    "Grime": (130, 145),
    "Happy Hardcore": (160, 190),
    "Hard Trance": (135, 160),
    "Hardstyle": (140, 160),
    "House": (110, 135),
    "Italo-Disco": (110, 135),
    "Juke": (150, 170),
    "Jungle": (150, 180),
    "Minimal": (115, 135),
    "Nu-Disco": (100, 130),
    "Progressive House": (118, 132),
    "Progressive Trance": (125, 140),
    "Psy-Trance": (135, 150),
    "Reggaeton": (80, 105),
    "Speed Garage": (125, 140),
    "Tech House": (118, 132),
    "Techno": (115, 160),
    "Trance": (125, 150),
    "Trip Hop": (60, 112),
    "UK Garage": (125, 140),
}
# Used only for a track without any style.
GENRE_BPM_RANGES: dict[str, tuple[float, float]] = {"Hip Hop": (70, 115)}
# How much less likely a tempo outside every range of the track's styles is than one inside: a prior from
# the conventions above (most tracks follow their style's), not fitted to any benchmark.
OUTSIDE_ODDS = 0.1
STYLE = "style"  # Track.bpm_source when the styles chose the octave


@dataclass(frozen=True)
class StyleTempo:
    bpm: float
    styles: tuple[str, ...]  # the track's styles whose range holds it


def tempo_ranges(*, styles: Iterable[str] | None, genres: Iterable[str] | None) -> dict[str, tuple[float, float]]:
    styles = list(styles or ())
    if styles:
        return {s: STYLE_BPM_RANGES[s] for s in styles if s in STYLE_BPM_RANGES}
    return {g: GENRE_BPM_RANGES[g] for g in genres or () if g in GENRE_BPM_RANGES}


def styles_holding(bpm: float, ranges: Mapping[str, tuple[float, float]]) -> tuple[str, ...]:
    return tuple(name for name, (lo, hi) in ranges.items() if lo <= bpm <= hi)


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def style_tempo(*, bpm: float | None, candidates: Iterable[Mapping[str, Any]] | None,
                styles: Iterable[str] | None, genres: Iterable[str] | None) -> StyleTempo | None:
    """The octave the track's styles expect, or None to keep the analysis's reading `bpm`.

    candidates: the analysis's readings ({"bpm", "confidence", "relation"}, relation "chosen" = `bpm`);
    without them (results from before analyzer 1.4) half and double time count as likely as `bpm`."""
    ranges = tempo_ranges(styles=styles, genres=genres)
    if not bpm or bpm <= 0 or not ranges or styles_holding(bpm, ranges):
        return None
    readings = [(float(c["bpm"]), _number(c.get("confidence")), c.get("relation")) for c in candidates or ()
                if isinstance(c, Mapping) and (_number(c.get("bpm")) or 0) > 0]  # stored JSON: skip oddities
    chosen = next((conf for _, conf, rel in readings if rel == "chosen"), None)
    others = [(b, conf) for b, conf, rel in readings if rel != "chosen"]
    if chosen is None or not others:
        chosen, others = 1.0, [(round(bpm / 2, 2), 1.0), (round(bpm * 2, 2), 1.0)]
    inside = [(conf if conf is not None else chosen, b) for b, conf in others if styles_holding(b, ranges)]
    if not inside:
        return None
    conf, best = max(inside)
    if conf <= chosen * OUTSIDE_ODDS:
        return None
    return StyleTempo(bpm=best, styles=styles_holding(best, ranges))
