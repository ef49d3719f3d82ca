"""The set-builder options the public API and the UI take: the contract's `BuildOptions` (one set of
defaults and limits) plus which of the user's tracks must open and close the set; and `SetSummary`,
what a built (or stored) set looks like to a DJ."""

from __future__ import annotations

from pydantic import BaseModel, Field, ValidationError

from services.common.contracts.setbuilder import BuildOptions, SetOptions
from services.common.transition import MIX_SCALE, MixExplanation
from services.domain.errors import Invalid


class SetBuildOptions(BuildOptions):
    """What a DJ tunes; track references are track primary keys."""

    first_track_pk: int | None = Field(None, description="track primary key that must open the set")
    last_track_pk: int | None = Field(None, description="track primary key that must close the set")

    def to_set_options(self, *, count: int | None = None, minutes: float | None = None) -> SetOptions:
        """The set builder's own options (ids as strings); Invalid when the combination is impossible."""
        try:
            return SetOptions(
                **self.model_dump(exclude={"first_track_pk", "last_track_pk"}),
                count=count,
                minutes=minutes,
                first_id=str(self.first_track_pk) if self.first_track_pk is not None else None,
                last_id=str(self.last_track_pk) if self.last_track_pk is not None else None,
            )
        except ValidationError as exc:
            raise Invalid("; ".join(e["msg"] for e in exc.errors())) from None


class SetTransition(BaseModel):
    position: int = Field(description="index of the outgoing track in the set")
    from_track_pk: int
    to_track_pk: int
    mix: MixExplanation


class SetEnergy(BaseModel):
    position: int
    track_pk: int
    energy: float | None = Field(description="the track's energy, 1-10")
    target: float | None = Field(description="the energy curve's target at this position, 1-10 (None: no curve)")


class UnanalysedTrack(BaseModel):
    track_pk: int
    title: str
    missing: list[str] = Field(description="what the track lacks: bpm, key, energy")
    position: int | None = Field(description="index in the set; None when left out")


class SetSummary(BaseModel):
    track_count: int
    total_duration_s: float = Field(description="sum of the known durations")
    durations_unknown: int = Field(description="tracks without a duration (not in the total)")
    set_score: float | None = Field(description="mean mix score of the transitions, 0-100 (None below 2 tracks)")
    score_scale: str = MIX_SCALE
    transitions: list[SetTransition]
    energy: list[SetEnergy]
    unanalysed: list[UnanalysedTrack]
    unanalysed_note: str | None = Field(description="which tracks lack analysis and where they went, in words")
