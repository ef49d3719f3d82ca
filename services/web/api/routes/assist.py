"""OpenAI-assisted metadata (suggestions you accept, edit or reject), natural-language search parsing,
the prompt templates (admins edit them) and every source's status. Without OPENAI_API_KEY the OpenAI
endpoints answer 409 `source_not_configured` with the reason."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, status
from pydantic import BaseModel, ConfigDict, Field

from services.common.models import MetadataSuggestion, Track
from services.domain.enrichment import openai_assist as assist
from services.domain.enrichment import overview, prompts
from services.domain.search.models import SearchQuery
from services.web.api.deps import CurrentUser, SessionDep

router = APIRouter(tags=["assist"])


class Fields(BaseModel):
    genres: list[str]
    styles: list[str]
    moods: list[str] = Field(description="added to the track's tags on accept")
    note: str = Field(description="appended to the track's notes on accept")


class TrackBrief(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    title: str
    artist: str | None
    album: str | None
    genres: list[str]
    styles: list[str]
    tags: list[str]
    notes: str | None


class SuggestionOut(BaseModel):
    id: int
    track_pk: int
    status: Literal["pending", "accepted", "rejected"]
    fields: Fields
    created_at: datetime
    decided_at: datetime | None
    track: TrackBrief | None = None


class SuggestionList(BaseModel):
    items: list[SuggestionOut]


class BatchBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    track_pks: list[int] = Field(min_length=1, max_length=assist.MAX_TRACKS)


class AcceptBody(BaseModel):
    """Your edits: each field given replaces the suggested value before it is applied."""

    model_config = ConfigDict(extra="forbid")
    genres: list[str] | None = Field(None, max_length=assist.MAX_GENRES)
    styles: list[str] | None = Field(None, max_length=assist.MAX_STYLES)
    moods: list[str] | None = Field(None, max_length=assist.MAX_MOODS)
    note: str | None = Field(None, max_length=assist.NOTE_MAX)


class PromptOut(BaseModel):
    name: str
    label: str
    help: str
    text: str
    default: str
    overridden: bool
    placeholders: list[str]
    required: list[str]


class PromptBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(max_length=prompts.TEMPLATE_MAX)


class SourceOut(BaseModel):
    name: str
    label: str
    purpose: str
    configured: bool
    reason: str
    last_error: str | None
    last_error_at: datetime | None


def suggestion_out(s: MetadataSuggestion, track: Track | None = None) -> SuggestionOut:
    return SuggestionOut(id=s.id, track_pk=s.track_pk, status=s.status, fields=Fields(**assist.SuggestionFields(
        **(s.fields or {})).model_dump()), created_at=s.created_at, decided_at=s.decided_at,
        track=TrackBrief.model_validate(track) if track is not None else None)


@router.post("/api/tracks/{track_pk}/suggestions", response_model=SuggestionOut, status_code=status.HTTP_201_CREATED)
def suggest_for_track(track_pk: int, user: CurrentUser, session: SessionDep) -> SuggestionOut:
    """Ask OpenAI for genres, styles, moods and a DJ note for one of your tracks. Stored as a pending
    suggestion (replacing your earlier pending one for the track); the track is not changed until you accept."""
    (suggestion,) = assist.suggest_metadata(session=session, user=user, track_pks=[track_pk])
    session.refresh(suggestion)
    return suggestion_out(suggestion)


@router.post("/api/suggestions/batch", response_model=SuggestionList, status_code=status.HTTP_201_CREATED)
def suggest_batch(body: BatchBody, user: CurrentUser, session: SessionDep) -> SuggestionList:
    """The same for a selection of up to 50 tracks, in one request to the model."""
    stored = assist.suggest_metadata(session=session, user=user, track_pks=body.track_pks)
    for s in stored:
        session.refresh(s)
    return SuggestionList(items=[suggestion_out(s) for s in stored])


@router.get("/api/suggestions", response_model=SuggestionList)
def list_suggestions(user: CurrentUser, session: SessionDep,
                     status: Annotated[Literal["pending", "accepted", "rejected", "all"], Query()] = "pending",
                     limit: Annotated[int, Query(ge=1, le=500)] = 200) -> SuggestionList:
    """Your suggestions, newest first, with their tracks (`status=all` for every one)."""
    rows = assist.list_suggestions(session=session, user=user, status=None if status == "all" else status,
                                   limit=limit)
    return SuggestionList(items=[suggestion_out(s, t) for s, t in rows])


@router.post("/api/suggestions/{suggestion_id}/accept", response_model=SuggestionOut)
def accept(suggestion_id: int, user: CurrentUser, session: SessionDep, body: AcceptBody | None = None) -> SuggestionOut:
    """Apply a pending suggestion; fields in the body replace the suggested ones. Genres and styles are added
    to the track's, moods to its tags, the note to its notes (nothing the track had is removed)."""
    overrides: dict[str, Any] = body.model_dump(exclude_none=True) if body else {}
    suggestion, track = assist.accept_suggestion(session=session, user=user, suggestion_id=suggestion_id,
                                                 overrides=overrides)
    return suggestion_out(suggestion, track)


@router.post("/api/suggestions/{suggestion_id}/reject", response_model=SuggestionOut)
def reject(suggestion_id: int, user: CurrentUser, session: SessionDep) -> SuggestionOut:
    """Drop a pending suggestion; the track stays as it is."""
    return suggestion_out(assist.reject_suggestion(session=session, user=user, suggestion_id=suggestion_id))


@router.get("/api/search/parse", response_model=SearchQuery, response_model_exclude_defaults=True)
def parse_search(text: Annotated[str, Query(max_length=assist.PARSE_TEXT_MAX)], user: CurrentUser,
                 session: SessionDep) -> SearchQuery:
    """A sentence as the structured query of `GET /api/tracks/search` (only the fields it sets). 409 without
    OPENAI_API_KEY; 503 `assist_malformed` when the model's answer is not a valid query."""
    return assist.parse_search(text, session=session)


@router.get("/api/settings/sources", response_model=list[SourceOut])
def sources(user: CurrentUser, session: SessionDep) -> list[SourceOut]:
    """Each outside service: configured or not (and why), and its last error."""
    return [SourceOut(**asdict(s)) for s in overview.source_overview(session=session)]


@router.get("/api/settings/prompts", response_model=list[PromptOut])
def list_prompts(user: CurrentUser, session: SessionDep) -> list[PromptOut]:
    """The prompt templates in use (an admin's override or the default) with their placeholders."""
    return [PromptOut(**p) for p in prompts.listing(session=session)]


@router.put("/api/settings/prompts/{name}", response_model=PromptOut)
def save_prompt(name: str, body: PromptBody, user: CurrentUser, session: SessionDep) -> PromptOut:
    """Admins only: override a template. An unknown placeholder (or a missing required one) answers 422."""
    prompts.save_template(session=session, user=user, name=name, text=body.text)
    return _prompt(session, name)


@router.delete("/api/settings/prompts/{name}", response_model=PromptOut)
def reset_prompt(name: str, user: CurrentUser, session: SessionDep) -> PromptOut:
    """Admins only: back to the default template."""
    prompts.reset_template(session=session, user=user, name=name)
    return _prompt(session, name)


def _prompt(session, name: str) -> PromptOut:
    return PromptOut(**next(p for p in prompts.listing(session=session) if p["name"] == name))
