"""Sign-in and the dashboard (Jinja2 + htmx). Thin: data comes from the same services as the API."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.domain.accounts import service as accounts
from services.domain.collection.service import follow_friend_and_sync
from services.domain.errors import DomainError, NotAuthenticated
from services.domain.jobcenter.models import JobFilter
from services.domain.jobcenter.service import visible_jobs
from services.domain.libraries.service import list_libraries
from services.domain.overview.service import overview
from services.domain.playlists.service import list_playlists
from services.web.api.cookies import clear_session_cookie, set_session_cookie
from services.web.api.deps import CurrentUser, SessionDep
from services.web.ui.collection_forms import go
from services.web.ui.templates import templates

router = APIRouter(include_in_schema=False)


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
        user = accounts.sign_in(session=session, username=username, password=password)
    except NotAuthenticated as exc:
        return templates.TemplateResponse(
            request, "login.html", {"next": _safe_next(next), "error": exc.detail}, status_code=401
        )
    response = RedirectResponse(_safe_next(next), status_code=status.HTTP_303_SEE_OTHER)
    set_session_cookie(response, user)
    return response


@router.post("/logout")
def logout_form() -> RedirectResponse:
    response = RedirectResponse("/login", status_code=status.HTTP_303_SEE_OTHER)
    clear_session_cookie(response)
    return response


RECENT_JOBS = 8


@router.get("/", response_class=HTMLResponse)
def dashboard(request: Request, user: CurrentUser, session: SessionDep) -> HTMLResponse:
    try:
        jobs, jobs_error = visible_jobs(session=session, user=user, filters=JobFilter(limit=RECENT_JOBS)), None
    except DomainError as exc:  # Redis down: the rest of the dashboard still shows
        jobs, jobs_error = [], exc.detail
    counts = overview(session=session, user=user)
    return templates.TemplateResponse(
        request,
        "dashboard.html",
        {
            "user": user,
            "counts": counts,
            "next_steps": counts.next_steps(),
            "jobs": jobs,
            "jobs_error": jobs_error,
            "libraries": list_libraries(session=session, user=user),
            "playlists": list_playlists(session=session, user=user),
        },
    )


@router.post("/friends")
def follow_friend_form(request: Request, user: CurrentUser, session: SessionDep,
                       username: Annotated[str, Form()]) -> Response:
    """Follow a friend, start the import, go to the friend's library page (refused without a Discogs token)."""
    library, _job_id = follow_friend_and_sync(session=session, user=user, username=username)
    return go(request, f"/libraries/{library.id}")
