"""Album and track pages: tracklist with analysis, audio upload, and live analysis progress."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse
from redis.exceptions import RedisError

from services.web.analysis import jobs
from services.web.api.deps import CurrentUser, SessionDep, get_visible_library
from services.web.api.routes.analysis import analyze_track
from services.web.collection.albums import album_tracks, get_album, get_track
from services.web.ui.charts import waveform_svg
from services.web.ui.views import templates

router = APIRouter(include_in_schema=False)


@router.get("/albums/{album_id}", response_class=HTMLResponse)
def album_page(request: Request, album_id: int, user: CurrentUser, session: SessionDep) -> HTMLResponse:
    album = get_album(session=session, user=user, album_id=album_id)
    return templates.TemplateResponse(
        request,
        "album.html",
        {
            "user": user,
            "album": album,
            "tracks": album_tracks(session=session, album=album),
        },
    )


def _track_context(session, user, track_pk: int) -> dict:
    track = get_track(session=session, user=user, track_pk=track_pk)
    library = get_visible_library(session, user, track.library_id)
    analysis = track.analysis or {}
    wave = analysis.get("waveform") or {}
    return {
        "user": user,
        "track": track,
        "analysis": analysis,
        "can_write": library.owner_id == user.id and not library.is_friend,
        "waveform": waveform_svg(
            peaks=wave.get("peaks") or [],
            beats=analysis.get("beats") or [],
            phrase_starts=analysis.get("phrase_starts") or [],
            duration=analysis.get("duration_seconds"),
        ),
    }


@router.get("/tracks/{track_pk}", response_class=HTMLResponse)
def track_page(request: Request, track_pk: int, user: CurrentUser, session: SessionDep) -> HTMLResponse:
    return templates.TemplateResponse(request, "track.html", _track_context(session, user, track_pk))


@router.post("/tracks/{track_pk}/analyze", response_class=HTMLResponse)
def track_analyze(request: Request, track_pk: int, user: CurrentUser, session: SessionDep) -> HTMLResponse:
    """Queue an analysis and return the live progress fragment (it polls itself until done)."""
    try:
        state = analyze_track(track_pk, user, session)
        error = None
    except HTTPException as exc:
        if exc.status_code == 404:
            raise
        state, error = None, str(exc.detail)
    return templates.TemplateResponse(
        request,
        "_analysis_progress.html",
        {"track_pk": track_pk, "state": state, "error": error},
        status_code=200 if error is None else 409,
    )


@router.get("/tracks/{track_pk}/analysis-progress/{job_id}", response_class=HTMLResponse)
def track_analysis_progress(
    request: Request, track_pk: int, job_id: str, user: CurrentUser, session: SessionDep
) -> HTMLResponse:
    get_track(session=session, user=user, track_pk=track_pk)
    try:
        job = jobs.fetch_analysis_job(job_id)
        state = (
            jobs.analysis_job_state(job) if job is not None and job.meta.get("track_pk") == track_pk else None
        )
        error = None if state else "job not found"
    except RedisError:
        state, error = None, "job queue unavailable"
    response = templates.TemplateResponse(
        request, "_analysis_progress.html", {"track_pk": track_pk, "state": state, "error": error}
    )
    if state and state["status"] == "finished":
        response.headers["HX-Refresh"] = "true"  # show the new analysis
    return response
