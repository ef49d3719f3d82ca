"""Embedding-based fragments: the "Similar" panel of the track page and "Suggest next tracks" on the playlist
page (htmx-loaded). A track without embeddings yet gets a note in the panel (the API answers 409); other
errors are domain errors the global htmx handler shows."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from services.domain.embeddings.recommend import suggest_next
from services.domain.embeddings.similar import similar_tracks
from services.domain.errors import Conflict
from services.web.api.deps import CurrentUser, SessionDep
from services.web.ui.templates import templates

router = APIRouter(include_in_schema=False)
PANEL_LIMIT = 12


@router.get("/tracks/{track_pk}/similar", response_class=HTMLResponse)
def similar_panel(request: Request, track_pk: int, user: CurrentUser, session: SessionDep,
                  compatible: Annotated[bool, Query()] = False) -> HTMLResponse:
    try:
        result = similar_tracks(session=session, user=user, track_pk=track_pk, limit=PANEL_LIMIT,
                                compatible=compatible)
    except Conflict as exc:
        if exc.code != "embeddings_missing":
            raise
        # Not an error on a page that loads it unasked: embeddings come from a background job.
        return templates.TemplateResponse(request, "_similar.html", {"result": None, "hits": [], "pending": True})
    return templates.TemplateResponse(request, "_similar.html", {"result": result, "hits": result.items})


@router.get("/playlists/{playlist_id}/suggestions", response_class=HTMLResponse)
def suggestions_panel(request: Request, playlist_id: int, user: CurrentUser, session: SessionDep) -> HTMLResponse:
    found = suggest_next(session=session, user=user, playlist_id=playlist_id, limit=PANEL_LIMIT)
    return templates.TemplateResponse(request, "_next_tracks.html", {"found": found, "hits": found.items})
