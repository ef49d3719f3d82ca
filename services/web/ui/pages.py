"""Sign-in and the dashboard (Jinja2 + htmx). Thin: data comes from the same services as the API."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.domain.collection.service import follow_friend_and_sync
from services.domain.errors import DomainError, NotAuthenticated, RateLimited, Unavailable
from services.domain.jobcenter.models import JobFilter
from services.domain.jobcenter.service import visible_jobs
from services.domain.libraries.service import list_libraries
from services.domain.overview.service import overview
from services.domain.playlists.service import list_playlists
from services.web.api.deps import CurrentUser, LoginThrottleDep, SessionDep
from services.web.api.routes.auth import begin_session, end_browser_session
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
async def login_form(
    request: Request,
    session: SessionDep,
    throttle: LoginThrottleDep,
    username: Annotated[str, Form(max_length=150)],
    password: Annotated[str, Form(max_length=1024)],
    next: Annotated[str, Form()] = "/",
):
    response = RedirectResponse(_safe_next(next), status_code=status.HTTP_303_SEE_OTHER)
    try:
        await begin_session(request, response, session=session, throttle=throttle, username=username,
                            password=password)
    except (NotAuthenticated, RateLimited, Unavailable) as exc:
        code = 401 if isinstance(exc, NotAuthenticated) else 429 if isinstance(exc, RateLimited) else 503
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, RateLimited) else None
        return templates.TemplateResponse(
            request, "login.html", {"next": _safe_next(next), "error": exc.detail}, status_code=code, headers=headers
        )
    return response


@router.post("/logout")
def logout_form(request: Request, session: SessionDep) -> RedirectResponse:
    response = RedirectResponse("/login", status_code=status.HTTP_303_SEE_OTHER)
    end_browser_session(request, response, session=session)
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
