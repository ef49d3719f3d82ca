"""Playlist page: the set with its BPM/energy curve and Camelot path, and the "Build the set" form."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse
from pydantic import ValidationError
from sqlalchemy.orm import Session

from services.common.models import User
from services.domain.errors import DomainError, NotFound
from services.domain.playlists.service import get_playlist
from services.domain.setbuilder.models import SetBuildOptions
from services.domain.setbuilder.service import generate_for_playlist, local_transitions
from services.web.api.deps import CurrentUser, SessionDep
from services.web.ui.charts import camelot_path_svg, set_curve_svg
from services.web.ui.templates import templates

router = APIRouter(include_in_schema=False)


def playlist_context(session: Session, user: User, playlist_id: int) -> dict:
    playlist = get_playlist(session=session, user=user, playlist_id=playlist_id)
    tracks = [item.track for item in playlist.items]
    transitions = local_transitions(tracks)
    return {
        "user": user,
        "playlist": playlist,
        # The first track has no transition into it.
        "rows": list(zip(tracks, [None, *transitions][: len(tracks)], strict=True)),
        "curve_svg": set_curve_svg(
            labels=[t.title for t in tracks], bpms=[t.bpm for t in tracks], energies=[t.energy for t in tracks]
        )
        if tracks
        else "",
        "camelot_svg": camelot_path_svg(codes=[t.camelot for t in tracks]) if tracks else "",
        "has_audio": any(t.local_audio_path and t.deleted_at is None for t in tracks),
        "error": None,
    }


@router.get("/playlists/{playlist_id}", response_class=HTMLResponse)
def playlist_page(playlist_id: int, request: Request, user: CurrentUser, session: SessionDep) -> HTMLResponse:
    return templates.TemplateResponse(request, "playlist.html", playlist_context(session, user, playlist_id))


@router.post("/playlists/{playlist_id}/generate", response_class=HTMLResponse)
def playlist_generate(
    playlist_id: int,
    request: Request,
    user: CurrentUser,
    session: SessionDep,
    mode: Annotated[str, Form()] = "order",
    energy_curve: Annotated[str, Form()] = "none",
    seed: Annotated[int, Form()] = 0,
) -> HTMLResponse:
    """The form on the playlist page: reorder with the set builder and re-render the set panel."""
    error = None
    try:
        if mode not in ("order", "greedy"):
            raise ValueError(f"unknown mode {mode!r}: order or greedy")
        options = SetBuildOptions(energy_curve=energy_curve, seed=seed)
        generate_for_playlist(session=session, user=user, playlist_id=playlist_id, mode=mode, options=options)
    except NotFound:
        raise
    except DomainError as exc:
        error = exc.detail
    except (ValidationError, ValueError) as exc:
        error = str(exc)
    context = playlist_context(session, user, playlist_id)
    context["error"] = error
    return templates.TemplateResponse(request, "_set_panel.html", context, status_code=422 if error else 200)
