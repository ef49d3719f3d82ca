"""What a track's embeddings are made of: the text that identifies it, and its audio-feature vector.

`audio_vector` turns the analysis into a 384-dimension vector (zero-padded, L2-normalized) whose cosine
similarity means "sounds alike". Every feature becomes a weighted point on a circle or an arc, so the
contribution of one feature to the cosine is `weight² · cos(angle between the two tracks)`:
- tempo twice: log-tempo on a half circle (60 → 200 BPM: 124 and 128 nearly equal, 90 and 170 opposed),
  and octave-folded (log2 modulo 1 on a full circle: 64 and 128 BPM are the same point, for half-time);
- key on the circle of fifths: the Camelot number as an angle (8A is 30° from 9A and 7A, 180° from 2A),
  plus the mode (A minor / B major) on a quarter circle;
- energy (1..10), danceability, loudness (LUFS), the five mood scores and the spectral descriptors that
  the analysis keeps (centroid, onset rate, flux, low-frequency share, dynamic range) on quarter circles.
A feature the track lacks contributes nothing. `AUDIO_MODEL` names this recipe: change it when the recipe
changes, so old and new vectors are never compared.
"""

from __future__ import annotations

import math
from typing import Any

from services.common.camelot import KeyParseError, parse_key
from services.common.contracts.analysis import MOOD_NAMES
from services.common.models import EMBEDDING_DIMENSIONS, Album, Track

AUDIO_MODEL = "audio-features-v1"
TEXT_MAX = 2000  # characters of source text (the model reads ~256 tokens anyway)
NOTES_MAX = 500

# weight of each feature (its share of the cosine is weight², relative to the sum of weights²)
WEIGHTS = {
    "tempo": 1.8, "tempo_folded": 1.6, "key": 1.6, "mode": 0.6, "energy": 1.4, "danceability": 1.0,
    "loudness": 0.6, "mood": 0.6, "spectral_centroid": 0.6, "onset_rate": 0.6, "spectral_flux": 0.4,
    "low_energy_ratio": 0.5, "dynamic_range": 0.4,
}
TEMPO_RANGE = (60.0, 200.0)
LOUDNESS_RANGE = (-30.0, -3.0)  # LUFS
CENTROID_RANGE = (300.0, 5000.0)  # Hz, log scale
ONSET_RANGE = (0.0, 8.0)  # onsets per second
DYNAMIC_RANGE = (0.0, 30.0)  # dB


def _unit(value: float, low: float, high: float) -> float:
    return min(1.0, max(0.0, (value - low) / (high - low)))


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def _arc(weight: float, fraction: float, span: float = math.pi / 2) -> list[float]:
    """`fraction` 0..1 as a point on an arc of `span` radians, scaled by `weight`."""
    angle = fraction * span
    return [weight * math.cos(angle), weight * math.sin(angle)]


def _circle(weight: float, turns: float) -> list[float]:
    angle = 2 * math.pi * turns
    return [weight * math.cos(angle), weight * math.sin(angle)]


