"""Administration: the search index (admins only)."""

from __future__ import annotations

from fastapi import APIRouter, status
from pydantic import BaseModel

from services.domain.search.service import SearchStatus, request_rebuild, search_status
from services.web.api.deps import AdminUser, SessionDep

router = APIRouter(prefix="/api/admin", tags=["admin"])


class RebuildQueued(BaseModel):
    job_id: str


@router.get("/search/status", response_model=SearchStatus)
def search_index_status(_: AdminUser, session: SessionDep) -> SearchStatus:
    """Which backend answers searches, and (MeiliSearch) its documents against Postgres' tracks."""
    return search_status(session=session)


@router.post("/search/reindex", response_model=RebuildQueued, status_code=status.HTTP_202_ACCEPTED)
def search_reindex(_: AdminUser) -> RebuildQueued:
    """Rebuild the MeiliSearch index in the background: built aside, then swapped in (no downtime)."""
    return RebuildQueued(job_id=request_rebuild())
