"""Track search: free text (typo-tolerant, prefix while typing) with DJ filters and facets."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from services.domain.search.models import SearchQuery, SearchResult
from services.domain.search.service import search_tracks
from services.web.api.deps import CurrentUser, SessionDep
from services.web.api.responses import model_response

router = APIRouter(tags=["search"])


@router.get("/api/tracks/search", response_model=SearchResult)
def search(query: Annotated[SearchQuery, Query()], user: CurrentUser, session: SessionDep) -> Response:
    """Tracks in your libraries (or `library_id`s) matching `q` and every filter given. Unknown
    parameters, inverted ranges and unknown keys answer 422 naming the field."""
    return model_response(search_tracks(session=session, user=user, query=query))
