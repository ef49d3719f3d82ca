"""The set-builder options the public API and the UI take: the contract's `BuildOptions` (one set of
defaults and limits) plus which of the user's tracks must open and close the set."""

from __future__ import annotations

from pydantic import Field, ValidationError

from services.common.contracts.setbuilder import BuildOptions, SetOptions
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
