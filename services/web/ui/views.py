"""Browser pages (Jinja2 + htmx). Thin: data comes from the same services as the API."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy import select

from services.common.models import Library, Playlist, User
from services.web.api.deps import CurrentUser, SessionDep, visible_library_ids
from services.web.api.routes.auth import check_credentials, set_session_cookie
from services.web.core.security import SESSION_COOKIE

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
    playlists = list(session.scalars(select(Playlist).where(Playlist.owner_id == user.id).order_by(Playlist.id)))
    return templates.TemplateResponse(
        request, "dashboard.html", {"user": user, "libraries": libraries, "playlists": playlists}
    )
