"""Track search for a user: the scope they may read, the configured backend, the items shaped the
same way whichever backend answered."""

from __future__ import annotations

import time
from datetime import datetime

from pydantic import BaseModel, Field
from sqlalchemy import Row, delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from services.common.models import Library, SearchOutbox, SearchState, Track, User
from services.common.settings import get_settings
from services.domain.access import visible_library_ids
from services.domain.errors import NotFound, Refused, Unavailable
from services.domain.playlists.service import get_playlist
from services.domain.search.base import Scope, SearchBackend, backend_class
from services.domain.search.models import SearchItem, SearchQuery, SearchResult
from services.domain.search.postgres import ITEM_COLUMNS  # importing it registers the backend
from services.domain.search.text import highlight, terms


def backend_name() -> str:
    return "meilisearch" if get_settings().meilisearch_host else "postgres"


def current_backend() -> SearchBackend:
    if backend_name() == "meilisearch":
        from services.domain.search import meili  # noqa: F401 - registers the backend

    return backend_class(backend_name())()


def scope_for(*, session: Session, user: User, query: SearchQuery) -> Scope:
    """Every library the user may read, or the ones asked (each must be readable)."""
    # list_libraries' rule (access.visible_library_ids), read as (id, name) pairs: no ORM objects per request
    readable = {lib_id: name for lib_id, name in session.execute(
        select(Library.id, Library.name).where(Library.id.in_(visible_library_ids(user))).order_by(Library.id))}
    if query.library_id:
        unknown = [i for i in query.library_id if i not in readable]
        if unknown:
            raise NotFound(f"library {unknown[0]} not found")
        readable = {i: readable[i] for i in query.library_id}
    if query.playlist_id is not None:
        get_playlist(session=session, user=user, playlist_id=query.playlist_id)  # yours, or NotFound
    return Scope(libraries=readable, playlist_id=query.playlist_id, in_playlist=query.in_playlist)


def to_item(track: Track | Row, library_name: str, query_terms: list[str]) -> SearchItem:
    """A track (or a row of ITEM_COLUMNS) as a search item."""
    marks = {name: highlight(getattr(track, name), query_terms) for name in ("title", "artist", "album")}
    return SearchItem.model_construct(  # trusted columns: no validation pass per row
        id=track.id, track_id=track.track_id, title=track.title, artist=track.artist, album=track.album,
        album_id=track.album_id, year=track.year, position=track.position, duration_seconds=track.duration_seconds,
        bpm=track.bpm, key=track.key, camelot=track.camelot, energy=track.energy, danceability=track.danceability,
        rating=track.star_rating, genres=list(track.genres or []), styles=list(track.styles or []),
        library_id=track.library_id, library=library_name, has_audio=track.has_audio,
        analyzed=track.analyzed, highlight={k: v for k, v in marks.items() if v},
    )


def search_tracks(*, session: Session, user: User, query: SearchQuery, backend: SearchBackend | None = None
                  ) -> SearchResult:
    if query.mode != "text":  # vibe search: embeddings (services/domain/embeddings/vibe.py)
        from services.domain.embeddings.vibe import vibe_search

        return vibe_search(session=session, user=user, query=query, backend=backend)
    started = time.perf_counter()
    scope = scope_for(session=session, user=user, query=query)
    backend = backend or current_backend()
    hits = backend.search(session=session, query=query, scope=scope)
    rows = hits.rows
    if rows is None:  # only the columns an item shows (no ORM objects, no analysis JSON)
        rows = {r.id: r for r in session.execute(select(*ITEM_COLUMNS).where(Track.id.in_(hits.ids)))} \
            if hits.ids else {}
    query_terms = terms(query.q)
    items = [to_item(rows[i], scope.libraries.get(rows[i].library_id, ""), query_terms) for i in hits.ids if i in rows]
    for facet in hits.facets.library:
        facet.label = scope.libraries.get(int(facet.value))
    return SearchResult(items=items, total=hits.total, facets=hits.facets, backend=backend.name,
                        took_ms=round((time.perf_counter() - started) * 1000, 2))


# --- operating the index --------------------------------------------------------------------------


class SearchStatus(BaseModel):
    backend: str
    tracks: int = Field(description="live tracks in Postgres (the source of truth)")
    documents: int | None = Field(None, description="documents in the MeiliSearch index")
    drift: int | None = Field(None, description="documents - tracks: what a sync or rebuild will fix")
    pending_changes: int = Field(0, description="changed tracks waiting for the index")
    last_rebuild_at: datetime | None = None


def search_status(*, session: Session) -> SearchStatus:
    tracks = session.scalar(select(func.count()).select_from(Track).where(Track.deleted_at.is_(None))) or 0
    state = session.get(SearchState, 1)
    if backend_name() != "meilisearch":
        return SearchStatus(backend="postgres", tracks=tracks)
    from services.domain.search.meili import MeiliBackend, pending_changes

    try:
        documents = MeiliBackend().documents()
    except Exception as exc:  # noqa: BLE001 - any client failure means "cannot tell"
        raise Unavailable(f"MeiliSearch: {exc}", code="search_unavailable") from None
    return SearchStatus(backend="meilisearch", tracks=tracks, documents=documents, drift=documents - tracks,
                        pending_changes=pending_changes(session),
                        last_rebuild_at=state.last_rebuild_at if state else None)


def request_rebuild() -> str:
    """Queue a rebuild of the MeiliSearch index (built aside, then swapped in); the job id."""
    if backend_name() != "meilisearch":
        raise Refused("the postgres backend is indexed by the database on every write: nothing to rebuild",
                      code="nothing_to_rebuild")
    from services.domain.search.jobs import enqueue_rebuild

    return enqueue_rebuild()


def prepare_search(*, session: Session) -> None:
    """Start-up: with MeiliSearch, the index and its settings exist, the outbox records changes and a
    drain is planned; without it, the outbox is off and empty."""
    if backend_name() == "meilisearch":
        from services.domain.search.jobs import schedule_index_sync
        from services.domain.search.meili import MeiliBackend

        MeiliBackend().prepare(session=session)
        session.commit()
        schedule_index_sync()
    else:
        set_outbox(session=session, enabled=False)
        session.execute(delete(SearchOutbox))


def set_outbox(*, session: Session, enabled: bool) -> None:
    """Whether the tracks trigger records changed tracks for the MeiliSearch index (the one state row)."""
    stmt = pg_insert(SearchState).values(id=1, outbox_enabled=enabled)
    session.execute(stmt.on_conflict_do_update(index_elements=[SearchState.id], set_={"outbox_enabled": enabled}))
