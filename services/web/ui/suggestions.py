"""Metadata suggestions in the browser: "Suggest metadata" on a track page (the `_suggest.html` partial) and
the /suggestions review list, where each suggestion is accepted (as is or edited) or rejected."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse

from services.domain.enrichment import openai_assist as assist
from services.domain.tracks.service import get_track
from services.web.api.deps import CurrentUser, SessionDep
from services.web.ui.collection_forms import words
from services.web.ui.templates import templates

router = APIRouter(include_in_schema=False)


@router.get("/suggestions", response_class=HTMLResponse)
def suggestions_page(request: Request, user: CurrentUser, session: SessionDep) -> HTMLResponse:
    rows = assist.list_suggestions(session=session, user=user, status="pending")
    ok, reason = assist.configured()
    return templates.TemplateResponse(request, "suggestions.html", {
        "user": user, "rows": rows, "configured": ok, "reason": reason})


def _card(request: Request, suggestion, track, notice: str | None = None) -> HTMLResponse:
    return templates.TemplateResponse(request, "_suggestion.html", {"s": suggestion, "t": track, "notice": notice})


@router.post("/tracks/{track_pk}/suggest", response_class=HTMLResponse)
def suggest(request: Request, track_pk: int, user: CurrentUser, session: SessionDep) -> HTMLResponse:
    """Ask for a suggestion and show it for review (nothing is written to the track yet)."""
    (suggestion,) = assist.suggest_metadata(session=session, user=user, track_pks=[track_pk])
    session.refresh(suggestion)
    return _card(request, suggestion, get_track(session=session, user=user, track_pk=track_pk))


@router.post("/suggestions/{suggestion_id}/accept", response_class=HTMLResponse)
def accept(request: Request, suggestion_id: int, user: CurrentUser, session: SessionDep,
           genres: Annotated[str, Form()] = "", styles: Annotated[str, Form()] = "",
           moods: Annotated[str, Form()] = "", note: Annotated[str, Form()] = "") -> HTMLResponse:
    """Accept with what the form holds (the user's edits win; an emptied field applies nothing)."""
    suggestion, track = assist.accept_suggestion(
        session=session, user=user, suggestion_id=suggestion_id,
        overrides={"genres": words(genres), "styles": words(styles), "moods": words(moods), "note": note})
    return _card(request, suggestion, track, "Accepted: the track is updated.")


@router.post("/suggestions/{suggestion_id}/reject", response_class=HTMLResponse)
def reject(request: Request, suggestion_id: int, user: CurrentUser, session: SessionDep) -> HTMLResponse:
    suggestion = assist.reject_suggestion(session=session, user=user, suggestion_id=suggestion_id)
    track = get_track(session=session, user=user, track_pk=suggestion.track_pk)
    return _card(request, suggestion, track, "Rejected: the track is unchanged.")
