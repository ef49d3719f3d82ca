"""A DJ's corrections of the analysed tempo and key.

One rule for the effective value: the `bpm` / `key` / `scale` / `camelot` columns are what every
reader uses (search, filters, the set builder, exports). A correction writes them and marks them
`bpm_source` / `key_source` = "user"; a re-analysis then leaves them alone (analysis/results.py) and
the analysed values stay in `track.analysis`. Reverting copies the analysed values back (for the tempo, in
the octave the track's styles count it in: `bpm_source` = "style", style_tempo.py).
"""

from __future__ import annotations

import math
from typing import Any

from sqlalchemy.orm import Session

from services.common.camelot import KeyParseError, parse_key
from services.common.models import Track, User
from services.domain.analysis.results import analysed_tempo
from services.domain.analysis.style_tempo import STYLE, styles_holding, tempo_ranges
from services.domain.errors import Conflict, Invalid
from services.domain.tracks.service import writable_track

BPM_MIN, BPM_MAX = 30.0, 300.0
USER = "user"
ACCEPTS = ("bpm_alternative", "key_alternative")
WHAT = ("bpm", "key", "all")


def clean_bpm(value: Any) -> float:
    """A tempo typed by a person: a number (or numeric text) from 30 to 300, kept to two decimals."""
    if isinstance(value, str):
        try:
            value = float(value.strip().replace(",", "."))
        except ValueError:
            raise Invalid(f"bpm {value.strip()[:20]!r} is not a number", code="bad_bpm") from None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise Invalid("bpm must be a number", code="bad_bpm")
    if not BPM_MIN <= value <= BPM_MAX:
        raise Invalid(f"bpm must be from {BPM_MIN:g} to {BPM_MAX:g}", code="bad_bpm")
    return round(float(value), 2)


def clean_key(value: Any) -> tuple[str, str, str]:
    """A key typed by a person: Camelot ('8A'), Open Key ('1m') or musical ('Am', 'F# minor') ->
    (tonic, scale, camelot)."""
    if not isinstance(value, str) or not value.strip():
        raise Invalid("key must be a Camelot code (8A) or a key name (Am, F# minor)", code="bad_key")
    try:
        cam = parse_key(value[:20])
    except KeyParseError:
        raise Invalid(f"key {value.strip()[:20]!r} is not a Camelot code (8A) or a key name (Am, F# minor)",
                      code="bad_key") from None
    return cam.tonic, cam.scale, str(cam)


def _in_effect(track: Track, candidate: dict[str, Any]) -> bool:
    """Whether an analysed tempo candidate is the track's tempo (to 1%: a typed 124 is the analysed 124.1)."""
    return bool(track.bpm and candidate.get("bpm") and abs(candidate["bpm"] - track.bpm) <= 0.01 * track.bpm)


def tempo_octave(track: Track) -> float:
    """The octave between the tempo in effect and the analysed one (2: double time, 0.5: half, 1: the
    analysis's own or a slight correction): how many of the analysis's beats make one of the track's."""
    analysed = (track.analysis or {}).get("bpm")
    if not track.bpm or track.bpm <= 0 or not isinstance(analysed, int | float) or analysed <= 0:
        return 1.0
    return 2.0 ** round(math.log2(track.bpm / analysed))


def bpm_alternative(track: Track) -> dict[str, Any] | None:
    """The analysis's most likely tempo other than the one in effect: {"bpm", "confidence", "relation"}
    (None if it offered none). When the styles chose the octave, that is the audio's own reading."""
    others = [c for c in track.bpm_candidates or [] if not _in_effect(track, c)]
    if others:
        return max(others, key=lambda c: c.get("confidence") or 0)
    alt = (track.analysis or {}).get("bpm_alternative")  # results stored before analyzer 1.4
    return {"bpm": alt["bpm"], "confidence": None, "relation": None} if alt and alt.get("bpm") else None


def _set_bpm(track: Track, bpm: float) -> None:
    track.bpm = bpm
    track.bpm_source = USER


def _set_key(track: Track, key: str, scale: str, camelot: str) -> None:
    track.key, track.scale, track.camelot = key, scale, camelot
    track.key_source = USER


