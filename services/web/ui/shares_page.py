"""The share invitations page (/shares): libraries other users invited you to follow (accept or decline)
and those you follow (leave). The same domain functions as /api/users/me/invitations and /api/users/me/shares;
every answer is the page's section again (htmx) or a redirect back to the page (no script)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from services.common.models import User
from services.domain.libraries import service as libraries
from services.web.api.deps import CurrentUser, SessionDep
from services.web.ui.collection_forms import is_htmx
from services.web.ui.templates import templates

router = APIRouter(include_in_schema=False)


def _context(session: Session, user: User, notice: str | None = None) -> dict:
    return {"user": user, "notice": notice,
            "invitations": libraries.share_invitations(session=session, user=user),
            "followed": libraries.followed_shares(session=session, user=user)}


def _answer(request: Request, session: Session, user: User, notice: str) -> Response:
    if is_htmx(request):
        return templates.TemplateResponse(request, "_shares.html", _context(session, user, notice))
    return RedirectResponse("/shares", status_code=303)


@router.get("/shares", response_class=HTMLResponse)
def shares_page(request: Request, user: CurrentUser, session: SessionDep) -> HTMLResponse:
    return templates.TemplateResponse(request, "shares.html", _context(session, user))


@router.post("/shares/{library_id}/accept")
def accept(request: Request, library_id: int, user: CurrentUser, session: SessionDep) -> Response:
    library = libraries.accept_share(session=session, user=user, library_id=library_id)
    return _answer(request, session, user, f"Accepted: {library.name} is among your libraries (read-only).")


@router.post("/shares/{library_id}/decline")
def decline(request: Request, library_id: int, user: CurrentUser, session: SessionDep) -> Response:
    libraries.decline_share(session=session, user=user, library_id=library_id)
    return _answer(request, session, user, "Declined.")


@router.post("/shares/{library_id}/leave")
def leave(request: Request, library_id: int, user: CurrentUser, session: SessionDep) -> Response:
    libraries.leave_share(session=session, user=user, library_id=library_id)
    return _answer(request, session, user, "You no longer follow that library.")
