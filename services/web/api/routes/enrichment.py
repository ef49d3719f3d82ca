"""Enrichment: the auto-match job of a library, the review queue of uncertain matches, the sources' state."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status
from pydantic import BaseModel, ConfigDict, Field

from services.domain.enrichment import service
from services.domain.enrichment.service import EnrichmentStart, ReviewPage, ReviewView, SourceHealth
from services.web.api.deps import CurrentUser, SessionDep

router = APIRouter(tags=["enrichment"])


class AcceptBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    candidate_index: int | None = Field(None, ge=0, description="Another candidate than the best (0-based)")


@router.post("/api/libraries/{library_id}/enrich", response_model=EnrichmentStart,
             status_code=status.HTTP_202_ACCEPTED)
def start_enrichment(library_id: int, user: CurrentUser, session: SessionDep,
                     sources: Annotated[str | None, Query(description="Comma-separated: apple,spotify,youtube "
                                                                      "(default: all)")] = None) -> EnrichmentStart:
    """Queue the auto-match of the library's tracks lacking a link on these sources (owner, not a friend's
    import). Matches above the threshold are stored, uncertain ones go to the review queue; a link set by
    hand is never replaced. 409 `source_not_configured` says what to set; 422 for an unknown source.
    Progress and the per-source counts are in the job center (kind "enrichment")."""
    return service.start_enrichment(session=session, user=user, library_id=library_id, sources=sources)


@router.get("/api/enrichment/sources", response_model=list[SourceHealth])
def sources(user: CurrentUser, session: SessionDep) -> list[SourceHealth]:
    """Each catalog source: configured or what to set, its last error and last success."""
    return service.source_health(session=session)


@router.get("/api/enrichment/review", response_model=ReviewPage)
def review_queue(user: CurrentUser, session: SessionDep, library_id: int | None = None,
                 source: Annotated[str | None, Query(description="apple | spotify | youtube")] = None,
                 limit: Annotated[int, Query(ge=1, le=200)] = 50,
                 offset: Annotated[int, Query(ge=0)] = 0) -> ReviewPage:
    """Pending reviews of tracks you may change, oldest first, each with its scored candidates (best first)
    and the evidence in words."""
    return service.list_reviews(session=session, user=user, library_id=library_id, source=source or None,
                                limit=limit, offset=offset)


@router.get("/api/enrichment/review/{review_id}", response_model=ReviewView)
def review(review_id: int, user: CurrentUser, session: SessionDep) -> ReviewView:
    return service.get_review(session=session, user=user, review_id=review_id)


@router.post("/api/enrichment/review/{review_id}/accept", response_model=ReviewView)
def accept(review_id: int, user: CurrentUser, session: SessionDep, body: AcceptBody | None = None) -> ReviewView:
    """Set the track's link to the best candidate, or to `candidate_index`; 409 `link_set_by_hand` when you
    set that link by hand since (it is kept)."""
    return service.accept_review(session=session, user=user, review_id=review_id,
                                 candidate_index=body.candidate_index if body else None)


@router.post("/api/enrichment/review/{review_id}/reject", response_model=ReviewView)
def reject(review_id: int, user: CurrentUser, session: SessionDep) -> ReviewView:
    """None of the candidates is the track: its link stays empty and these candidates are not offered again."""
    return service.reject_review(session=session, user=user, review_id=review_id)
