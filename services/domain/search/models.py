"""The search contract: what a query may ask and what every backend answers, identically."""

from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from services.common.camelot import DEFAULT_COMPATIBLE, KeyMove, KeyParseError, compatible_keys, parse_key

MAX_LIMIT = 200
SORT_FIELDS = ("relevance", "bpm", "key", "energy", "year", "rating", "added", "title", "artist")
BPM_BUCKET = 5  # facet buckets of 5 BPM
MOVE_NAMES = {m.value: m for m in KeyMove if m is not KeyMove.CLASH}
Repeated = Annotated[list[str], Field(default_factory=list, max_length=50)]


def _finite(value: float | None) -> float | None:
    if value is not None and not math.isfinite(value):
        raise ValueError("must be a finite number")
    return value


class SearchQuery(BaseModel):
    """`GET /api/tracks/search`: free text plus DJ filters, all combinable. Unknown fields are refused."""

    model_config = ConfigDict(extra="forbid")

    q: str = Field("", max_length=200, description="free text; empty browses")
    mode: Literal["text", "semantic", "hybrid"] = Field(
        "text", description="text: words; semantic: by meaning (embeddings; BPM, key and energy in q become "
        "filters); hybrid: both rankings fused (services/domain/embeddings/vibe.py)")
    limit: int = Field(50, ge=1, le=MAX_LIMIT)
    offset: int = Field(0, ge=0, le=100_000)
    sort: str = Field("relevance", description=f"one of {', '.join(SORT_FIELDS)}; '-' for descending")
    bpm_min: float | None = Field(None, gt=0, le=400)
    bpm_max: float | None = Field(None, gt=0, le=400)
    half_double: bool = Field(False, description="also accept half and double time within the BPM range")
    key: str | None = Field(None, max_length=20, description="Camelot code, Open Key or musical key")
    compatible_with: str | None = Field(None, max_length=20, description="keys that mix with this one")
    moves: list[str] = Field(default_factory=list, max_length=6,
                             description="extra moves for compatible_with: diagonal, energy_boost, semitone_up")
    energy_min: float | None = Field(None, ge=0, le=10)
    energy_max: float | None = Field(None, ge=0, le=10)
    danceability_min: float | None = Field(None, ge=0, le=1)
    rating_min: int | None = Field(None, ge=0, le=5)
    genre: Repeated
    style: Repeated
    match: Literal["any", "all"] = "any"
    year_min: int | None = Field(None, ge=0, le=3000)
    year_max: int | None = Field(None, ge=0, le=3000)
    has_audio: bool | None = None
    analyzed: bool | None = None
    has_apple: bool | None = None
    has_spotify: bool | None = None
    has_youtube: bool | None = None
    has_soundcloud: bool | None = None
    library_id: list[int] = Field(default_factory=list, max_length=100)
    playlist_id: int | None = None
    in_playlist: bool = Field(True, description="with playlist_id: tracks in it (true) or not in it (false)")

    _check_finite = field_validator("bpm_min", "bpm_max", "energy_min", "energy_max", "danceability_min")(_finite)

    @field_validator("q")
    @classmethod
    def _text(cls, value: str) -> str:
        if "\x00" in value:
            raise ValueError("must not contain NUL characters")
        return " ".join(value.split())

    @field_validator("sort")
    @classmethod
    def _sort(cls, value: str) -> str:
        if value.removeprefix("-") not in SORT_FIELDS:
            raise ValueError(f"unknown sort {value!r}: one of {', '.join(SORT_FIELDS)}, '-' for descending")
        return value

    @field_validator("key", "compatible_with")
    @classmethod
    def _key(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        try:
            return str(parse_key(value))
        except KeyParseError as exc:
            raise ValueError(str(exc)) from None

    @field_validator("moves")
    @classmethod
    def _moves(cls, value: list[str]) -> list[str]:
        unknown = [m for m in value if m not in MOVE_NAMES]
        if unknown:
            raise ValueError(f"unknown move(s) {', '.join(unknown)}: {', '.join(MOVE_NAMES)}")
        return value

    @field_validator("genre", "style")
    @classmethod
    def _names(cls, value: list[str]) -> list[str]:
        cleaned = [v.strip() for v in value if v.strip()]
        if any(len(v) > 100 or "\x00" in v for v in cleaned):
            raise ValueError("names are at most 100 characters, without NUL")
        return list(dict.fromkeys(cleaned))

    @model_validator(mode="after")
    def _ranges(self) -> SearchQuery:
        for low, high in (("bpm_min", "bpm_max"), ("energy_min", "energy_max"), ("year_min", "year_max")):
            lo, hi = getattr(self, low), getattr(self, high)
            if lo is not None and hi is not None and lo > hi:
                raise ValueError(f"{low} must be <= {high}")
        if self.moves and not self.compatible_with:
            raise ValueError("moves go with compatible_with")
        return self

    @property
    def sort_field(self) -> str:
        return self.sort.removeprefix("-")

    @property
    def descending(self) -> bool:
        return self.sort.startswith("-")

    def bpm_ranges(self) -> list[tuple[float, float]]:
        """The BPM windows to accept: the range, plus half and double time when asked."""
        if self.bpm_min is None and self.bpm_max is None:
            return []
        lo, hi = self.bpm_min or 0.0, self.bpm_max or 1000.0
        ranges = [(lo, hi)]
        if self.half_double:
            ranges += [(lo / 2, hi / 2), (lo * 2, hi * 2)]
        return ranges

    def key_codes(self) -> list[str] | None:
        """Camelot codes a track's key must be one of (None: no key filter). `key` and
        `compatible_with` together keep only the keys both allow."""
        codes: set[str] | None = None
        if self.key:
            codes = {self.key}
        if self.compatible_with:
            moves = DEFAULT_COMPATIBLE | {MOVE_NAMES[m] for m in self.moves}
            allowed = {str(k) for k in compatible_keys(parse_key(self.compatible_with), moves)}
            codes = allowed if codes is None else codes & allowed
        return sorted(codes) if codes is not None else None


class SearchItem(BaseModel):
    id: int = Field(description="track primary key")
    track_id: str = Field(description='Discogs-derived "<releaseId>-<position>"')
    title: str
    artist: str | None
    album: str | None
    album_id: int | None
    year: int | None
    position: str | None
    duration_seconds: float | None
    bpm: float | None
    key: str | None
    camelot: str | None
    energy: float | None
    danceability: float | None
    rating: int | None
    genres: list[str]
    styles: list[str]
    library_id: int
    library: str
    has_audio: bool
    analyzed: bool
    highlight: dict[str, str] = Field(
        default_factory=dict, description="title/artist/album with matched words in <mark>…</mark> (HTML-escaped)"
    )


class FacetCount(BaseModel):
    value: str
    count: int
    label: str | None = Field(None, description="a readable name (the library's)")


class Facets(BaseModel):
    genres: list[FacetCount] = Field(default_factory=list)
    styles: list[FacetCount] = Field(default_factory=list)
    camelot: list[FacetCount] = Field(default_factory=list)
    bpm: list[FacetCount] = Field(default_factory=list, description=f"{BPM_BUCKET}-BPM buckets, e.g. '120-125'")
    energy: list[FacetCount] = Field(default_factory=list, description="energy rounded to 1..10")
    library: list[FacetCount] = Field(default_factory=list)


FACET_LIMIT = 30  # values kept for genres, styles and libraries (the most frequent)


def facets_from_counts(counts: dict[str, list[tuple[object, int]]]) -> Facets:
    """Every backend's raw (value, count) pairs in the contract's order: genres, styles and libraries
    by count (the FACET_LIMIT largest), keys around the wheel, BPM buckets ("120-125") and energy up."""
    found = {name: [FacetCount(value=str(v), count=c) for v, c in pairs] for name, pairs in counts.items()}
    for facet in ("genres", "styles", "library"):
        found[facet] = sorted(found.get(facet, []), key=lambda f: (-f.count, f.value))[:FACET_LIMIT]
    found["camelot"] = sorted(found.get("camelot", []), key=lambda f: (int(f.value[:-1]), f.value[-1]))
    for facet in ("bpm", "energy"):
        found[facet] = sorted(found.get(facet, []), key=lambda f: int(f.value))
    for f in found["bpm"]:
        f.value = f"{f.value}-{int(f.value) + BPM_BUCKET}"
    return Facets(**found)


class SearchResult(BaseModel):
    items: list[SearchItem]
    total: int
    facets: Facets
    took_ms: float
    backend: str
