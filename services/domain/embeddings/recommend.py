"""Recommendations: tracks to extend a playlist with.

Candidates are the nearest neighbours of the playlist's centroid (its overall sound) and of its last
track (where the set is now), per kind of vector; a candidate's similarity per kind is the mean of its
similarity to both. They must mix with the last track (tempo within the pitch range, compatible key,
on whatever the last track has analysed), and tracks already in the playlist (or the same Discogs track
in another library) are left out. Hits carry the same reasons as similar tracks, relative to the last
track. The set builder's `extend` takes them as its candidates when none are given.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from services.common.models import User
from services.domain.embeddings.similar import (
    MAX_LIMIT,
    SimilarHit,
    active_models,
    embeddings_missing,
    library_scope,
    rank,
    vectors_of,
)
from services.domain.errors import Conflict, Invalid
from services.domain.playlists.service import get_playlist

EXTEND_POOL = 4  # the set builder chooses `add_count` tracks among this many times as many candidates
MIN_EXTEND_POOL = 20


class Suggestions(BaseModel):
    playlist_id: int
    after_track_pk: int = Field(description="the playlist's last track: suggestions mix with it")
    models: dict[str, str] = Field(description="kind -> model of the vectors compared")
    items: list[SimilarHit]


def centroid(vectors: list[np.ndarray]) -> np.ndarray:
    """The mean direction of unit-normalised vectors (each track counts once, whatever its norm)."""
    units = [v / n for v in vectors if (n := float(np.linalg.norm(v))) > 0]
    mean = np.mean(units, axis=0) if units else np.mean(vectors, axis=0)
    norm = float(np.linalg.norm(mean))
    return mean / norm if norm > 0 else mean


def suggest_next(*, session: Session, user: User, playlist_id: int, limit: int = 10) -> Suggestions:
    """Tracks to play after the playlist (yours, else NotFound), best first. Invalid for an empty playlist;
    Conflict `embeddings_missing` when none of its tracks has a vector of the active models."""
    if not 1 <= limit <= MAX_LIMIT:
        raise Invalid(f"limit must be between 1 and {MAX_LIMIT}")
    playlist = get_playlist(session=session, user=user, playlist_id=playlist_id)
    tracks = [item.track for item in playlist.items if item.track.deleted_at is None]
    if not tracks:
        raise Invalid("the playlist is empty: add a track first, then ask for suggestions", code="empty_playlist")
    last = tracks[-1]
    models = active_models()
    queries = {}
    for kind, model in models.items():
        vectors = vectors_of(session, [t.id for t in tracks], kind=kind, model=model)
        if not vectors:
            continue
        queries[kind] = [centroid(list(vectors.values()))]
        if last.id in vectors:
            queries[kind].append(vectors[last.id])
    if not queries:
        raise embeddings_missing(models, "this playlist's tracks")
    hits = rank(session, anchor=last, queries=queries, models=models,
                libraries=library_scope(session=session, user=user),
                exclude_pks=[t.id for t in tracks], exclude_track_ids=[t.track_id for t in tracks],
                compatible=True, limit=limit)
    return Suggestions(playlist_id=playlist.id, after_track_pk=last.id, models={k: models[k] for k in queries},
                       items=hits)


def extension_candidates(*, session: Session, user: User, playlist_id: int, add_count: int) -> list[int]:
    """Track primary keys the set builder may extend the playlist with (a pool larger than `add_count`)."""
    pool = min(MAX_LIMIT, max(MIN_EXTEND_POOL, EXTEND_POOL * add_count))
    try:
        found = suggest_next(session=session, user=user, playlist_id=playlist_id, limit=pool)
    except Conflict as exc:  # for the set builder, a request it cannot serve as asked (422)
        raise Invalid(f"add_count without extend_with extends from the suggestions, but {exc.detail}",
                      code=exc.code) from None
    return [hit.track.id for hit in found.items]