def correct_analysis(*, session: Session, user: User, track_pk: int, bpm: Any = None, key: Any = None,
                     accept: str | None = None) -> Track:
    """Set the track's tempo and/or key by hand (`bpm`, `key`), or accept the analysis's alternative
    (`accept` = "bpm_alternative" | "key_alternative"). Stored as a user correction that re-analysis keeps."""
    track = writable_track(session=session, user=user, track_pk=track_pk)
    if accept is None and bpm is None and key is None:
        raise Invalid("send bpm, key or accept", code="nothing_to_correct")
    if accept is not None and (bpm is not None or key is not None):
        raise Invalid("send either accept or values (bpm, key), not both", code="bad_correction")
    if accept is not None:
        if accept not in ACCEPTS:
            raise Invalid(f"accept must be one of {', '.join(ACCEPTS)}", code="bad_correction")
        if accept == "bpm_alternative":
            alt = bpm_alternative(track)
            if alt is None:
                raise Conflict("the analysis offered no other tempo for this track", code="no_alternative")
            _set_bpm(track, round(float(alt["bpm"]), 2))
        else:
            alt = track.key_alternative
            if not alt:
                raise Conflict("the analysis offered no other key for this track", code="no_alternative")
            _set_key(track, *clean_key(alt["camelot"]))
    else:
        new_bpm = clean_bpm(bpm) if bpm is not None else None
        new_key = clean_key(key) if key is not None else None
        if new_bpm is not None:
            _set_bpm(track, new_bpm)
        if new_key is not None:
            _set_key(track, *new_key)
    session.flush()
    _reembed(track)
    return track


def revert_correction(*, session: Session, user: User, track_pk: int, what: str = "all") -> Track:
    """Drop the DJ's correction of `what` ("bpm", "key" or "all"): the analysed values come back (none
    when the track was never analysed)."""
    if what not in WHAT:
        raise Invalid(f"what must be one of {', '.join(WHAT)}", code="bad_correction")
    track = writable_track(session=session, user=user, track_pk=track_pk)
    analysed = track.analysis or {}
    if what in ("bpm", "all") and track.bpm_source == USER:
        track.bpm, track.bpm_source = analysed_tempo(track=track, bpm=analysed.get("bpm"),
                                                     candidates=track.bpm_candidates)
    if what in ("key", "all") and track.key_source == USER:
        track.key, track.scale, track.camelot = analysed.get("key"), analysed.get("scale"), analysed.get("camelot")
        track.key_source = None
    session.flush()
    _reembed(track)
    return track


def _reembed(track: Track) -> None:
    from services.domain.embeddings.jobs import embed_soon

    embed_soon(track_pks=[track.id])  # its audio-feature vector includes tempo and key


def estimates(track: Track) -> dict[str, Any]:
    """Effective and analysed tempo and key with their alternatives, for the API and the track page."""
    analysed = track.analysis or {}
    bpm_alt = bpm_alternative(track)
    key_alt = track.key_alternative
    in_effect = next((c for c in track.bpm_candidates or [] if _in_effect(track, c)), None)
    return {
        "bpm": {
            "value": track.bpm,
            "source": track.bpm_source or ("analysis" if track.analyzed_at else None),
            "analysed": analysed.get("bpm"),
            "confidence": in_effect.get("confidence") if in_effect else None,
            # the styles whose usual range chose the octave (source "style")
            "styles": (list(styles_holding(track.bpm, tempo_ranges(styles=track.styles, genres=track.genres)))
                       if track.bpm_source == STYLE and track.bpm else []),
            "candidates": track.bpm_candidates or [],
            "alternative": bpm_alt,
        },
        "key": {
            "camelot": track.camelot,
            "key": track.key,
            "scale": track.scale,
            "source": track.key_source or ("analysis" if track.analyzed_at else None),
            "analysed": ({"key": analysed.get("key"), "scale": analysed.get("scale"),
                          "camelot": analysed.get("camelot")} if analysed.get("camelot") else None),
            "confidence": track.key_confidence,
            "alternative": key_alt,
        },
    }
