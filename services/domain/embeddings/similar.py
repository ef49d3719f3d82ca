"""Similar tracks: nearest neighbours in `track_embeddings` (pgvector cosine `<=>`), blended with tempo and
harmonic compatibility, each hit with the reasons a DJ can check.

Two kinds of vectors per track: `text` (its identity: artist, title, genres, styles, tags, notes, moods) and
`audio` (analysis features). A hit's similarity is the weighted mean of the kinds both tracks have (cosine
similarity, -1..1); its score adds how well it mixes with the seed (services.common.transition's tempo and
key terms, neutral 0.5 when unknown). Vectors are only compared within one model: the active text model and
the audio feature model (`active_models`). Only libraries the user may read are searched (domain/access.py).
`rank` is shared with recommend.py (several query vectors per kind, averaged).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from pydantic import BaseModel, Field
from sqlalchemy import exists, func, or_, select
from sqlalchemy.orm import Session

from services.common.camelot import DEFAULT_COMPATIBLE, CamelotKey, KeyParseError, compatible_keys, parse_key
from services.common.models import Library, Track, TrackEmbedding, User
from services.common.transition import TransitionOptions, key_score, tempo_match
from services.domain.access import readable_library, visible_library_ids
from services.domain.errors import Conflict, Invalid
from services.domain.search.models import SearchItem
from services.domain.tracks.service import get_track

KINDS = ("text", "audio")
# Weight of each kind in a hit's similarity: chosen with bench/bench_similarity.py on its tuning seed
# (docs/benchmarks.md); a track without text metadata worth the name still has its audio vector.
WEIGHTS = {"text": 0.9, "audio": 0.1}
# Share of tempo + key compatibility in a hit's score (the rest: similarity). It costs a little hit rate on
# the generated set (whose neighbours ignore key) and keeps mixable tracks first among equally similar ones.
MIX_WEIGHT = 0.1
CANDIDATES = 200  # nearest neighbours fetched per query vector before re-ranking
EF_SEARCH = 200  # HNSW candidate list while searching (pgvector's default 40 misses neighbours under filters)
PITCH_RANGE_PCT = TransitionOptions().pitch_range_pct  # "mixable tempo": within the set builder's pitch range
MAX_LIMIT = 100
BACKFILL_HINT = "run `djp embeddings backfill`"


class SimilarReasons(BaseModel):
    similarity: float = Field(description="blended cosine similarity of the kinds both tracks have (-1..1)")
    text_similarity: float | None = Field(None, description="of the text (identity) embeddings")
    audio_similarity: float | None = Field(None, description="of the audio-feature vectors")
    bpm_delta: float | None = Field(None, description="effective BPM step from the seed (after half/double time)")
    tempo: str | None = Field(None, description="normal, half or double time; None when a BPM is unknown")
    key_move: str | None = Field(None, description="same, adjacent, relative, diagonal, …, clash; None when unknown")
    shared: list[str] = Field(default_factory=list, description="styles, tags and genres both tracks have")


class SimilarHit(BaseModel):
    score: float = Field(description="similarity blended with tempo and key compatibility (higher is better)")
    track: SearchItem
    reasons: SimilarReasons


class SimilarResult(BaseModel):
    track_pk: int
    models: dict[str, str] = Field(description="kind -> model of the vectors compared")
    compatible: bool = Field(description="only tracks that mix with the seed (tempo within range, key compatible)")
    items: list[SimilarHit]


def active_models() -> dict[str, str]:
    """kind -> model string of the vectors to compare (the active text provider's, the audio features')."""
    from services.domain.embeddings import features, service

    return {"text": service.text_model(), "audio": features.AUDIO_MODEL}


# --- building blocks (shared with recommend.py and vibe.py) ---------------------------------------


def library_scope(*, session: Session, user: User, library_ids: Sequence[int] = ()) -> dict[int, str]:
    """id -> name of the libraries to search: every readable one, or those asked (NotFound otherwise)."""
    if library_ids:
        return {i: readable_library(session=session, user=user, library_id=i).name for i in dict.fromkeys(library_ids)}
    return dict(session.execute(select(Library.id, Library.name).where(Library.id.in_(visible_library_ids(user)))
                                .order_by(Library.id)).all())


def vectors_of(session: Session, track_pks: Iterable[int], *, kind: str, model: str) -> dict[int, np.ndarray]:
    pks = list(track_pks)
    if not pks:
        return {}
    rows = session.execute(select(TrackEmbedding.track_pk, TrackEmbedding.embedding).where(
        TrackEmbedding.track_pk.in_(pks), TrackEmbedding.kind == kind, TrackEmbedding.model == model))
    return {pk: np.asarray(vec, dtype=np.float32) for pk, vec in rows}


def has_embeddings(session: Session, *, libraries: Iterable[int], kind: str, model: str) -> bool:
    """Whether any live track of these libraries has a vector of this kind and model."""
    return bool(session.scalar(select(exists().where(
        TrackEmbedding.kind == kind, TrackEmbedding.model == model, TrackEmbedding.track_pk == Track.id,
        Track.library_id.in_(list(libraries)), Track.deleted_at.is_(None)))))


def embeddings_missing(models: dict[str, str], what: str = "") -> Conflict:
    names = ", ".join(f"{kind} model {model}" for kind, model in models.items())
    where = f" for {what}" if what else ""
    return Conflict(f"embeddings have not been computed yet{where} ({names}): {BACKFILL_HINT}",
                    code="embeddings_missing")


def set_ef_search(session: Session, value: int = EF_SEARCH) -> None:
    """HNSW candidate list size for this transaction (filters drop index candidates: search wider)."""
    session.execute(select(func.set_config("hnsw.ef_search", str(max(40, min(1000, value))), True)))


def nearest(session: Session, *, kind: str, model: str, vector: Any, conditions: Sequence, k: int
            ) -> dict[int, float]:
    """track_pk -> cosine similarity of the k nearest tracks (that meet `conditions` on Track)."""
    distance = TrackEmbedding.embedding.cosine_distance(vector)
    rows = session.execute(
        select(TrackEmbedding.track_pk, distance).join(Track, Track.id == TrackEmbedding.track_pk)
        .where(TrackEmbedding.kind == kind, TrackEmbedding.model == model, *conditions)
        .order_by(distance).limit(k))
    return {pk: 1.0 - float(d) for pk, d in rows}


def similarities(session: Session, *, kind: str, model: str, vector: Any, track_pks: Iterable[int]
                 ) -> dict[int, float]:
    """track_pk -> cosine similarity to `vector`, exactly, for the given tracks that have a vector."""
    pks = list(track_pks)
    if not pks:
        return {}
    distance = TrackEmbedding.embedding.cosine_distance(vector)
    rows = session.execute(select(TrackEmbedding.track_pk, distance).where(
        TrackEmbedding.kind == kind, TrackEmbedding.model == model, TrackEmbedding.track_pk.in_(pks)))
    return {pk: 1.0 - float(d) for pk, d in rows}


def camelot_of(track: Track) -> CamelotKey | None:
    if not track.camelot:
        return None
    try:
        return parse_key(track.camelot)
    except KeyParseError:
        return None


def compatible_conditions(anchor: Track) -> list:
    """SQL conditions for tracks that mix with `anchor` on what it has: BPM within the pitch range (half and
    double time too), key the same, adjacent or relative. Nothing known about the anchor: no condition."""
    conds = []
    if anchor.bpm and anchor.bpm > 0:
        p = PITCH_RANGE_PCT / 100.0
        conds.append(or_(*(Track.bpm.between(anchor.bpm * (1 - p) / f, anchor.bpm * (1 + p) / f)
                           for f in (1.0, 2.0, 0.5))))
    key = camelot_of(anchor)
    if key is not None:
        conds.append(Track.camelot.in_([str(k) for k in compatible_keys(key, DEFAULT_COMPATIBLE)]))
    return conds


def shared_tags(a: Track, b: Track) -> list[str]:
    """Styles, tags and genres of `a` that `b` has too (case-insensitive): the most specific first, in a's order."""
    theirs = {v.casefold() for v in [*(b.styles or []), *(b.tags or []), *(b.genres or [])]}
    mine = dict.fromkeys(v for v in [*(a.styles or []), *(a.tags or []), *(a.genres or [])] if v)
    return [v for v in mine if v.casefold() in theirs]


