"""Libraries (Jinja2 + htmx): the list, create (with a CSV import in one go), rename, delete, unfollow;
a library's page with its albums, sync button, live sync progress (polled every second), CSV upload
and a record added by hand."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, Response

from services.common.contracts.discogs import CsvImportResult
from services.common.models import Library, User
from services.domain.access import can_write, owned_library, owns, readable_library
from services.domain.analysis import service as analysis
from services.domain.collection import service
from services.domain.collection.albums import create_manual_album, library_counts, list_albums
from services.domain.errors import Invalid
from services.domain.libraries import service as libraries
from services.domain.new_releases import service as new_releases
from services.web.api.deps import CurrentUser, SessionDep
from services.web.ui.collection_forms import go, optional_int, page_at, words
from services.web.ui.templates import templates

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 100


def _progress_context(library, state: service.SyncState) -> dict:
    return {"library": library, "job": state.job, "run": state.last_run, "progress": state.progress,
            "live": state.live, "counts": state.counts}


def kind_of(user: User, library: Library) -> str:
    if library.is_friend:
        return "friend"
    return "yours" if owns(user, library) else "shared"


def _import_notice(result: CsvImportResult) -> str:
    text = (f"Imported {result.rows} row(s): {result.albums_created} new album(s), "
            f"{result.albums_updated} updated. ")
    if result.sync_job_id:
        return text + "Tracklists are being fetched from Discogs in the background."
    return text + ("Discogs CSV exports have no tracklists: add them by hand on each album's page, "
                   "or set DISCOGS_USER_TOKEN and sync.")


@router.get("/libraries", response_class=HTMLResponse)
def libraries_page(request: Request, user: CurrentUser, session: SessionDep) -> HTMLResponse:
    rows = [{"library": lib, "kind": kind_of(user, lib), "owns": owns(user, lib),
             "counts": library_counts(session=session, library=lib)}
            for lib in libraries.list_libraries(session=session, user=user)]
    return templates.TemplateResponse(request, "libraries.html", {"user": user, "rows": rows,
                                                                 "friends_enabled": libraries.friends_enabled(user)})


def _library_page(request: Request, session, user: User, library: Library, *, q: str | None = None,
                  page: int = 1, notice: str | None = None, status_code: int = 200) -> HTMLResponse:
    page = max(1, page)
    albums, total = list_albums(session=session, user=user, library_id=library.id, q=q, limit=PAGE_SIZE,
                                offset=(page - 1) * PAGE_SIZE)
    ctx = _progress_context(library, service.sync_state(session=session, library=library))
    ctx.update(user=user, albums=albums, total=total, q=q or "", page=page, notice=notice,
               kind=kind_of(user, library), owns=owns(user, library),
               can_sync=service.can_sync(user=user, library=library), can_write=can_write(user, library))
    ctx.update(_new_releases_context(session, user, library))
    if ctx["can_write"]:  # the audio and analysis cards are for those who may change the library
        ctx["la"] = analysis.library_analysis(session=session, user=user, library_id=library.id)
    return templates.TemplateResponse(request, "library.html", ctx, status_code=status_code)


def _new_releases_context(session, user: User, library: Library, found: new_releases.NewReleases | None = None
                          ) -> dict:
    """The library page's "New releases" section: findings (newest first), the last check, a running one."""
    found = found or new_releases.new_releases(session=session, user=user, library_id=library.id, limit=50)
    return {"nr": found, "can_check": new_releases.can_check(user=user, library=library), "library": library}


@router.post("/libraries", response_class=HTMLResponse)
def create_library(request: Request, user: CurrentUser, session: SessionDep,
                   name: Annotated[str, Form()] = "",
                   file: Annotated[UploadFile | None, File()] = None) -> HTMLResponse:
    """Create a library; with a Discogs CSV export, import it too (a bad file creates nothing)."""
    library = libraries.create_library(session=session, user=user, name=name)
    notice = f"Library “{library.name}” created."
    if file is not None and file.filename:
        result = service.import_csv(session=session, user=user, library_id=library.id, stream=file.file)
        notice += " " + _import_notice(result)
    else:
        session.commit()
    response = _library_page(request, session, user, library, notice=notice)
    return page_at(response, f"/libraries/{library.id}")


@router.get("/libraries/{library_id}", response_class=HTMLResponse)
def library_page(request: Request, library_id: int, user: CurrentUser, session: SessionDep,
                 q: str | None = None, page: int = 1) -> HTMLResponse:
    library = readable_library(session=session, user=user, library_id=library_id)
    return _library_page(request, session, user, library, q=q, page=page)


