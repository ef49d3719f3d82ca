"""Administration (admins only): the search index, the drift repair, and the download tools' cookie files."""

from __future__ import annotations

from fastapi import APIRouter, Request, status
from pydantic import BaseModel

from services.domain.downloads import service as downloads
from services.domain.downloads.service import CookieStatus
from services.domain.search.service import SearchStatus, request_rebuild, search_status
from services.domain.maintenance import service as maintenance
from services.domain.maintenance.jobs import enqueue_repair
from services.domain.maintenance.service import RepairRun, RepairStatus
from services.web.api.deps import AdminUser, SessionDep

router = APIRouter(prefix="/api/admin", tags=["admin"])


class RebuildQueued(BaseModel):
    job_id: str


class SearchStatusOut(SearchStatus):
    last_repair: RepairRun | None = None


@router.get("/search/status", response_model=SearchStatusOut)
def search_index_status(_: AdminUser, session: SessionDep) -> SearchStatusOut:
    """Which backend answers searches, (MeiliSearch) its documents against Postgres' tracks, and what the
    last drift repair found and queued."""
    return SearchStatusOut(**search_status(session=session).model_dump(), last_repair=maintenance.last_repair())


@router.get("/repair", response_model=RepairStatus)
def repair_state(_: AdminUser) -> RepairStatus:
    """The drift repair (embeddings missing or stale, search index drift): its interval, next and last run."""
    return maintenance.repair_status()


@router.post("/repair", response_model=RebuildQueued, status_code=status.HTTP_202_ACCEPTED)
def repair_now(user: AdminUser) -> RebuildQueued:
    """Run the drift repair now, in the background (the job center shows it as kind `repair`)."""
    return RebuildQueued(job_id=enqueue_repair(user_id=user.id))


@router.post("/search/reindex", response_model=RebuildQueued, status_code=status.HTTP_202_ACCEPTED)
def search_reindex(_: AdminUser) -> RebuildQueued:
    """Rebuild the MeiliSearch index in the background: built aside, then swapped in (no downtime)."""
    return RebuildQueued(job_id=request_rebuild())


@router.get("/cookies", response_model=list[CookieStatus])
def list_cookies(_: AdminUser) -> list[CookieStatus]:
    """Which cookie files are present and when they were uploaded (their content is never returned)."""
    return [downloads.cookie_status(tool=tool) for tool in ("gamdl", "ytdlp")]


@router.put("/cookies/{tool}", response_model=CookieStatus,
            openapi_extra={"requestBody": {"content": {"text/plain": {"schema": {"type": "string"}}}}})
async def put_cookies(tool: str, request: Request, _: AdminUser) -> CookieStatus:
    """Upload a Netscape cookies.txt for `gamdl` (Apple Music) or `ytdlp` as the request body.
    Stored with mode 0600; used by the next downloads."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > downloads.COOKIE_MAX_BYTES:
            break  # store_cookies refuses it with 413
    return downloads.store_cookies(tool=tool, chunks=[bytes(body)])


@router.delete("/cookies/{tool}", response_model=CookieStatus)
def delete_cookies(tool: str, _: AdminUser) -> CookieStatus:
    return downloads.delete_cookies(tool=tool)