def blend(sims: dict[str, float | None]) -> float | None:
    known = {kind: s for kind, s in sims.items() if s is not None}
    if not known:
        return None
    total = sum(WEIGHTS.get(kind, 0.0) for kind in known) or float(len(known))
    return sum(WEIGHTS.get(kind, 1.0) * s for kind, s in known.items()) / total


def describe(anchor: Track, candidate: Track, sims: dict[str, float | None]) -> tuple[float, SimilarReasons, bool]:
    """(score, reasons, mixes) of `candidate` after/next to `anchor`. `mixes`: tempo within the pitch range and
    a compatible key, each where both are known."""
    similarity = blend(sims) or 0.0
    tempo = tempo_match(anchor.bpm, candidate.bpm, pitch_range_pct=PITCH_RANGE_PCT)
    k_raw, move = key_score(camelot_of(anchor), camelot_of(candidate))
    score = (1 - MIX_WEIGHT) * similarity + MIX_WEIGHT * (tempo.score + k_raw) / 2
    mixes = (tempo.mode == "n/a" or tempo.score > 0) and (move is None or move in DEFAULT_COMPATIBLE)
    reasons = SimilarReasons(
        similarity=round(similarity, 3),
        text_similarity=None if sims.get("text") is None else round(sims["text"], 3),
        audio_similarity=None if sims.get("audio") is None else round(sims["audio"], 3),
        bpm_delta=None if tempo.bpm_delta is None else round(tempo.bpm_delta, 1),
        tempo=None if tempo.mode == "n/a" else tempo.mode,
        key_move=None if move is None else move.value,
        shared=shared_tags(anchor, candidate),
    )
    return round(score, 4), reasons, mixes


