"""Album and track pages: tracklist with analysis, play buttons, audio upload and download (live progress
from static/jobs.js), and live analysis progress."""

from __future__ import annotations

import json

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from services.domain.access import can_write, owns, readable_library
from services.domain.analysis import service as analysis
from services.domain.collection.albums import album_tracks, get_album
from services.domain.errors import DomainError, NotFound
from services.domain.tracks.service import get_track
from services.web.api.deps import CurrentUser, SessionDep
from services.web.ui.charts import waveform_svg
from services.web.ui.templates import templates

router = APIRouter(include_in_schema=False)


@router.get("/albums/{album_id}", response_class=HTMLResponse)
def album_page(request: Request, album_id: int, user: CurrentUser, session: SessionDep) -> HTMLResponse:
    album = get_album(session=session, user=user, album_id=album_id)
    library = readable_library(session=session, user=user, library_id=album.library_id)
    tracks = album_tracks(session=session, album=album)
    return templates.TemplateResponse(
        request, "album.html",
        {"user": user, "album": album, "tracks": tracks, "can_download": owns(user, library),
         "has_audio": any(t.local_audio_path for t in tracks)},
    )


def _track_context(session, user, track_pk: int) -> dict:
    track = get_track(session=session, user=user, track_pk=track_pk)
    library = readable_library(session=session, user=user, library_id=track.library_id)
    analysis_json = track.analysis or {}
    wave = analysis_json.get("waveform") or {}
    return {
        "user": user,
        "track": track,
        "analysis": analysis_json,
        "can_write": can_write(user, library),
        "can_download": owns(user, library) and track.deleted_at is None,  # downloads: the owner, friends' too
        "waveform": waveform_svg(
            peaks=wave.get("peaks") or [],
            beats=analysis_json.get("beats") or [],
            phrase_starts=analysis_json.get("phrase_starts") or [],
            duration=analysis_json.get("duration_seconds"),
        ),
    }


@router.get("/tracks/{track_pk}", response_class=HTMLResponse)
def track_page(request: Request, track_pk: int, user: CurrentUser, session: SessionDep) -> HTMLResponse:
    return templates.TemplateResponse(request, "track.html", _track_context(session, user, track_pk))


def _progress_fragment(request: Request, track_pk: int, state, error: str | None, status_code: int = 200):
    return templates.TemplateResponse(
        request, "_analysis_progress.html", {"track_pk": track_pk, "state": state, "error": error},
        status_code=status_code,
    )


@router.post("/tracks/{track_pk}/analyze", response_class=HTMLResponse)
def track_analyze(request: Request, track_pk: int, user: CurrentUser, session: SessionDep) -> HTMLResponse:
    """Queue an analysis and return the live progress fragment (it polls itself until done)."""
    try:
        state = analysis.request_analysis(session=session, user=user, track_pk=track_pk)
    except NotFound:
        raise
    except DomainError as exc:
        return _progress_fragment(request, track_pk, None, exc.detail, status_code=409)
    return _progress_fragment(request, track_pk, state, None)


@router.get("/tracks/{track_pk}/analysis-progress/{job_id}", response_class=HTMLResponse)
def track_analysis_progress(
    request: Request, track_pk: int, job_id: str, user: CurrentUser, session: SessionDep
) -> HTMLResponse:
    get_track(session=session, user=user, track_pk=track_pk)
    try:
        state, error = analysis.analysis_job(session=session, user=user, job_id=job_id, track_pk=track_pk), None
    except DomainError as exc:
        state, error = None, exc.detail
    response = _progress_fragment(request, track_pk, state, error)
    if state and state.status == "finished":
        # Show the new analysis: reload only <main> (htmx), so the player bar keeps playing.
        response.headers["HX-Location"] = json.dumps({"path": f"/tracks/{track_pk}", "target": "#main",
                                                      "select": "#main", "swap": "outerHTML", "push": "false"})
    return response
