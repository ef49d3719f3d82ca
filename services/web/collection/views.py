"""Library page (Jinja2 + htmx): albums, sync button, live sync progress (polled every second), CSV upload."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from redis.exceptions import RedisError

from services.common.settings import get_settings
from services.web.api.deps import CurrentUser, SessionDep, get_visible_library, get_writable_library
from services.web.collection import jobs
from services.web.collection.albums import library_counts, list_albums
from services.web.collection.csv_import import CsvImportError, import_albums, parse_collection_csv
from services.web.collection.libraries import follow_friend

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).resolve().parents[1] / "templates")


def _progress_context(session, library) -> dict:
    job = None
    try:
        current = jobs.current_job(library.id)
        job = jobs.job_status(current) if current is not None else None
    except RedisError:
        job = None
    run = jobs.latest_progress(session, library.id)
    live = job is not None and job.job_status in ("queued", "started", "scheduled", "deferred")
    progress = (job.progress if live and job and job.progress else run)
    return {"library": library, "job": job, "run": run, "progress": progress, "live": live,
            "counts": library_counts(session=session, library=library)}


@router.get("/libraries/{library_id}", response_class=HTMLResponse)
def library_page(request: Request, library_id: int, user: CurrentUser, session: SessionDep,
                 q: str | None = None, page: int = 1) -> HTMLResponse:
    library = get_visible_library(session, user, library_id)
    page = max(1, page)
    albums, total = list_albums(session=session, user=user, library_id=library.id, q=q, limit=100,
                                offset=(page - 1) * 100)
    ctx = _progress_context(session, library)
    ctx.update(user=user, albums=albums, total=total, q=q or "", page=page,
               can_sync=library.owner_id == user.id and get_settings().discogs_user_token is not None,
               can_write=library.owner_id == user.id and not library.is_friend)
    return templates.TemplateResponse(request, "library.html", ctx)


@router.get("/libraries/{library_id}/sync-progress", response_class=HTMLResponse)
def sync_progress(request: Request, library_id: int, user: CurrentUser, session: SessionDep) -> HTMLResponse:
    library = get_visible_library(session, user, library_id)
    return templates.TemplateResponse(request, "_sync_progress.html", _progress_context(session, library))


@router.post("/libraries/{library_id}/sync", response_class=HTMLResponse)
def start_sync(request: Request, library_id: int, user: CurrentUser, session: SessionDep) -> HTMLResponse:
    library = get_visible_library(session, user, library_id)
    if library.owner_id != user.id:
        raise HTTPException(403, "library is shared with you read-only")
    if get_settings().discogs_user_token is None or not library.discogs_username:
        raise HTTPException(400, "needs DISCOGS_USER_TOKEN and a Discogs username")
    try:
        jobs.enqueue_sync(library_id=library.id, mode="full")
    except RedisError:
        raise HTTPException(503, "job queue unavailable") from None
    return templates.TemplateResponse(request, "_sync_progress.html", _progress_context(session, library))


@router.post("/libraries/{library_id}/import-csv", response_class=HTMLResponse)
async def upload_csv(request: Request, library_id: int, user: CurrentUser, session: SessionDep,
                     file: Annotated[UploadFile, File()]) -> HTMLResponse:
    library = get_writable_library(session, user, library_id)
    try:
        albums = parse_collection_csv(await file.read())
    except CsvImportError as exc:
        return HTMLResponse(f'<p class="error">Import failed: {_escape(str(exc))}</p>', status_code=422)
    created, updated = import_albums(session.connection(), library.id, albums)
    session.commit()
    jobs.start_sync_after_import(library_id=library.id, mode="tracklists")
    return HTMLResponse(f"<p>Imported {len(albums)} rows: {created} new albums, {updated} updated. "
                        f"<a href=\"/libraries/{library.id}\">Reload</a></p>")


@router.post("/friends")
def follow_friend_form(user: CurrentUser, session: SessionDep, username: Annotated[str, Form()]) -> RedirectResponse:
    """Dashboard form: follow a friend, start the import, go to the friend's library page."""
    name = username.strip()
    if not name or len(name) > 150 or not all(ch.isalnum() or ch in "_.-" for ch in name):
        raise HTTPException(422, "a Discogs username has letters, digits, _ . - only")
    library = follow_friend(session=session, user=user, username=name)
    session.commit()
    jobs.start_sync_after_import(library_id=library.id, mode="full")
    return RedirectResponse(f"/libraries/{library.id}", status_code=303)


def _escape(text: str) -> str:
    from markupsafe import escape

    return str(escape(text))
