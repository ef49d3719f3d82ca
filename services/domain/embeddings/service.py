"""Track embeddings: which provider is active, computing and storing vectors, status, backfill.

Two kinds per track in `track_embeddings` (unique on track_pk, kind, model):
- `text` — the active provider's vector of `features.text_source` (model = the provider's model string);
- `audio` — `features.audio_vector` of the analysis (model = `features.AUDIO_MODEL`), only for analysed tracks.
`source_hash` is the sha256 of what the vector was made from (the text, or the rounded feature vector), so
an unchanged track is never embedded again and a changed one always is. Rows of other models are kept
(switching back costs nothing) but never compared: readers filter on `model` (`text_model()` /
`AUDIO_MODEL`).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import delete, func, select, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session, selectinload, undefer

from services.common.models import Track, TrackEmbedding
from services.common.settings import Settings, get_settings
from services.domain.embeddings.features import AUDIO_MODEL, audio_vector, text_source
from services.domain.embeddings.providers import EmbeddingProvider, LocalProvider, get_provider
from services.domain.errors import Invalid, Refused
from services.domain.lru import LruCache

log = logging.getLogger(__name__)

TEXT_KIND = "text"
AUDIO_KIND = "audio"
KINDS = (TEXT_KIND, AUDIO_KIND)
BATCH = 256  # tracks per embed_tracks call in a backfill
QUERY_MAX = 1000  # characters of a query text
QUERY_CACHE_SIZE = 256  # query vectors kept (QUERY_CACHE)


def provider_name(settings: Settings | None = None) -> str:
    """`local` or `openai`, from EMBEDDINGS_PROVIDER (auto = openai when OPENAI_API_KEY is set)."""
    settings = settings or get_settings()
    choice = settings.embeddings_provider
    has_key = bool(settings.openai_api_key and settings.openai_api_key.get_secret_value().strip())
    if choice == "openai" and not has_key:
        raise Refused("EMBEDDINGS_PROVIDER=openai needs OPENAI_API_KEY", code="source_not_configured")
    if choice == "auto":
        return "openai" if has_key else "local"
    return choice


def active_provider() -> EmbeddingProvider:
    """The provider new text embeddings and queries use (cheap: the local model loads on first use)."""
    return get_provider(provider_name())


def text_model() -> str:
    """The model string of the active provider: what text-embedding queries must filter on."""
    return active_provider().model


# The last QUERY_CACHE_SIZE query vectors per (model, text): paging, switching mode or typing a query back
# does not embed it again (the local model's few milliseconds; an OpenAI request).
QUERY_CACHE = LruCache(size=QUERY_CACHE_SIZE)


def embed_query(text: str, *, provider: EmbeddingProvider | None = None) -> list[float]:
    """The active provider's vector of a search text (compare with rows whose model is `text_model()`);
    the active provider's are kept in QUERY_CACHE."""
    text = " ".join((text or "").split())[:QUERY_MAX]
    if not text:
        raise Invalid("the search text is empty", code="empty_query")
    if provider is not None:
        return provider.embed([text])[0]
    provider = active_provider()
    key = (provider.model, text)
    cached = QUERY_CACHE.get(key)
    if cached is None:
        cached = tuple(provider.embed([text])[0])  # kept immutable: callers get a list of their own
        QUERY_CACHE.put(key, cached)
    return list(cached)


def source_hash(source: str | list[float]) -> str:
    if isinstance(source, str):
        data = source.encode()
    else:
        data = json.dumps([round(v, 6) for v in source], separators=(",", ":")).encode()
    return hashlib.sha256(data).hexdigest()


def _existing(session: Session, track_pks: list[int], pairs: list[tuple[str, str]]) -> dict[tuple[int, str], str]:
    rows = session.execute(
        select(TrackEmbedding.track_pk, TrackEmbedding.kind, TrackEmbedding.source_hash)
        .where(TrackEmbedding.track_pk.in_(track_pks),
               tuple_(TrackEmbedding.kind, TrackEmbedding.model).in_(pairs)))
    return {(pk, kind): digest for pk, kind, digest in rows}