@router.post("/libraries/{library_id}/rename", response_class=HTMLResponse)
def rename_library(request: Request, library_id: int, user: CurrentUser, session: SessionDep,
                   name: Annotated[str, Form()] = "") -> HTMLResponse:
    library = libraries.rename_library(session=session, user=user, library_id=library_id, name=name)
    return _library_page(request, session, user, library, notice=f"Renamed to “{library.name}”.")


@router.post("/libraries/{library_id}/delete")
def delete_library(request: Request, library_id: int, user: CurrentUser, session: SessionDep) -> Response:
    libraries.delete_library(session=session, user=user, library_id=library_id)
    return go(request, "/libraries")


@router.post("/libraries/{library_id}/unfollow")
def unfollow(request: Request, library_id: int, user: CurrentUser, session: SessionDep) -> Response:
    """Stop following a friend: their read-only library and its records are removed."""
    library = owned_library(session=session, user=user, library_id=library_id)
    if not library.is_friend or not library.discogs_username:
        raise Invalid("this library is not a friend's: delete it instead", code="not_a_friend")
    libraries.unfollow_friend(session=session, user=user, username=library.discogs_username)
    return go(request, "/libraries")


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


@router.post("/libraries/{library_id}/analyze", response_class=HTMLResponse)
def analyse_library(request: Request, library_id: int, user: CurrentUser, session: SessionDep,
                    which: analysis.AnalyseWhich = "missing") -> HTMLResponse:
    """Queue the library's missing (or outdated) analyses; answers the Analysis card with what was queued."""
    batch = analysis.analyse_library(session=session, user=user, library_id=library_id, which=which)
    library = readable_library(session=session, user=user, library_id=library_id)
    parts = [f"Queued {batch.queued} analys{'i' if batch.queued == 1 else 'e'}s"]
    if batch.already_queued:
        parts.append(f"{batch.already_queued} {'was' if batch.already_queued == 1 else 'were'} already queued")
    if batch.skipped:
        parts.append(f"{batch.skipped} left for later: {batch.skipped_reason}")
    notice = "; ".join(parts) + ". Their progress is on the Jobs page."
    la = analysis.library_analysis(session=session, user=user, library_id=library_id)
    return templates.TemplateResponse(request, "_library_analysis.html",
                                      {"library": library, "la": la, "analysis_notice": notice})


@router.post("/libraries/{library_id}/import-csv", response_class=HTMLResponse)
def upload_csv(request: Request, library_id: int, user: CurrentUser, session: SessionDep,
               file: Annotated[UploadFile | None, File()] = None) -> HTMLResponse:
    """Import a Discogs CSV export; answers the library page with what was imported (errors: 4xx detail)."""
    if file is None or not file.filename:
        raise Invalid("choose a Discogs CSV export file", code="no_file")
    result = service.import_csv(session=session, user=user, library_id=library_id, stream=file.file)
    library = readable_library(session=session, user=user, library_id=result.library_id)
    return _library_page(request, session, user, library, notice=_import_notice(result))


@router.post("/libraries/{library_id}/albums")
def add_album(request: Request, library_id: int, user: CurrentUser, session: SessionDep,
              artist: Annotated[str, Form()] = "", title: Annotated[str, Form()] = "",
              year: Annotated[str | None, Form()] = None, label: Annotated[str | None, Form()] = None,
              catalog_number: Annotated[str | None, Form()] = None, format: Annotated[str | None, Form()] = None,
              genres: Annotated[str | None, Form()] = None, styles: Annotated[str | None, Form()] = None,
              notes: Annotated[str | None, Form()] = None) -> Response:
    """A record added by hand (not on Discogs); then its page, to type in the tracklist."""
    album = create_manual_album(
        session=session, user=user, library_id=library_id, title=title, artist=artist,
        year=optional_int(year, "year"), label=label, catalog_number=catalog_number, format=format,
        genres=words(genres), styles=words(styles), notes=notes, tracks=[])
    return go(request, f"/albums/{album.id}")


@router.get("/libraries/{library_id}/new-releases", response_class=HTMLResponse)
def new_releases_section(request: Request, library_id: int, user: CurrentUser, session: SessionDep) -> HTMLResponse:
    library = readable_library(session=session, user=user, library_id=library_id)
    return templates.TemplateResponse(request, "_new_releases.html", _new_releases_context(session, user, library))


@router.post("/libraries/{library_id}/new-releases/check", response_class=HTMLResponse)
def check_new_releases(request: Request, library_id: int, user: CurrentUser, session: SessionDep) -> HTMLResponse:
    found = new_releases.start_check(session=session, user=user, library_id=library_id)
    library = readable_library(session=session, user=user, library_id=library_id)
    return templates.TemplateResponse(request, "_new_releases.html",
                                      _new_releases_context(session, user, library, found))