def rank(session: Session, *, anchor: Track, queries: dict[str, list[Any]], models: dict[str, str],
         libraries: dict[int, str], exclude_pks: Iterable[int] = (), exclude_track_ids: Iterable[str] = (),
         compatible: bool = False, limit: int = 20) -> list[SimilarHit]:
    """The best `limit` tracks near the query vectors (kind -> vectors; a kind's similarity is the mean over
    its vectors), scored against `anchor` for tempo and key; `compatible` keeps only tracks that mix with it."""
    from services.domain.search.service import to_item  # search imports playlists; keep this module light

    if not libraries or not queries:
        return []
    conditions = [Track.library_id.in_(list(libraries)), Track.deleted_at.is_(None)]
    if excluded := list(dict.fromkeys(exclude_pks)):
        conditions.append(Track.id.not_in(excluded))
    if excluded_ids := [i for i in dict.fromkeys(exclude_track_ids) if i]:
        conditions.append(Track.track_id.not_in(excluded_ids))
    if compatible:
        conditions += compatible_conditions(anchor)
    set_ef_search(session)
    found: set[int] = set()
    for kind, vectors in queries.items():
        for vector in vectors:
            found |= set(nearest(session, kind=kind, model=models[kind], vector=vector, conditions=conditions,
                                 k=CANDIDATES))
    if not found:
        return []
    per_kind: dict[str, dict[int, float]] = {}
    for kind, vectors in queries.items():
        sums: dict[int, list[float]] = {}
        for vector in vectors:
            for pk, s in similarities(session, kind=kind, model=models[kind], vector=vector, track_pks=found).items():
                sums.setdefault(pk, []).append(s)
        per_kind[kind] = {pk: sum(v) / len(v) for pk, v in sums.items()}
    tracks = {t.id: t for t in session.scalars(select(Track).where(Track.id.in_(found)))}
    hits: list[tuple[float, int, SimilarReasons]] = []
    for pk, track in tracks.items():
        score, reasons, mixes = describe(anchor, track, {kind: per_kind[kind].get(pk) for kind in queries})
        if compatible and not mixes:
            continue
        hits.append((score, pk, reasons))
    hits.sort(key=lambda h: (-h[0], h[1]))
    return [SimilarHit(score=score, track=to_item(tracks[pk], libraries.get(tracks[pk].library_id, ""), []),
                       reasons=reasons) for score, pk, reasons in hits[:limit]]


# --- similar tracks ----------------------------------------------------------------------------------


def similar_tracks(*, session: Session, user: User, track_pk: int, limit: int = 20,
                   library_ids: Sequence[int] = (), compatible: bool = False) -> SimilarResult:
    """Tracks like this one in the libraries the user may read (or `library_ids`), best first.
    Conflict `embeddings_missing` when the track has no vector of the active models yet."""
    if not 1 <= limit <= MAX_LIMIT:
        raise Invalid(f"limit must be between 1 and {MAX_LIMIT}")
    seed = get_track(session=session, user=user, track_pk=track_pk)
    libraries = library_scope(session=session, user=user, library_ids=library_ids)
    if compatible and (not seed.bpm or camelot_of(seed) is None):
        raise Invalid("compatible=true needs the track's BPM and key: analyse it first", code="not_analysed")
    models = active_models()
    queries = {}
    for kind, model in models.items():
        vector = vectors_of(session, [seed.id], kind=kind, model=model).get(seed.id)
        if vector is not None:
            queries[kind] = [vector]
    if not queries:
        raise embeddings_missing(models, "this track")
    hits = rank(session, anchor=seed, queries=queries, models=models, libraries=libraries, exclude_pks=[seed.id],
                exclude_track_ids=[seed.track_id], compatible=compatible, limit=limit)
    return SimilarResult(track_pk=seed.id, models={k: models[k] for k in queries}, compatible=compatible,
                         items=hits)