def _upsert(session: Session, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    stmt = insert(TrackEmbedding).values(rows)
    stmt = stmt.on_conflict_do_update(
        constraint="uq_embedding_track_kind_model",
        set_={"embedding": stmt.excluded.embedding, "source_hash": stmt.excluded.source_hash,
              "created_at": func.now()})
    session.execute(stmt)


def embed_tracks(session: Session, *, track_pks: list[int], provider: EmbeddingProvider | None = None) -> dict:
    """Compute and store the text and audio embeddings of these tracks (deleted or unknown ones are
    skipped), leaving alone every row whose source is unchanged. The caller commits.

    Returns {"model", "audio_model", "tracks", "text": {"embedded", "unchanged"},
    "audio": {"embedded", "unchanged", "removed", "unanalysed"}}."""
    provider = provider or active_provider()
    ids = list(dict.fromkeys(int(pk) for pk in track_pks))
    result: dict[str, Any] = {
        "model": provider.model, "audio_model": AUDIO_MODEL, "tracks": 0,
        "text": {"embedded": 0, "unchanged": 0},
        "audio": {"embedded": 0, "unchanged": 0, "removed": 0, "unanalysed": 0},
    }
    if not ids:
        return result
    tracks = list(session.scalars(select(Track).options(selectinload(Track.album_ref), undefer(Track.analysis))
                                  .where(Track.id.in_(ids), Track.deleted_at.is_(None)).order_by(Track.id)))
    result["tracks"] = len(tracks)
    if not tracks:
        return result
    existing = _existing(session, [t.id for t in tracks], [(TEXT_KIND, provider.model), (AUDIO_KIND, AUDIO_MODEL)])

    # text: embed only what changed
    todo: list[tuple[int, str, str]] = []
    for track in tracks:
        source = text_source(track, track.album_ref)
        digest = source_hash(source)
        if existing.get((track.id, TEXT_KIND)) == digest:
            result["text"]["unchanged"] += 1
        else:
            todo.append((track.id, source, digest))
    if todo:
        vectors = provider.embed([source for _, source, _ in todo])
        _upsert(session, [{"track_pk": pk, "kind": TEXT_KIND, "model": provider.model, "embedding": vector,
                           "source_hash": digest} for (pk, _, digest), vector in zip(todo, vectors, strict=True)])
        result["text"]["embedded"] = len(todo)

    # audio: the features of analysed tracks; an un-analysed track loses a stale vector
    rows, gone = [], []
    for track in tracks:
        vector = audio_vector(track)
        if vector is None:
            result["audio"]["unanalysed"] += 1
            if (track.id, AUDIO_KIND) in existing:
                gone.append(track.id)
            continue
        digest = source_hash(vector)
        if existing.get((track.id, AUDIO_KIND)) == digest:
            result["audio"]["unchanged"] += 1
            continue
        rows.append({"track_pk": track.id, "kind": AUDIO_KIND, "model": AUDIO_MODEL, "embedding": vector,
                     "source_hash": digest})
    _upsert(session, rows)
    result["audio"]["embedded"] = len(rows)
    if gone:
        session.execute(delete(TrackEmbedding).where(TrackEmbedding.track_pk.in_(gone),
                                                     TrackEmbedding.kind == AUDIO_KIND,
                                                     TrackEmbedding.model == AUDIO_MODEL))
        result["audio"]["removed"] = len(gone)
    session.flush()
    return result


def _live_tracks(library_id: int | None):
    stmt = select(Track.id).where(Track.deleted_at.is_(None))
    return stmt.where(Track.library_id == library_id) if library_id is not None else stmt


def embedding_status(session: Session, *, library_id: int | None = None) -> dict:
    """How many live tracks have each kind of embedding for the active models, and every (kind, model)
    stored: {"tracks", "analysed", "text_model", "audio_model", "text": {"embedded", "missing"},
    "audio": {"embedded", "missing"}, "stored": [{"kind", "model", "count"}], "complete"}."""
    live = _live_tracks(library_id).subquery()
    total = session.scalar(select(func.count()).select_from(live)) or 0
    analysed = session.scalar(select(func.count()).select_from(Track).where(
        Track.id.in_(select(live.c.id)), Track.analyzed_at.is_not(None) | Track.bpm.is_not(None))) or 0
    counts = session.execute(
        select(TrackEmbedding.kind, TrackEmbedding.model, func.count())
        .where(TrackEmbedding.track_pk.in_(select(live.c.id)))
        .group_by(TrackEmbedding.kind, TrackEmbedding.model).order_by(TrackEmbedding.kind, TrackEmbedding.model))
    stored = [{"kind": kind, "model": model, "count": count} for kind, model, count in counts]
    model = text_model()
    by = {(s["kind"], s["model"]): s["count"] for s in stored}
    text_done, audio_done = by.get((TEXT_KIND, model), 0), by.get((AUDIO_KIND, AUDIO_MODEL), 0)
    return {
        "library_id": library_id, "tracks": total, "analysed": analysed,
        "text_model": model, "audio_model": AUDIO_MODEL,
        "text": {"embedded": text_done, "missing": max(0, total - text_done)},
        "audio": {"embedded": audio_done, "missing": max(0, analysed - audio_done)},
        "stored": stored,
        "complete": text_done >= total and audio_done >= analysed,
    }


def tracks_missing(session: Session, *, library_id: int | None = None, model: str | None = None) -> list[int]:
    """Live tracks without a text embedding of `model` (default: the active one)."""
    model = model or text_model()
    have = select(TrackEmbedding.track_pk).where(TrackEmbedding.kind == TEXT_KIND, TrackEmbedding.model == model)
    return list(session.scalars(_live_tracks(library_id).where(Track.id.not_in(have)).order_by(Track.id)))


def tracks_needing_embedding(session: Session, *, library_id: int | None = None, batch_size: int = 1000,
                             model: str | None = None) -> list[int]:
    """Live tracks `embed_tracks` would (re)compute: a text embedding of `model` (default: the active one)
    missing or stale (its `source_hash` is not the hash of the track's current text), an analysed track's
    audio embedding missing or stale, or an un-analysed track still holding one. Reads only: the nightly
    repair queues these for `embed_soon`."""
    model = model or text_model()
    ids = list(session.scalars(_live_tracks(library_id).order_by(Track.id)))
    found: list[int] = []
    for chunk in _chunks(ids, batch_size):
        tracks = session.scalars(select(Track).options(selectinload(Track.album_ref), undefer(Track.analysis))
                                 .where(Track.id.in_(chunk)).order_by(Track.id))
        existing = _existing(session, chunk, [(TEXT_KIND, model), (AUDIO_KIND, AUDIO_MODEL)])
        for track in tracks:
            vector = audio_vector(track)
            audio_stale = ((track.id, AUDIO_KIND) in existing if vector is None
                           else existing.get((track.id, AUDIO_KIND)) != source_hash(vector))
            text_stale = existing.get((track.id, TEXT_KIND)) != source_hash(text_source(track, track.album_ref))
            if text_stale or audio_stale:
                found.append(track.id)
    return found


def _chunks(ids: list[int], size: int) -> Iterable[list[int]]:
    for start in range(0, len(ids), size):
        yield ids[start:start + size]


def backfill(session: Session, *, library_id: int | None = None, batch_size: int = BATCH,
             progress: Callable[[int, int], None] | None = None,
             provider: EmbeddingProvider | None = None) -> dict:
    """Embed every live track (of one library, or all), `batch_size` tracks at a time, committing after
    each batch so a killed run keeps what it did. Unchanged tracks cost a hash each. `progress(done, total)`
    is called after each batch. Returns the summed counts of `embed_tracks`."""
    if batch_size < 1:
        raise Invalid("batch_size must be at least 1")
    provider = provider or active_provider()
    ids = list(session.scalars(_live_tracks(library_id).order_by(Track.id)))
    totals: dict[str, Any] = {"model": provider.model, "audio_model": AUDIO_MODEL, "tracks": 0,
                              "text": {"embedded": 0, "unchanged": 0},
                              "audio": {"embedded": 0, "unchanged": 0, "removed": 0, "unanalysed": 0}}
    done = 0
    if progress:
        progress(0, len(ids))
    for chunk in _chunks(ids, batch_size):
        part = embed_tracks(session, track_pks=chunk, provider=provider)
        session.commit()
        totals["tracks"] += part["tracks"]
        for kind in KINDS:
            for key, value in part[kind].items():
                totals[kind][key] += value
        done += len(chunk)
        if progress:
            progress(done, len(ids))
    return totals


def warm_up() -> None:
    """Load the local model now (a process about to embed, e.g. the worker), not on the first request."""
    provider = active_provider()
    if isinstance(provider, LocalProvider):
        provider.load()
