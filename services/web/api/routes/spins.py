"""Vinyl spins: log a session of sides or tracks played; history and top tracks."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.domain.spins import service
from services.web.api.deps import CurrentUser, SessionDep
from services.web.api.routes.tracks import TrackOut

router = APIRouter(prefix="/api/spins", tags=["spins"])
TIME_RULE = "Stored in UTC (no offset = UTC); not before 1900 nor more than a day ahead, else 422 invalid_date"


class SpinItem(BaseModel):
    """Either a side of a record (`album_id` + `side`) or one track (`track_pk`)."""

    model_config = ConfigDict(extra="forbid")
    album_id: int | None = None
    side: str | None = Field(None, min_length=1, max_length=4, pattern=r"^[A-Za-z]+$")
    track_pk: int | None = Field(None, description="Track primary key")
    played_at: datetime | None = Field(None, description=TIME_RULE)

    @model_validator(mode="after")
    def _one_kind(self):
        if (self.track_pk is None) == (self.album_id is None):
            raise ValueError("give either track_pk, or album_id with side")
        if self.album_id is not None and not self.side:
            raise ValueError("album_id needs a side (A, B, ...)")
        return self


class SpinSessionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    started_at: datetime | None = Field(None, description=TIME_RULE + "; default now")
    notes: str | None = Field(None, max_length=5000)
    items: list[SpinItem] = Field(min_length=1, max_length=500)


class SpinOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    album_id: int | None
    track_pk: int | None
    side: str | None
    played_at: datetime


class SpinSessionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    started_at: datetime
    notes: str | None
    spins: list[SpinOut]


class SpinHistory(BaseModel):
    items: list[SpinSessionOut]
    total: int


class TopTrack(BaseModel):
    plays: int
    track: TrackOut


@router.post("", response_model=SpinSessionOut, status_code=status.HTTP_201_CREATED)
def log_spins(body: SpinSessionIn, user: CurrentUser, session: SessionDep) -> SpinSessionOut:
    spin_session = service.log_session(
        session=session,
        user=user,
        items=[i.model_dump() for i in body.items],
        started_at=body.started_at,
        notes=body.notes,
    )
    return SpinSessionOut.model_validate(spin_session)


@router.get("", response_model=SpinHistory)
def spin_history(
    user: CurrentUser,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> SpinHistory:
    rows, total = service.history(session=session, user=user, limit=limit, offset=offset)
    return SpinHistory(items=[SpinSessionOut.model_validate(r) for r in rows], total=total)


@router.get("/top-tracks", response_model=list[TopTrack])
def top_tracks(
    user: CurrentUser,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
    since: datetime | None = None,
) -> list[TopTrack]:
    return [
        TopTrack(plays=n, track=TrackOut.model_validate(t))
        for t, n in service.top_tracks(session=session, user=user, limit=limit, since=since)
    ]


@router.delete("/{session_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_spin_session(session_id: int, user: CurrentUser, session: SessionDep) -> Response:
    service.delete_session(session=session, user=user, session_id=session_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
