"""Browser pages (Jinja2 + htmx). Thin: data comes from the same services as the API."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy import select

from services.common.models import Library, Playlist, User
from services.web.api.deps import CurrentUser, SessionDep, visible_library_ids
from services.web.api.routes.auth import check_credentials, set_session_cookie
from services.web.api.routes.setbuilder import BuildOptions, PlaylistGenerate, generate_for_playlist
from services.web.core.security import SESSION_COOKIE
from services.web.playlists.service import get_owned_playlist
from services.web.setbuilder.service import local_transitions
from services.web.ui.charts import camelot_path_svg, set_curve_svg

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).resolve().parents[1] / "templates")


def _safe_next(target: str | None) -> str:
    # Only local paths: never redirect to another site after login.
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return "/"


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str | None = None) -> HTMLResponse:
    return templates.TemplateResponse(request, "login.html", {"next": _safe_next(next), "error": None})


@router.post("/login", response_class=HTMLResponse)
def login_form(
    request: Request,
    session: SessionDep,
    username: Annotated[str, Form()],
    password: Annotated[str, Form()],
    next: Annotated[str, Form()] = "/",
):
    try:
        user = check_credentials(session, username, password)
    except HTTPException as exc:
        return templates.TemplateResponse(
            request, "login.html", {"next": _safe_next(next), "error": exc.detail}, status_code=401
        )
    response = RedirectResponse(_safe_next(next), status_code=status.HTTP_303_SEE_OTHER)
    set_session_cookie(response, user)
    return response


@router.post("/logout")
def logout_form() -> RedirectResponse:
    response = RedirectResponse("/login", status_code=status.HTTP_303_SEE_OTHER)
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.get("/", response_class=HTMLResponse)
def dashboard(request: Request, user: CurrentUser, session: SessionDep) -> HTMLResponse:
    libraries = list(
        session.scalars(select(Library).where(Library.id.in_(visible_library_ids(user))).order_by(Library.id))
    )
    playlists = list(
        session.scalars(select(Playlist).where(Playlist.owner_id == user.id).order_by(Playlist.id))
    )
    return templates.TemplateResponse(
        request, "dashboard.html", {"user": user, "libraries": libraries, "playlists": playlists}
    )


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
        body = PlaylistGenerate(mode=mode, options=BuildOptions(energy_curve=energy_curve, seed=seed))
        generate_for_playlist(playlist_id, body, user, session)
    except HTTPException as exc:
        if exc.status_code == 404:
            raise
        error = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    except ValueError as exc:
        error = str(exc)
    context = playlist_context(session, user, playlist_id)
    context["error"] = error
    return templates.TemplateResponse(request, "_set_panel.html", context, status_code=422 if error else 200)


def playlist_context(session, user: User, playlist_id: int) -> dict:
    session.expire_all()
    playlist = get_owned_playlist(session=session, user=user, playlist_id=playlist_id)
    tracks = [item.track for item in playlist.items]
    transitions = local_transitions(tracks)
    return {
        "user": user,
        "playlist": playlist,
        "rows": list(zip(tracks, [None, *transitions], strict=True)),
        "curve_svg": set_curve_svg(
            labels=[t.title for t in tracks],
            bpms=[t.bpm for t in tracks],
            energies=[t.energy for t in tracks],
        )
        if tracks
        else "",
        "camelot_svg": camelot_path_svg(codes=[t.camelot for t in tracks]) if tracks else "",
        "error": None,
    }
