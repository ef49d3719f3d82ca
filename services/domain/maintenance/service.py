"""Drift repair: find what fell out of step with Postgres and queue the existing work that fixes it.

- Tempo octaves: analysed tracks whose tempo is not the octave the style rule gives for their styles now
  (analysed before the rule, or styles changed outside a sync) are set to it
  (`analysis.results.restyle_tempos`; a DJ's correction is never touched). Runs first: the embeddings
  check below then sees their changed audio vectors.
- Embeddings: live tracks whose text embedding of the active model, or audio embedding, is missing or stale
  (`embeddings.service.tracks_needing_embedding`, the same hashes `embed_tracks` compares) are queued with
  `embeddings.jobs.embed_soon` (drained in batches by the embeddings queue).
- Search (MeiliSearch only): `search.service.search_status` compares the index's documents with the live
  tracks; a drift the pending outbox cannot explain (|documents - tracks| > pending changes) queues the
  existing rebuild (`search.service.request_rebuild`: built aside, then swapped in).

Each part fails on its own (recorded in its `error`), never the other. The last run is kept in Redis
(`last_repair`), shown by `GET /api/admin/repair` and `GET /api/admin/search/status`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from pydantic import BaseModel, Field
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from services.common.db import get_redis
from services.domain.errors import DomainError

log = logging.getLogger(__name__)

LAST_KEY = "djp:repair:last"
LAST_TTL = 90 * 86400


class EmbeddingRepair(BaseModel):
    model: str | None = Field(None, description="the active text model compared against")
    tracks: int = Field(0, description="tracks whose embeddings were missing or stale")
    queued: bool = Field(False, description="whether they were queued for embedding")
    error: str | None = None


class TempoRepair(BaseModel):
    tracks: int = Field(0, description="tracks whose tempo moved to the octave their styles count it in")
    error: str | None = None


class SearchRepair(BaseModel):
    backend: str
    tracks: int | None = None
    documents: int | None = None
    drift: int | None = Field(None, description="documents - tracks when the repair looked")
    pending_changes: int | None = None
    rebuild_job_id: str | None = Field(None, description="the rebuild queued because of the drift")
    error: str | None = None


class RepairRun(BaseModel):
    ran_at: datetime
    job_id: str | None = None
    tempo: TempoRepair = Field(default_factory=TempoRepair)  # runs recorded before it have none
    embeddings: EmbeddingRepair
    search: SearchRepair

    @property
    def repaired(self) -> bool:
        return bool(self.tempo.tracks or self.embeddings.queued or self.search.rebuild_job_id)


def _default_queue(track_pks: list[int]) -> bool:
    from services.domain.embeddings.jobs import embed_soon

    return embed_soon(track_pks=track_pks)


def _default_rebuild() -> str:
    from services.domain.search.service import request_rebuild

    return request_rebuild()


def repair_tempo(*, session: Session) -> TempoRepair:
    from services.domain.analysis.results import restyle_tempos

    try:
        with session.begin_nested():
            return TempoRepair(tracks=len(restyle_tempos(conn=session)))
    except SQLAlchemyError as exc:
        log.warning("tempo octave repair failed: %s", exc)
        return TempoRepair(error=f"{type(exc).__name__}: the database refused the update")


def repair_embeddings(*, session: Session, queue: Callable[[list[int]], bool] = _default_queue) -> EmbeddingRepair:
    from services.domain.embeddings import service as embeddings

    try:
        model = embeddings.text_model()
        pks = embeddings.tracks_needing_embedding(session, model=model)
    except DomainError as exc:  # e.g. EMBEDDINGS_PROVIDER=openai without a key
        return EmbeddingRepair(error=exc.detail)
    queued = bool(pks) and queue(pks)
    return EmbeddingRepair(model=model, tracks=len(pks), queued=queued,
                           error="could not queue them (Redis)" if pks and not queued else None)


def search_drift_needs_rebuild(*, documents: int, tracks: int, pending_changes: int) -> bool:
    """A drift the outbox (changes not pushed yet) cannot explain."""
    return abs(documents - tracks) > pending_changes


def repair_search(*, session: Session, rebuild: Callable[[], str] = _default_rebuild) -> SearchRepair:
    from services.domain.search.service import backend_name, search_status

    if backend_name() != "meilisearch":
        return SearchRepair(backend=backend_name())  # Postgres indexes itself on every write
    try:
        status = search_status(session=session)
    except DomainError as exc:  # MeiliSearch unreachable
        return SearchRepair(backend="meilisearch", error=exc.detail)
    result = SearchRepair(backend=status.backend, tracks=status.tracks, documents=status.documents,
                          drift=status.drift, pending_changes=status.pending_changes)
    if status.documents is not None and search_drift_needs_rebuild(
            documents=status.documents, tracks=status.tracks, pending_changes=status.pending_changes):
        try:
            result.rebuild_job_id = rebuild()
        except DomainError as exc:
            result.error = exc.detail
    return result


def repair_drift(*, session: Session, job_id: str | None = None,
                 queue: Callable[[list[int]], bool] = _default_queue,
                 rebuild: Callable[[], str] = _default_rebuild) -> RepairRun:
    """One repair: tempo octaves, embeddings, then the search index. Recorded as the last run."""
    tempo = repair_tempo(session=session)
    run = RepairRun(ran_at=datetime.now(UTC), job_id=job_id, tempo=tempo,
                    embeddings=repair_embeddings(session=session, queue=queue),
                    search=repair_search(session=session, rebuild=rebuild))
    log.info("drift repair: %s tempo(s) moved to their styles' octave, %s track(s) queued for embedding, "
             "search drift %s%s", run.tempo.tracks, run.embeddings.tracks,
             run.search.drift, f", rebuild {run.search.rebuild_job_id}" if run.search.rebuild_job_id else "")
    record_run(run=run)
    return run


def record_run(*, run: RepairRun) -> None:
    try:
        get_redis().set(LAST_KEY, run.model_dump_json(), ex=LAST_TTL)
    except RedisError as exc:
        log.warning("could not record the drift repair: %s", exc)


def last_repair() -> RepairRun | None:
    """The last drift repair (None when none ran, or Redis cannot tell)."""
    try:
        raw = get_redis().get(LAST_KEY)
    except RedisError:
        return None
    if not raw:
        return None
    try:
        return RepairRun.model_validate(json.loads(raw))
    except ValueError:
        return None


class RepairStatus(BaseModel):
    interval_hours: float = Field(description="REPAIR_INTERVAL_HOURS (0: no scheduled repair)")
    next_run_at: datetime | None = Field(None, description="when the planned repair runs")
    last_run: RepairRun | None = Field(None, description="what the last repair found and queued")


def repair_status() -> RepairStatus:
    from services.common.settings import get_settings
    from services.domain.maintenance.jobs import next_repair_at

    return RepairStatus(interval_hours=get_settings().repair_interval_hours, next_run_at=next_repair_at(),
                        last_run=last_repair())
