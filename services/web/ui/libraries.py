"""Library page (Jinja2 + htmx): albums, sync button, live sync progress (polled every second), CSV upload."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Request, UploadFile
from fastapi.responses import HTMLResponse
from markupsafe import escape

from services.domain.access import can_write, readable_library
from services.domain.collection import service
from services.domain.collection.albums import list_albums
from services.domain.errors import Invalid, TooLarge
from services.web.api.deps import CurrentUser, SessionDep
from services.web.ui.templates import templates

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 100


def _progress_context(library, state: service.SyncState) -> dict:
    return {"library": library, "job": state.job, "run": state.last_run, "progress": state.progress,
            "live": state.live, "counts": state.counts}


@router.get("/libraries/{library_id}", response_class=HTMLResponse)
def library_page(request: Request, library_id: int, user: CurrentUser, session: SessionDep,
                 q: str | None = None, page: int = 1) -> HTMLResponse:
    library = readable_library(session=session, user=user, library_id=library_id)
    page = max(1, page)
    albums, total = list_albums(session=session, user=user, library_id=library.id, q=q, limit=PAGE_SIZE,
                                offset=(page - 1) * PAGE_SIZE)
    ctx = _progress_context(library, service.sync_state(session=session, library=library))
    ctx.update(user=user, albums=albums, total=total, q=q or "", page=page,
               can_sync=service.can_sync(user=user, library=library), can_write=can_write(user, library))
    return templates.TemplateResponse(request, "library.html", ctx)


@router.get("/libraries/{library_id}/sync-progress", response_class=HTMLResponse)
def sync_progress(request: Request, library_id: int, user: CurrentUser, session: SessionDep) -> HTMLResponse:
    library = readable_library(session=session, user=user, library_id=library_id)
    context = _progress_context(library, service.sync_state(session=session, library=library))
    return templates.TemplateResponse(request, "_sync_progress.html", context)


@router.post("/libraries/{library_id}/sync", response_class=HTMLResponse)
def start_sync(request: Request, library_id: int, user: CurrentUser, session: SessionDep) -> HTMLResponse:
    state = service.start_sync(session=session, user=user, library_id=library_id, mode="full")
    library = readable_library(session=session, user=user, library_id=library_id)
    return templates.TemplateResponse(request, "_sync_progress.html", _progress_context(library, state))


@router.post("/libraries/{library_id}/import-csv", response_class=HTMLResponse)
def upload_csv(request: Request, library_id: int, user: CurrentUser, session: SessionDep,
               file: Annotated[UploadFile, File()]) -> HTMLResponse:
    try:
        result = service.import_csv(session=session, user=user, library_id=library_id, stream=file.file)
    except (Invalid, TooLarge) as exc:
        return HTMLResponse(f'<p class="error">Import failed: {escape(exc.detail)}</p>', status_code=422)
    return HTMLResponse(f"<p>Imported {result.rows} rows: {result.albums_created} new albums, "
                        f"{result.albums_updated} updated. <a href=\"/libraries/{result.library_id}\">Reload</a></p>")
