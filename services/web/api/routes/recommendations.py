"""Similar tracks and playlist suggestions, from the track embeddings (services/domain/embeddings).
Without embeddings of the active models: 409 `embeddings_missing` (run `djp embeddings backfill`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from services.domain.embeddings import recommend, similar
from services.web.api.deps import CurrentUser, SessionDep

router = APIRouter(prefix="/api", tags=["recommendations"])
# How many tracks to answer, for both routes (the domain refuses more than similar.MAX_LIMIT too).
Limit = Annotated[int, Query(ge=1, le=similar.MAX_LIMIT)]


@router.get("/tracks/{track_pk}/similar", response_model=similar.SimilarResult)
def similar_tracks(
    track_pk: int,
    user: CurrentUser,
    session: SessionDep,
    limit: Limit = 20,
    library_id: Annotated[list[int], Query(max_length=100, description="search only these libraries")] = [],  # noqa: B006
    compatible: Annotated[bool, Query(description="only tracks that mix with it (tempo and key)")] = False,
) -> similar.SimilarResult:
    """Tracks like this one, best first: embedding similarity (text and audio features) blended with tempo
    and key compatibility, each with its reasons (similarity, bpm_delta, key_move, shared genres/styles)."""
    return similar.similar_tracks(session=session, user=user, track_pk=track_pk, limit=limit,
                                  library_ids=library_id, compatible=compatible)


@router.get("/playlists/{playlist_id}/suggestions", response_model=recommend.Suggestions)
def playlist_suggestions(
    playlist_id: int,
    user: CurrentUser,
    session: SessionDep,
    limit: Limit = 10,
) -> recommend.Suggestions:
    """Tracks to extend the playlist with: near its overall sound and its last track, mixing with the last
    track, not already in it."""
    return recommend.suggest_next(session=session, user=user, playlist_id=playlist_id, limit=limit)
