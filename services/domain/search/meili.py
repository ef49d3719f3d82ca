"""The MeiliSearch backend, used when MEILISEARCH_HOST is set (official `meilisearch` client).

Postgres stays the source of truth: documents are denormalized from `tracks`; a trigger records
every changed track in `search_outbox` and a worker job (`jobs.sync_search_index_job`) pushes
those to the index. `rebuild()` builds a fresh index and swaps it in, so searches never see a
half-built one. Highlights are made by `text.highlight`, as for Postgres, so both answer alike.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

import meilisearch
from meilisearch.errors import MeilisearchApiError
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from services.common.models import PlaylistTrack, SearchOutbox, SearchState, Track
from services.common.settings import get_settings
from services.domain.errors import Unavailable
from services.domain.search.base import Hits, Scope, SearchBackend, register
from services.domain.search.models import BPM_BUCKET, Facets, SearchQuery, facets_from_counts
from services.domain.search.service import set_outbox
from services.domain.search.text import fold

INDEX = "tracks"
BATCH = 2000
TASK_TIMEOUT_MS = 120_000
FACETS = {"genres": "genres", "styles": "styles", "camelot": "camelot", "bpm": "bpm_bucket",
          "energy": "energy_bucket", "library": "library_id"}
FLAGS = ("has_audio", "analyzed", "has_apple", "has_spotify", "has_youtube", "has_soundcloud")
SORTS = {
    "bpm": ["bpm"], "key": ["camelot_number", "camelot_letter"], "energy": ["energy"], "year": ["year"],
    "rating": ["rating"], "added": ["added"], "title": ["title_sort"], "artist": ["artist_sort", "title_sort"],
}
INDEX_SETTINGS: dict[str, Any] = {
    # Title and artist above album above genres, styles, tags and notes, as in the tsvector weights.
    "searchableAttributes": ["title", "artist", "album", "genres", "styles", "tags", "notes"],
    "filterableAttributes": ["id", "library_id", "bpm", "camelot", "energy", "danceability", "rating", "genres",
                             "styles", "year", *FLAGS],
    "sortableAttributes": ["id", "bpm", "camelot_number", "camelot_letter", "energy", "year", "rating", "added",
                           "title_sort", "artist_sort"],
    "rankingRules": ["words", "typo", "proximity", "attribute", "sort", "exactness"],
    # One typo from 3 letters ("aphex twn"), two from 7, as the Postgres backend tolerates.
    "typoTolerance": {"enabled": True, "minWordSizeForTypos": {"oneTypo": 3, "twoTypos": 7}},
    "faceting": {"maxValuesPerFacet": 200},
    "pagination": {"maxTotalHits": 1_000_000},
}


def client() -> meilisearch.Client:
    settings = get_settings()
    key = settings.meilisearch_api_key.get_secret_value() if settings.meilisearch_api_key else None
    return meilisearch.Client(settings.meilisearch_host, key, timeout=30)


def document(track: Track) -> dict[str, Any]:
    number = int(track.camelot[:-1]) if track.camelot and track.camelot[:-1].isdigit() else None
    return {
        "id": track.id, "library_id": track.library_id, "title": track.title, "artist": track.artist,
        "album": track.album, "genres": list(track.genres or []), "styles": list(track.styles or []),
        "tags": list(track.tags or []), "notes": track.notes, "bpm": track.bpm, "camelot": track.camelot,
        "camelot_number": number, "camelot_letter": track.camelot[-1] if number else None,
        "energy": track.energy, "danceability": track.danceability, "rating": track.star_rating,
        "year": track.year, "added": track.created_at.timestamp() if track.created_at else None,
        "title_sort": fold(track.title), "artist_sort": fold(track.artist) if track.artist else None,
        "bpm_bucket": str(int(track.bpm // BPM_BUCKET * BPM_BUCKET)) if track.bpm else None,
        "energy_bucket": str(int(round(track.energy))) if track.energy is not None else None,
        "has_audio": track.has_audio, "analyzed": track.analyzed,
        "has_apple": track.apple_music_url is not None, "has_spotify": track.spotify_url is not None,
        "has_youtube": track.youtube_url is not None, "has_soundcloud": track.soundcloud_url is not None,
    }


def _quote(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)  # a double-quoted string with \" and \\ escaped


def filter_expression(query: SearchQuery, scope: Scope, playlist_pks: list[int] | None = None) -> str:
    """The query's filters in MeiliSearch's filter syntax (values quoted, never spliced raw)."""
    parts = [f"library_id IN [{', '.join(str(int(i)) for i in scope.libraries)}]"]
    if ranges := query.bpm_ranges():
        parts.append("(" + " OR ".join(f"bpm {float(lo)} TO {float(hi)}" for lo, hi in ranges) + ")")
    codes = query.key_codes()
    if codes is not None:
        parts.append(f"camelot IN [{', '.join(_quote(c) for c in codes)}]" if codes else "id = -1")
    for name, op, value in (("energy", ">=", query.energy_min), ("energy", "<=", query.energy_max),
                            ("danceability", ">=", query.danceability_min), ("rating", ">=", query.rating_min),
                            ("year", ">=", query.year_min), ("year", "<=", query.year_max)):
        if value is not None:
            parts.append(f"{name} {op} {value}")
    for name, wanted in (("genres", query.genre), ("styles", query.style)):
        if wanted and query.match == "all":
            parts.extend(f"{name} = {_quote(w)}" for w in wanted)
        elif wanted:
            parts.append(f"{name} IN [{', '.join(_quote(w) for w in wanted)}]")
    for name in FLAGS:
        value = getattr(query, name)
        if value is not None:
            parts.append(f"{name} = {'true' if value else 'false'}")
    if playlist_pks is not None:
        ids = ", ".join(str(int(i)) for i in playlist_pks)
        if query.in_playlist:
            parts.append(f"id IN [{ids}]" if ids else "id = -1")
        elif ids:
            parts.append(f"id NOT IN [{ids}]")
    return " AND ".join(parts)


def sort_expression(query: SearchQuery) -> list[str] | None:
    if query.sort_field == "relevance":
        return None if query.q else ["added:desc", "id:asc"]
    direction = "desc" if query.descending else "asc"
    return [f"{name}:{direction}" for name in SORTS[query.sort_field]] + ["id:asc"]


def facets_from(distribution: dict[str, dict[str, int]]) -> Facets:
    return facets_from_counts({facet: list((distribution.get(attribute) or {}).items())
                               for facet, attribute in FACETS.items()})


def _wait(meili: meilisearch.Client, task_uid: int) -> None:
    task = meili.wait_for_task(task_uid, timeout_in_ms=TASK_TIMEOUT_MS, interval_in_ms=100)
    if task.status != "succeeded":
        raise Unavailable(f"MeiliSearch task {task_uid} {task.status}: {task.error}", code="search_index_error")


def _batches(rows: Iterable[Any], size: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


@register
class MeiliBackend(SearchBackend):
    name = "meilisearch"

    def __init__(self, meili: meilisearch.Client | None = None) -> None:
        self.meili = meili or client()

    def search(self, *, session: Session, query: SearchQuery, scope: Scope) -> Hits:
        if not scope.libraries:
            return Hits(ids=[], total=0)
        pks = None
        if scope.playlist_id is not None:
            pks = list(session.scalars(select(PlaylistTrack.track_pk).where(
                PlaylistTrack.playlist_id == scope.playlist_id)))
        params: dict[str, Any] = {"filter": filter_expression(query, scope, pks), "facets": list(FACETS.values()),
                                  "attributesToRetrieve": ["id"]}
        if sort := sort_expression(query):
            params["sort"] = sort
        if query.offset % query.limit == 0:  # page mode gives an exact total
            params.update(page=query.offset // query.limit + 1, hitsPerPage=query.limit)
        else:
            params.update(offset=query.offset, limit=query.limit)
        try:
            answer = self.meili.index(INDEX).search(query.q, params)
        except (MeilisearchApiError, meilisearch.errors.MeilisearchCommunicationError) as exc:
            raise Unavailable(f"MeiliSearch: {exc}", code="search_unavailable") from None
        total = answer.get("totalHits", answer.get("estimatedTotalHits", 0))
        return Hits(ids=[int(h["id"]) for h in answer["hits"]], total=int(total),
                    facets=facets_from(answer.get("facetDistribution") or {}))

    # --- keeping the index in step with Postgres ----------------------------------------------------

    def prepare(self, *, session: Session) -> None:
        """Start-up: the index exists with our settings, and the outbox records changes."""
        try:
            self.meili.get_index(INDEX)
        except MeilisearchApiError:
            _wait(self.meili, self.meili.create_index(INDEX, {"primaryKey": "id"}).task_uid)
        _wait(self.meili, self.meili.index(INDEX).update_settings(INDEX_SETTINGS).task_uid)
        set_outbox(session=session, enabled=True)

    def apply(self, *, session: Session, track_pks: list[int]) -> None:
        """Push these tracks' current state: live ones upserted, deleted or missing ones removed."""
        live = {t.id: t for t in session.scalars(select(Track).where(Track.id.in_(track_pks),
                                                                      Track.deleted_at.is_(None)))}
        index = self.meili.index(INDEX)
        if live:
            _wait(self.meili, index.add_documents([document(t) for t in live.values()], primary_key="id").task_uid)
        gone = [str(pk) for pk in track_pks if pk not in live]
        if gone:
            _wait(self.meili, index.delete_documents(gone).task_uid)

    def rebuild(self, *, session: Session, wait: bool = True) -> int:
        """Build a new index from Postgres, then swap it in (no downtime); returns documents written."""
        self.prepare(session=session)
        session.commit()  # the outbox records from here on: nothing changed during the build is lost
        fresh = f"{INDEX}_build_{int(time.time() * 1000)}"
        _wait(self.meili, self.meili.create_index(fresh, {"primaryKey": "id"}).task_uid)
        target = self.meili.index(fresh)
        _wait(self.meili, target.update_settings(INDEX_SETTINGS).task_uid)
        written = 0
        rows = session.scalars(select(Track).where(Track.deleted_at.is_(None)).order_by(Track.id)
                               .execution_options(yield_per=BATCH))
        for batch in _batches(rows, BATCH):
            task = target.add_documents([document(t) for t in batch], primary_key="id")
            written += len(batch)
            if wait:
                _wait(self.meili, task.task_uid)
        _wait(self.meili, self.meili.swap_indexes([{"indexes": [INDEX, fresh]}]).task_uid)
        _wait(self.meili, self.meili.delete_index(fresh).task_uid)  # now holds the old documents
        session.execute(update(SearchState).where(SearchState.id == 1).values(last_rebuild_at=datetime.now(UTC)))
        session.commit()
        return written

    def documents(self) -> int:
        return int(self.meili.index(INDEX).get_stats().number_of_documents)

    def drain_outbox(self, *, session: Session, limit: int = BATCH) -> int:
        """Apply the oldest queued changes; returns how many tracks were pushed."""
        rows = session.execute(select(SearchOutbox.track_pk, SearchOutbox.queued_at)
                               .order_by(SearchOutbox.queued_at).limit(limit)).all()
        if not rows:
            return 0
        self.apply(session=session, track_pks=[pk for pk, _ in rows])
        for pk, queued_at in rows:  # a track changed again meanwhile keeps its newer entry
            session.query(SearchOutbox).filter(SearchOutbox.track_pk == pk,
                                               SearchOutbox.queued_at == queued_at).delete()
        session.commit()
        return len(rows)


def pending_changes(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(SearchOutbox)) or 0
