"""Contract of the set builder (services/ga_service): POST /generate.

Modes:
* ``order``  – put all given tracks in the best order (GA + local search).
* ``select`` – choose ``count`` tracks, or enough for ``minutes``, from the pool and order them.
* ``greedy`` – instant feedback: nearest neighbour + 2-opt (orders all tracks, or selects when
  ``count``/``minutes`` is set).

The score is defined in services/common/transition.py.
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from services.common.camelot import CamelotKey, KeyParseError, key_to_camelot, parse_key
from services.common.transition import (
    MixExplanation,
    TrackFeatures,
    TransitionOptions,
    Weights,
    features,
    must_be_finite,
)

__all__ = [
    "BuildOptions",
    "CurveName",
    "EnergyPoint",
    "GenerateRequest",
    "GenerateResponse",
    "Mode",
    "SearchInfo",
    "SetOptions",
    "SetTrack",
    "Transition",
    "UnanalysedPolicy",
    "UnanalysedTrack",
    "Weights",
]

Mode = Literal["order", "select", "greedy"]
CurveName = Literal["none", "flat", "rising", "peak", "wave"]
UnanalysedPolicy = Literal["end", "exclude"]


class SetTrack(BaseModel):
    """One track as the set builder sees it; every analysis field is optional (neutral score)."""

    model_config = ConfigDict(extra="ignore")

    id: str = Field(min_length=1)
    bpm: float | None = Field(None, description="beats per minute, > 0")
    camelot: str | None = Field(None, description="Camelot code ('8A'), Open Key or musical key")
    key: str | None = Field(None, description="tonic, e.g. 'A' or 'F#' (used with scale when no camelot)")
    scale: str | None = Field(None, description="'major' or 'minor'")
    energy: float | None = Field(None, ge=0.0, le=1.0)
    danceability: float | None = Field(None, ge=0.0)
    moods: list[str] = Field(default_factory=list)
    duration: float | None = Field(None, ge=0.0, description="seconds")
    artist: str | None = None
    album: str | None = None
    genres: list[str] = Field(default_factory=list)
    styles: list[str] = Field(default_factory=list)
    embedding: list[float] | None = None

    @field_validator("id", mode="before")
    @classmethod
    def _id_str(cls, v: object) -> object:
        return str(v) if isinstance(v, int) and not isinstance(v, bool) else v

    @field_validator("bpm", "energy", "danceability", "duration")
    @classmethod
    def _finite(cls, v: float | None) -> float | None:
        return must_be_finite(v)

    @field_validator("bpm")
    @classmethod
    def _bpm_positive(cls, v: float | None) -> float | None:
        if v is not None and v <= 0:
            raise ValueError("bpm must be > 0")
        return v

    @field_validator("embedding")
    @classmethod
    def _embedding_finite(cls, v: list[float] | None) -> list[float] | None:
        if v is not None and (not v or not all(math.isfinite(x) for x in v)):
            raise ValueError("embedding must be a non-empty list of finite numbers")
        return v

    @model_validator(mode="after")
    def _key_parses(self) -> SetTrack:
        self.camelot_key()  # raises ValueError -> 422 for unknown keys
        return self

    def camelot_key(self) -> CamelotKey | None:
        try:
            if self.camelot:
                return parse_key(self.camelot)
            if self.key:
                if self.scale:
                    return key_to_camelot(self.key, self.scale)
                return parse_key(self.key)
        except KeyParseError as exc:
            raise ValueError(f"track {self.id}: {exc}") from exc
        return None

    def tags(self) -> list[str]:
        return [*self.genres, *self.styles, *self.moods]

    def features(self) -> TrackFeatures:
        """What the transition score needs from this track."""
        return features(
            self.id,
            bpm=self.bpm,
            key=self.camelot_key(),
            energy=self.energy,
            artist=self.artist,
            album=self.album,
            tags=self.tags(),
            embedding=self.embedding,
        )


MAX_ENERGY_POINTS = 1000


class EnergyPoint(BaseModel):
    model_config = ConfigDict(extra="forbid")
    t: float = Field(ge=0.0, le=1.0, description="relative position in the set, 0 = first, 1 = last")
    energy: float = Field(ge=0.0, le=1.0)


# BuildOptions: what a DJ tunes (the web app derives its public options from it); SetOptions adds
# what one request to the set builder picks (size, fixed ends). The score options, their defaults
# and limits come from TransitionOptions: one definition for the service, the web app and the API.
class BuildOptions(TransitionOptions):
    model_config = ConfigDict(extra="forbid")

    # A custom curve is a few control points; capped so a request cannot make the GA interpolate millions.
    energy_curve: CurveName | Annotated[list[EnergyPoint], Field(max_length=MAX_ENERGY_POINTS)] = "none"
    unanalysed: UnanalysedPolicy = Field(
        "end",
        description="tracks lacking BPM, key or energy: 'end' puts them after the analysed tracks (in "
        "their given order; before a fixed last track), 'exclude' leaves them out. Fixed first/last "
        "tracks are always kept. In select mode 'end' uses them only when the analysed tracks are too few.",
    )
    bpm_min: float | None = Field(None, gt=0)
    bpm_max: float | None = Field(None, gt=0)
    seed: int = 0
    time_budget_s: float = Field(10.0, gt=0, le=300)
    islands: int = Field(2, ge=1, le=16, description="independent GA runs (parallel on the process pool)")
    population: int | None = Field(None, ge=4, le=2000)
    max_generations: int | None = Field(None, ge=1, le=100000)

    @field_validator("bpm_min", "bpm_max", "time_budget_s")
    @classmethod
    def _finite_build(cls, v: float | None) -> float | None:
        return must_be_finite(v)

    @model_validator(mode="after")
    def _consistent(self) -> BuildOptions:
        if self.bpm_min is not None and self.bpm_max is not None and self.bpm_min > self.bpm_max:
            raise ValueError("bpm_min must be <= bpm_max")
        if isinstance(self.energy_curve, list) and not self.energy_curve:
            raise ValueError("energy_curve points must not be empty")
        return self


class SetOptions(BuildOptions):
    count: int | None = Field(None, ge=1, description="select mode: number of tracks")
    minutes: float | None = Field(None, gt=0, description="select mode: minimum total duration")
    first_id: str | None = None
    last_id: str | None = None

    @field_validator("minutes")
    @classmethod
    def _finite_minutes(cls, v: float | None) -> float | None:
        return must_be_finite(v)

    @model_validator(mode="after")
    def _selection_consistent(self) -> SetOptions:
        if self.first_id is not None and self.first_id == self.last_id:
            raise ValueError("first_id and last_id must be different tracks")
        if self.count is not None and self.minutes is not None:
            raise ValueError("give count or minutes, not both")
        return self


class GenerateRequest(BaseModel):
    mode: Mode = "order"
    tracks: list[SetTrack] = Field(min_length=1)
    options: SetOptions = Field(default_factory=SetOptions)

    @model_validator(mode="after")
    def _check(self) -> GenerateRequest:
        ids = [t.id for t in self.tracks]
        seen: set[str] = set()
        dups = sorted({i for i in ids if i in seen or seen.add(i)})
        if dups:
            raise ValueError(f"duplicate track ids: {', '.join(dups[:10])}")
        o = self.options
        for name, fid in (("first_id", o.first_id), ("last_id", o.last_id)):
            if fid is not None and fid not in seen:
                raise ValueError(f"{name} {fid!r} is not among the tracks")
        if self.mode == "select" and o.count is None and o.minutes is None:
            raise ValueError("select mode needs options.count or options.minutes")
        if o.count is not None:
            if o.count > len(self.tracks):
                raise ValueError(f"count {o.count} is larger than the pool of {len(self.tracks)} tracks")
            fixed = (o.first_id is not None) + (o.last_id is not None)
            if o.count < fixed:
                raise ValueError(f"count {o.count} cannot hold the {fixed} fixed tracks")
        if o.minutes is not None:
            missing = [t.id for t in self.tracks if t.duration is None]
            if missing:
                raise ValueError(
                    f"minutes needs a duration on every track (missing: {', '.join(missing[:5])})"
                )
            total = sum(t.duration or 0.0 for t in self.tracks)
            if total < o.minutes * 60:
                raise ValueError(f"the pool lasts {total / 60:.1f} min, less than the {o.minutes} min asked")
        dims = {len(t.embedding) for t in self.tracks if t.embedding is not None}
        if len(dims) > 1:
            raise ValueError(f"embeddings have different lengths: {sorted(dims)}")
        return self


class Transition(BaseModel):
    position: int  # index of the outgoing track in `order`
    from_id: str
    to_id: str
    score: float
    terms: dict[str, float]  # weighted tempo, key, similarity, artist, album
    bpm_from: float | None
    bpm_to: float | None
    bpm_delta: float | None  # effective step after half/double time
    pitch_pct: float | None
    tempo_mode: Literal["normal", "half", "double", "n/a"]
    tempo_step_violation: bool = False
    key_from: str | None
    key_to: str | None
    key_move: str | None  # KeyMove value: same, adjacent, relative, diagonal, energy_boost, ...
    key_label: str | None  # "8A → 9A (+1)"
    energy_from: float | None
    energy_to: float | None
    energy_step: float | None
    similarity: float
    similarity_source: Literal["embedding", "tags", "n/a"]
    neutral: list[str]  # terms scored neutral because analysis is missing
    mix: MixExplanation  # the 0-100 mix score with words per part (services/common/transition.py)


class UnanalysedTrack(BaseModel):
    id: str
    missing: list[Literal["bpm", "key", "energy"]]
    position: int | None  # index in `order`; None when left out


class SearchInfo(BaseModel):
    algorithm: str  # "ga+local_search", "greedy+2opt", "trivial"
    generations: int = 0
    evaluations: int = 0
    local_search_moves: int = 0
    islands: int = 1
    elapsed_s: float
    # converged: no improvement for many generations; generations: hit max_generations;
    # budget: hit time_budget_s (then the result may depend on machine speed); greedy/trivial: no GA.
    stopped: Literal["converged", "generations", "budget", "greedy", "trivial"]
    # True when the final local search ran to completion: no 2-opt / or-opt / swap move improves.
    local_optimum: bool = True


class GenerateResponse(BaseModel):
    order: list[str]
    transitions: list[Transition]
    score: float  # the objective (see services/common/transition.py)
    score_terms: dict[str, float]  # the objective split by term
    mean_transition: float  # mean of transition scores (raw, as in the objective)
    set_score: float | None = None  # mean mix score of the transitions, 0-100 (MIX_SCALE); None below 2 tracks
    # Target energy (0-1) per position of `order`; None at positions off the curve (unanalysed tracks).
    energy_targets: list[float | None] | None
    total_duration_s: float | None  # sum of the known durations
    durations_unknown: int = 0  # tracks in `order` without a duration (not in total_duration_s)
    unanalyzed: list[str]  # ids in `order` with missing analysis fields
    unanalysed_tracks: list[UnanalysedTrack] = Field(default_factory=list)  # what they lack, where they went
    warnings: list[str] = Field(default_factory=list)
    search: SearchInfo
