"""Album and track pages: tracklist with analysis, play buttons, audio upload and download (live progress
from static/jobs.js), and live analysis progress; the tracklist editor (add rows, edit or delete a row),
the album's and the track's edit forms (rating, notes, condition, price; tags, links) and "I played this"."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response

from services.domain.access import can_write, owns, readable_library
from services.domain.analysis import corrections
from services.domain.analysis.audio import audio_origin
from services.domain.analysis import service as analysis
from services.domain.collection.albums import (
    add_album_tracks,
    album_identity_editable,
    album_tracks,
    get_album,
    has_discogs_tracklist,
    update_album,
    year_max,
)
from services.domain.errors import DomainError, NotFound
from services.domain.spins import service as spins
from services.domain.tracks.service import (
    URL_LABELS,
    discogs_page,
    get_track,
    identity_from_discogs,
    set_track_deleted,
    update_track,
)
from services.web.api.deps import CurrentUser, SessionDep
from services.web.ui.charts import waveform_svg
from services.web.ui.collection_forms import optional_int, words
from services.web.ui.templates import templates

router = APIRouter(include_in_schema=False)
EDITOR_ROWS = 4  # blank rows the tracklist editor starts with (more on demand)


def _album_context(session, user, album_id: int) -> dict:
    album = get_album(session=session, user=user, album_id=album_id)
    library = readable_library(session=session, user=user, library_id=album.library_id)
    tracks = album_tracks(session=session, album=album)
    from_discogs = has_discogs_tracklist(session=session, album=album)
    return {"user": user, "album": album, "tracks": tracks, "library": library,
            "can_download": owns(user, library), "can_write": can_write(user, library),
            "from_discogs": from_discogs, "editable_rows": can_write(user, library) and not from_discogs,
            "identity_editable": album_identity_editable(album), "year_max": year_max(),
            "sides": spins.sides(tracks), "has_audio": any(t.local_audio_path for t in tracks),
            "editor_rows": range(EDITOR_ROWS if tracks else 2 * EDITOR_ROWS), "notice": None}


@router.get("/albums/{album_id}", response_class=HTMLResponse)
def album_page(request: Request, album_id: int, user: CurrentUser, session: SessionDep) -> HTMLResponse:
    return templates.TemplateResponse(request, "album.html", _album_context(session, user, album_id))


@router.post("/albums/{album_id}/tracks", response_class=HTMLResponse)
def add_tracks(request: Request, album_id: int, user: CurrentUser, session: SessionDep,
               position: Annotated[list[str] | None, Form()] = None,
               title: Annotated[list[str] | None, Form()] = None,
               artist: Annotated[list[str] | None, Form()] = None,
               duration: Annotated[list[str] | None, Form()] = None) -> HTMLResponse:
    """The tracklist editor: rows of position, title, artist, duration (m:ss); empty rows are skipped."""
    columns = {"position": position or [], "title": title or [], "artist": artist or [], "duration": duration or []}
    count = max(len(v) for v in columns.values())
    rows = [{k: v[n] if n < len(v) else "" for k, v in columns.items()} for n in range(count)]
    added = add_album_tracks(session=session, user=user, album_id=album_id, tracks=rows, rows=True)
    ctx = _album_context(session, user, album_id)
    ctx["notice"] = f"Added {len(added)} track(s)."
    return templates.TemplateResponse(request, "album.html", ctx)


@router.post("/albums/{album_id}/edit", response_class=HTMLResponse)
def edit_album(request: Request, album_id: int, user: CurrentUser, session: SessionDep,
               rating: Annotated[str | None, Form()] = None, condition: Annotated[str | None, Form()] = None,
               purchase_price: Annotated[str | None, Form()] = None,
               notes: Annotated[str | None, Form()] = None, identity: Annotated[str | None, Form()] = None,
               title: Annotated[str | None, Form()] = None, artist: Annotated[str | None, Form()] = None,
               year: Annotated[str | None, Form()] = None) -> HTMLResponse:
    """The album's edit form: your own fields (rating, condition, price paid, notes; empty clears), and
    title/artist/year when the form offers them (`identity`: a record made by hand; an empty year clears)."""
    changes = {"rating": optional_int(rating, "rating"), "condition": condition,
               "purchase_price": purchase_price, "notes": notes}
    if identity:
        changes.update(title=title, artist=artist, year=optional_int(year, "year"))
    update_album(session=session, user=user, album_id=album_id, changes=changes)
    ctx = _album_context(session, user, album_id)
    ctx["notice"] = "Saved."
    return templates.TemplateResponse(request, "album.html", ctx)


@router.get("/albums/{album_id}/tracklist-rows", response_class=HTMLResponse)
def more_rows(request: Request, album_id: int, user: CurrentUser, session: SessionDep) -> HTMLResponse:
    """More blank rows for the tracklist editor."""
    get_album(session=session, user=user, album_id=album_id)
    return templates.TemplateResponse(request, "_tracklist_rows.html", {"editor_rows": range(EDITOR_ROWS)})


def _row(request: Request, session, user, track_pk: int, *, editing: bool = False) -> HTMLResponse:
    track = get_track(session=session, user=user, track_pk=track_pk)
    library = readable_library(session=session, user=user, library_id=track.library_id)
    writable = can_write(user, library)
    return templates.TemplateResponse(request, "_album_track_row.html", {
        "t": track, "editing": editing and writable, "can_write": writable,
        "editable_rows": writable and not identity_from_discogs(session=session, track=track)})


@router.get("/tracks/{track_pk}/row", response_class=HTMLResponse)
def track_row(request: Request, track_pk: int, user: CurrentUser, session: SessionDep) -> HTMLResponse:
    return _row(request, session, user, track_pk)


@router.get("/tracks/{track_pk}/row-edit", response_class=HTMLResponse)
def track_row_edit(request: Request, track_pk: int, user: CurrentUser, session: SessionDep) -> HTMLResponse:
    return _row(request, session, user, track_pk, editing=True)


@router.post("/tracks/{track_pk}/row", response_class=HTMLResponse)
def save_track_row(request: Request, track_pk: int, user: CurrentUser, session: SessionDep,
                   position: Annotated[str | None, Form()] = None, title: Annotated[str | None, Form()] = None,
                   artist: Annotated[str | None, Form()] = None,
                   duration: Annotated[str | None, Form()] = None) -> HTMLResponse:
    """Save a row of the tracklist editor (position, title, artist, length)."""
    update_track(session=session, user=user, track_pk=track_pk,
                 changes={"position": position, "title": title, "artist": artist, "duration_seconds": duration})
    return _row(request, session, user, track_pk)


@router.post("/tracks/{track_pk}/delete")
def delete_track_row(request: Request, track_pk: int, user: CurrentUser, session: SessionDep) -> Response:
    """Delete a track (soft: restorable on its page or through the API); the row disappears."""
    set_track_deleted(session=session, user=user, track_pk=track_pk, deleted=True)
    return Response(status_code=200)


@router.post("/tracks/{track_pk}/restore", response_class=HTMLResponse)
def restore_track(request: Request, track_pk: int, user: CurrentUser, session: SessionDep) -> HTMLResponse:
    """Bring a deleted track back (the same as POST /api/tracks/{id}/restore); answers its page."""
    set_track_deleted(session=session, user=user, track_pk=track_pk, deleted=False)
    ctx = _track_context(session, user, track_pk)
    ctx["notice"] = "Restored."
    return templates.TemplateResponse(request, "track.html", ctx)


def _track_context(session, user, track_pk: int) -> dict:
    track = get_track(session=session, user=user, track_pk=track_pk)
    library = readable_library(session=session, user=user, library_id=track.library_id)
    analysis_json = track.analysis or {}
    wave = analysis_json.get("waveform") or {}
    plays, last_played = spins.track_plays(session=session, user=user, track_pk=track.id)
    return {
        "user": user,
        "track": track,
        "analysis": analysis_json,
        "can_write": can_write(user, library),
        "can_download": owns(user, library) and track.deleted_at is None,  # downloads: the owner, friends' too
        "identity_editable": not identity_from_discogs(session=session, track=track),
        "links": [(field, label, getattr(track, field)) for field, label in URL_LABELS.items()],
        "discogs_url": discogs_page(session=session, track=track),
        "audio_origin": audio_origin(track.audio_source),
        "plays": plays,
        "last_played": last_played,
        "notice": None,
        "estimates": corrections.estimates(track),
        "waveform": waveform_svg(
            peaks=wave.get("peaks") or [],
            beats=analysis_json.get("beats") or [],
            phrase_starts=analysis_json.get("phrase_starts") or [],
            duration=analysis_json.get("duration_seconds"),
            # a bar of the tempo in effect: 2 analysed beats at double time, 8 at half time
            beats_per_bar=max(1, round(4 / corrections.tempo_octave(track))),
        ),
    }


@router.get("/tracks/{track_pk}", response_class=HTMLResponse)
def track_page(request: Request, track_pk: int, user: CurrentUser, session: SessionDep,
               analysis_job: Annotated[str | None, Query(max_length=64)] = None) -> HTMLResponse:
    """`analysis_job`: an analysis queued for this track (by an upload): its live progress stands in for the
    Analyse button until it is over."""
    ctx = _track_context(session, user, track_pk)
    if analysis_job and ctx["can_write"]:
        try:
            state = analysis.analysis_job(session=session, user=user, job_id=analysis_job, track_pk=track_pk)
        except DomainError:  # gone, not this track's, or the queue is down: the button, as without it
            state = None
        if state is not None and state.status != "finished":
            ctx["analysis_state"] = state
    return templates.TemplateResponse(request, "track.html", ctx)


@router.post("/tracks/{track_pk}/edit", response_class=HTMLResponse)
def edit_track(request: Request, track_pk: int, user: CurrentUser, session: SessionDep,
               identity: Annotated[str | None, Form()] = None,
               title: Annotated[str | None, Form()] = None, artist: Annotated[str | None, Form()] = None,
               position: Annotated[str | None, Form()] = None, tags: Annotated[str | None, Form()] = None,
               notes: Annotated[str | None, Form()] = None, star_rating: Annotated[str | None, Form()] = None,
               apple_music_url: Annotated[str | None, Form()] = None,
               spotify_url: Annotated[str | None, Form()] = None,
               youtube_url: Annotated[str | None, Form()] = None,
               soundcloud_url: Annotated[str | None, Form()] = None) -> HTMLResponse:
    """The track's edit form: every field is sent (empty clears); title/artist/position only when the
    form offers them (`identity`: the track is not from a Discogs tracklist)."""
    changes = {"tags": words(tags), "notes": notes, "star_rating": optional_int(star_rating, "rating"),
               "apple_music_url": apple_music_url, "spotify_url": spotify_url, "youtube_url": youtube_url,
               "soundcloud_url": soundcloud_url}
    if identity:
        changes.update(title=title, artist=artist, position=position)
    update_track(session=session, user=user, track_pk=track_pk, changes=changes)
    ctx = _track_context(session, user, track_pk)
    ctx["notice"] = "Saved."
    return templates.TemplateResponse(request, "track.html", ctx)


@router.post("/tracks/{track_pk}/corrections", response_class=HTMLResponse)
def correct_track(request: Request, track_pk: int, user: CurrentUser, session: SessionDep,
                  bpm: Annotated[str | None, Form()] = None, key: Annotated[str | None, Form()] = None,
                  accept: Annotated[str | None, Form()] = None) -> HTMLResponse:
    """Use the analysis's other tempo or key (one click), or a tempo/key typed by the DJ (empty = unchanged)."""
    track = corrections.correct_analysis(session=session, user=user, track_pk=track_pk, accept=accept or None,
                                         bpm=(bpm or "").strip() or None, key=(key or "").strip() or None)
    ctx = _track_context(session, user, track_pk)
    ctx["notice"] = f"Saved as your correction: {track.bpm:g} BPM, {track.camelot or '—'}." if track.bpm \
        else f"Saved as your correction: {track.camelot}."
    return templates.TemplateResponse(request, "track.html", ctx)


@router.post("/tracks/{track_pk}/corrections/revert", response_class=HTMLResponse)
def revert_correction(request: Request, track_pk: int, user: CurrentUser, session: SessionDep,
                      what: Annotated[str, Form()] = "all") -> HTMLResponse:
    corrections.revert_correction(session=session, user=user, track_pk=track_pk, what=what)
    ctx = _track_context(session, user, track_pk)
    ctx["notice"] = "Back to the analysed value."
    return templates.TemplateResponse(request, "track.html", ctx)


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
