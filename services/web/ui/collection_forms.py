"""Shared helpers of the collection forms (libraries, albums, tracks) and the spins pages.

Forms post with htmx. A refused form answers the domain error as `{"detail", "code"}` with its 4xx status
(static/app.js shows it in the form's `[data-errors]` slot). A form that moves to another page answers
`HX-Location` (only <main> is swapped, so the player keeps playing); without htmx, a 303 redirect.
"""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.domain.collection.albums import get_album
from services.domain.errors import Invalid
from services.domain.spins import service as spins
from services.web.api.deps import CurrentUser, SessionDep
from services.web.ui.templates import templates

router = APIRouter(include_in_schema=False)
HISTORY_PAGE = 20


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def go(request: Request, url: str) -> Response:
    """Move to another page after a form: htmx swaps <main> (and pushes the URL); otherwise a redirect."""
    if is_htmx(request):
        target = {"path": url, "target": "#main", "select": "#main", "swap": "outerHTML"}
        return Response(status_code=200, headers={"HX-Location": json.dumps(target)})
    return RedirectResponse(url, status_code=303)


def page_at(response: HTMLResponse, url: str) -> HTMLResponse:
    """A page rendered in answer to a form, shown at `url` (htmx puts it in the address bar)."""
    response.headers["HX-Push-Url"] = url
    return response


def words(text: str | None) -> list[str]:
    """"deep house, techno" -> ["deep house", "techno"]."""
    return [w.strip() for w in (text or "").split(",") if w.strip()]


def optional_int(text: str | None, what: str) -> int | None:
    text = (text or "").strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        raise Invalid(f"{what}: a whole number, e.g. 1997") from None


# --- spins ------------------------------------------------------------------------------------------


@router.get("/spins", response_class=HTMLResponse)
def spins_page(request: Request, user: CurrentUser, session: SessionDep, page: int = 1) -> HTMLResponse:
    page = max(1, page)
    rows, total = spins.history(session=session, user=user, limit=HISTORY_PAGE, offset=(page - 1) * HISTORY_PAGE)
    return templates.TemplateResponse(request, "spins.html", {
        "user": user, "sessions": rows, "total": total, "page": page, "page_size": HISTORY_PAGE,
        "tracks": spins.history_tracks(session=session, user=user, sessions=rows),
        "top": spins.top_tracks(session=session, user=user, limit=10),
    })


@router.post("/spins/{session_id}/delete")
def delete_spin_session(request: Request, session_id: int, user: CurrentUser, session: SessionDep) -> Response:
    spins.delete_session(session=session, user=user, session_id=session_id)
    return go(request, "/spins")


def _logged(request: Request, session, user, track_pk: int | None, message: str) -> HTMLResponse:
    plays = spins.track_plays(session=session, user=user, track_pk=track_pk)[0] if track_pk else None
    return templates.TemplateResponse(request, "_spin_logged.html", {"message": message, "plays": plays})


@router.post("/tracks/{track_pk}/spin", response_class=HTMLResponse)
def log_track_spin(request: Request, track_pk: int, user: CurrentUser, session: SessionDep,
                   notes: Annotated[str | None, Form(max_length=5000)] = None) -> HTMLResponse:
    """"I played this": one spin of the track, now."""
    spins.log_session(session=session, user=user, items=[{"track_pk": track_pk}], started_at=None, notes=notes)
    return _logged(request, session, user, track_pk, "Spin logged.")


@router.post("/albums/{album_id}/spin", response_class=HTMLResponse)
def log_side_spin(request: Request, album_id: int, user: CurrentUser, session: SessionDep,
                  side: Annotated[str, Form(max_length=4)] = "",
                  notes: Annotated[str | None, Form(max_length=5000)] = None) -> HTMLResponse:
    """"I played side A": every track of that side, now."""
    get_album(session=session, user=user, album_id=album_id)
    if not side.strip().isalpha():
        raise Invalid("pick a side (A, B, ...)")
    logged = spins.log_session(session=session, user=user, items=[{"album_id": album_id, "side": side}],
                               started_at=None, notes=notes)
    return _logged(request, session, user, None, f"Side {side.strip().upper()} logged ({len(logged.spins)} tracks).")
