"""New releases from the artists of a library (an optional Discogs check, services/domain/new_releases)."""

from __future__ import annotations

from fastapi import APIRouter, Query, status

from services.domain.new_releases import service
from services.domain.new_releases.service import NewReleases
from services.web.api.deps import CurrentUser, SessionDep

router = APIRouter(tags=["new releases"])


@router.get("/api/libraries/{library_id}/new-releases", response_model=NewReleases)
def list_new_releases(library_id: int, user: CurrentUser, session: SessionDep,
                      limit: int = Query(200, ge=1, le=1000)) -> NewReleases:
    """Releases by the library's artists newer than the library holds and not in it, newest first; the last
    check's summary and the check running now (if any)."""
    return service.new_releases(session=session, user=user, library_id=library_id, limit=limit)


@router.post("/api/libraries/{library_id}/new-releases/check", response_model=NewReleases,
             status_code=status.HTTP_202_ACCEPTED)
def check_new_releases(library_id: int, user: CurrentUser, session: SessionDep) -> NewReleases:
    """Queue a Discogs check of the library's artists (returns the one queued or running if there is one).
    Owners only; uses your Discogs token (the server's only for an admin)."""
    return service.start_check(session=session, user=user, library_id=library_id)