def audio_features(track: Track) -> dict[str, list[float]] | None:
    """Each feature's block (2 floats) for this track, or None when the track has no analysis at all."""
    blocks: dict[str, list[float]] = {}
    bpm = _number(track.bpm)
    if bpm is not None and bpm > 0:
        low, high = (math.log2(v) for v in TEMPO_RANGE)
        blocks["tempo"] = _arc(WEIGHTS["tempo"], _unit(math.log2(bpm), low, high), math.pi)
        blocks["tempo_folded"] = _circle(WEIGHTS["tempo_folded"], math.log2(bpm) % 1.0)
    if track.camelot:
        try:
            key = parse_key(track.camelot)
        except KeyParseError:
            key = None
        if key is not None:
            blocks["key"] = _circle(WEIGHTS["key"], (key.number % 12) / 12)
            blocks["mode"] = _arc(WEIGHTS["mode"], 0.0 if key.is_minor else 1.0)
    energy = _number(track.energy)
    if energy is not None:
        blocks["energy"] = _arc(WEIGHTS["energy"], _unit(energy, 1.0, 10.0))
    danceability = _number(track.danceability)
    if danceability is not None:
        blocks["danceability"] = _arc(WEIGHTS["danceability"], _unit(danceability, 0.0, 1.0))
    loudness = _number(track.loudness_lufs)
    if loudness is not None:
        blocks["loudness"] = _arc(WEIGHTS["loudness"], _unit(loudness, *LOUDNESS_RANGE))
    for name in MOOD_NAMES:
        score = _number((track.moods or {}).get(name))
        if score is not None:
            blocks[f"mood_{name}"] = _arc(WEIGHTS["mood"], _unit(score, 0.0, 1.0))
    spectral = ((track.analysis or {}).get("energy_features") or {}) if isinstance(track.analysis, dict) else {}
    centroid = _number(spectral.get("spectral_centroid_hz"))
    if centroid is not None and centroid > 0:
        low, high = (math.log2(v) for v in CENTROID_RANGE)
        blocks["spectral_centroid"] = _arc(WEIGHTS["spectral_centroid"], _unit(math.log2(centroid), low, high))
    for name, key_name, span in (("onset_rate", "onset_rate", ONSET_RANGE), ("spectral_flux", "spectral_flux", (0, 1)),
                                 ("low_energy_ratio", "low_energy_ratio", (0, 1)),
                                 ("dynamic_range", "dynamic_range_db", DYNAMIC_RANGE)):
        value = _number(spectral.get(key_name))
        if value is not None:
            blocks[name] = _arc(WEIGHTS[name], _unit(value, *span))
    return blocks or None


# fixed slots, so the same feature always sits in the same dimensions
_SLOTS = ["tempo", "tempo_folded", "key", "mode", "energy", "danceability", "loudness",
          *(f"mood_{name}" for name in MOOD_NAMES), "spectral_centroid", "onset_rate", "spectral_flux",
          "low_energy_ratio", "dynamic_range"]


def audio_vector(track: Track) -> list[float] | None:
    """The track's audio-feature vector (EMBEDDING_DIMENSIONS floats, L2-normalized), or None when the
    track has not been analysed (no tempo, key, energy or other feature)."""
    blocks = audio_features(track)
    if blocks is None:
        return None
    vector = [0.0] * EMBEDDING_DIMENSIONS
    for slot, name in enumerate(_SLOTS):
        if name in blocks:
            vector[2 * slot:2 * slot + 2] = blocks[name]
    norm = math.sqrt(sum(v * v for v in vector))
    if norm == 0:
        return None
    return [v / norm for v in vector]


def _words(values: list[str] | None) -> list[str]:
    seen: dict[str, None] = {}
    for value in values or []:
        value = " ".join(str(value).split())
        if value and value.casefold() not in {s.casefold() for s in seen}:
            seen[value] = None
    return list(seen)


def text_source(track: Track, album: Album | None = None) -> str:
    """The text a track's text embedding is made of: artist, title, album, genres, styles, tags, notes and
    the moods the analysis found strong (score ≥ 0.5). Deterministic, so its hash tells a change."""
    artist = " ".join((track.artist or (album.artist if album else "") or "").split())
    title = " ".join((track.title or "").split())
    parts = [f"{artist} - {title}" if artist else title]
    album_title = track.album or (album.title if album else None)
    if album_title:
        parts.append(f"Album: {' '.join(album_title.split())}")
    genres = _words([*(track.genres or []), *((album.genres or []) if album else [])])
    styles = _words([*(track.styles or []), *((album.styles or []) if album else [])])
    if genres:
        parts.append(f"Genres: {', '.join(genres)}")
    if styles:
        parts.append(f"Styles: {', '.join(styles)}")
    tags = _words(track.tags)
    if tags:
        parts.append(f"Tags: {', '.join(tags)}")
    moods = sorted(name for name, score in (track.moods or {}).items()
                   if (_number(score) or 0.0) >= 0.5 and name in MOOD_NAMES)
    if moods:
        parts.append(f"Moods: {', '.join(moods)}")
    notes = " ".join((track.notes or "").split())[:NOTES_MAX]
    if notes:
        parts.append(f"Notes: {notes}")
    return ". ".join(p for p in parts if p)[:TEXT_MAX]
