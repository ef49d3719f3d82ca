"""Enrichment pages: the review wizard (/enrichment/review) stepping through uncertain matches one at a
time (accept, choose another candidate, reject, skip; keys in static/enrichment.js), and the "Match links"
form of a library page (`_enrich_form.html` loads `/libraries/{id}/enrich-form`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from services.common.models import User
from services.domain.access import can_write, writable_library
from services.domain.enrichment import service
from services.domain.enrichment.sources import base
from services.domain.errors import Invalid
from services.domain.libraries import service as libraries
from services.web.api.deps import CurrentUser, SessionDep
from services.web.ui.templates import templates

router = APIRouter(include_in_schema=False)


def mmss(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    total = int(round(seconds))
    return f"{total // 3600}:{total % 3600 // 60:02d}:{total % 60:02d}" if total >= 3600 else \
        f"{total // 60}:{total % 60:02d}"


def _optional_int(value: str | None) -> int | None:
    """A library id from a query or form ("" = all libraries); Invalid when it is not a number."""
    if value is None or not value.strip():
        return None
    if not value.strip().isdigit():
        raise Invalid("library_id: must be a number", code="bad_library_id")
    return int(value)


def _wizard_context(session: Session, user: User, *, library_id: int | None, source: str | None,
                    offset: int, done: int) -> dict:
    """The item at `offset` among the pending reviews (`offset` = skipped in this round, `done` = decided),
    and where it stands: "3 of 41" counts decided + skipped + this one of decided + still pending."""
    offset, done = max(0, offset), max(0, done)
    page = service.list_reviews(session=session, user=user, library_id=library_id, source=source or None,
                                limit=1, offset=offset)
    item = page.items[0] if page.items else None
    return {"item": item, "pending": page.total, "position": done + offset + 1, "overall": done + page.total,
            "offset": offset, "done": done, "library_id": library_id, "source": source or "", "mmss": mmss}


@router.get("/enrichment/review", response_class=HTMLResponse)
def review_page(request: Request, user: CurrentUser, session: SessionDep, library_id: str | None = None,
                source: str | None = None, offset: Annotated[int, Query(ge=0)] = 0,
                done: Annotated[int, Query(ge=0)] = 0) -> HTMLResponse:
    ctx = _wizard_context(session, user, library_id=_optional_int(library_id), source=source, offset=offset,
                          done=done)
    writable = [lib for lib in libraries.list_libraries(session=session, user=user) if can_write(user, lib)]
    ctx.update(user=user, libraries=writable, sources=base.statuses())
    return templates.TemplateResponse(request, "enrichment_review.html", ctx)


@router.get("/enrichment/review/item", response_class=HTMLResponse)
def review_item(request: Request, user: CurrentUser, session: SessionDep, library_id: str | None = None,
                source: str | None = None, offset: Annotated[int, Query(ge=0)] = 0,
                done: Annotated[int, Query(ge=0)] = 0) -> HTMLResponse:
    """The wizard's item (Skip moves `offset` on)."""
    ctx = _wizard_context(session, user, library_id=_optional_int(library_id), source=source, offset=offset,
                          done=done)
    return templates.TemplateResponse(request, "_enrich_review_item.html", ctx)


@router.post("/enrichment/review/{review_id}/accept", response_class=HTMLResponse)
def accept(request: Request, review_id: int, user: CurrentUser, session: SessionDep,
           candidate_index: Annotated[int, Form(ge=0)] = 0, library_id: Annotated[str | None, Form()] = None,
           source: Annotated[str | None, Form()] = None, offset: Annotated[int, Form(ge=0)] = 0,
           done: Annotated[int, Form(ge=0)] = 0) -> HTMLResponse:
    service.accept_review(session=session, user=user, review_id=review_id, candidate_index=candidate_index)
    session.flush()
    ctx = _wizard_context(session, user, library_id=_optional_int(library_id), source=source, offset=offset,
                          done=done + 1)
    return templates.TemplateResponse(request, "_enrich_review_item.html", ctx)


@router.post("/enrichment/review/{review_id}/reject", response_class=HTMLResponse)
def reject(request: Request, review_id: int, user: CurrentUser, session: SessionDep,
           library_id: Annotated[str | None, Form()] = None, source: Annotated[str | None, Form()] = None,
           offset: Annotated[int, Form(ge=0)] = 0, done: Annotated[int, Form(ge=0)] = 0) -> HTMLResponse:
    service.reject_review(session=session, user=user, review_id=review_id)
    session.flush()
    ctx = _wizard_context(session, user, library_id=_optional_int(library_id), source=source, offset=offset,
                          done=done + 1)
    return templates.TemplateResponse(request, "_enrich_review_item.html", ctx)


# --- the "Match links" form of a library page ---------------------------------------------------------


@router.get("/libraries/{library_id}/enrich-form", response_class=HTMLResponse)
def enrich_form(request: Request, library_id: int, user: CurrentUser, session: SessionDep) -> HTMLResponse:
    library = writable_library(session=session, user=user, library_id=library_id)
    return templates.TemplateResponse(request, "_enrich_form_body.html",
                                      {"library": library, "sources": base.statuses(), "started": None})


@router.post("/libraries/{library_id}/enrich", response_class=HTMLResponse)
def start(request: Request, library_id: int, user: CurrentUser, session: SessionDep,
          sources: Annotated[list[str] | None, Form()] = None) -> HTMLResponse:
    library = writable_library(session=session, user=user, library_id=library_id)
    if not sources:
        raise Invalid("choose at least one source", code="no_source")
    started = service.start_enrichment(session=session, user=user, library_id=library.id, sources=sources)
    return templates.TemplateResponse(request, "_enrich_form_body.html",
                                      {"library": library, "sources": base.statuses(), "started": started,
                                       "chosen": started.sources})
