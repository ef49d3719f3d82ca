"""Vibe search: `GET /api/tracks/search?q=...&mode=semantic|hybrid`.

"dark rolling techno around 128 in A minor" -> BPM 125-131, key 8A, and "dark rolling techno" as the
vector query. Numbers become BPM filters ("128 bpm" ±1.5, "around 128" or a bare 128 ±3, "120-125"), keys
become Camelot filters ("A minor", "Am", "8A", Open Key "1m"), energy words energy filters ("high energy",
"peak time" >= 7, "low energy", "warm up" <= 4, "energy 8"). Filters given as parameters win over parsed ones.

* semantic: the tracks matching the filters, ranked by cosine distance of their text embedding to the
  query's (the active text model only); no words left: the filters alone (browsing order).
* hybrid: the text search's ranking (the configured backend) and the vector ranking fused by reciprocal
  rank fusion (score = sum of 1 / (RRF_K + rank)), over the top POOL of each.
"""

from __future__ import annotations

import re
import time
from dataclasses import asdict, dataclass

from pydantic import Field, ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.common.camelot import KeyParseError, parse_key
from services.common.models import Track, TrackEmbedding, User
from services.domain.embeddings.similar import embeddings_missing, has_embeddings, set_ef_search
from services.domain.errors import Invalid
from services.domain.search.base import SearchBackend
from services.domain.search.models import SearchQuery, SearchResult
from services.domain.search.text import terms

AROUND_BPM = 3.0  # "around 128", or a bare 128: 125-131
EXACT_BPM = 1.5  # "128 bpm": 126.5-129.5
BPM_RANGE = (40.0, 250.0)  # numbers outside are not tempos
HIGH_ENERGY, LOW_ENERGY = 7.0, 4.0
RRF_K = 60
POOL = 200  # hybrid: ranks fused from each list (more when paging further)
MAX_POOL = 1000

_NUM = r"(\d{2,3}(?:\.\d+)?)"
_BPM_RANGE_RE = re.compile(rf"(?<![\w.]){_NUM}\s*(?:-|–|to|\.\.)\s*{_NUM}\s*(?:bpm\b)?", re.I)
_AROUND_RE = re.compile(rf"(?:\b(?:around|about|approx(?:imately)?|circa|near|roughly|at)\s+|~\s*){_NUM}"
                        rf"\s*(?:bpm\b)?(?![\w.])", re.I)
_BPM_RE = re.compile(rf"(?<![\w.]){_NUM}\s*bpm\b", re.I)
_BARE_RE = re.compile(r"(?<![\w.#])(\d{2,3})(?![\w.])")
_IN = r"(?:\b(?:in|key(?:\s+of)?)\s+)?"
_KEY_RES = [
    re.compile(rf"{_IN}\b([A-Ga-g])\s?([#♯b♭]|\s?sharp|\s?flat)?\s*(minor|major|min|maj|moll|dur)\b", re.I),
    re.compile(rf"{_IN}\b([A-G])([#♯b♭]?)(m)(?![\w#])"),  # Am, F#m, Ebm (upper-case note: "am" is a word)
    re.compile(rf"{_IN}\b((?:1[0-2]|0?[1-9])[ABab])\b"),  # Camelot 8A
    re.compile(rf"{_IN}\b((?:1[0-2]|[1-9])[dm])\b"),  # Open Key 1m
]
_ENERGY_RES = [
    (re.compile(r"\benergy\s*(?:level\s*)?(10|[1-9])\b", re.I), None),
    (re.compile(r"\b(?:high|peak)[\s-]?(?:energy|time)\b|\bbangers?\b", re.I), ("energy_min", HIGH_ENERGY)),
    (re.compile(r"\blow[\s-]?energy\b|\bwarm[\s-]?up\b", re.I), ("energy_max", LOW_ENERGY)),
]
_FILLER = {"in", "at", "around", "about", "bpm", "key", "of", "with", "and", "a", "the", "energy"}


@dataclass
class ParsedVibe:
    """What a vibe query asks: filters, and the words left for the vector query."""

    text: str
    bpm_min: float | None = None
    bpm_max: float | None = None
    key: str | None = None  # Camelot code
    energy_min: float | None = None
    energy_max: float | None = None

    def filters(self) -> dict[str, float | str]:
        return {k: v for k, v in asdict(self).items() if k != "text" and v is not None}


def _tempo(value: str) -> float | None:
    bpm = float(value)
    return bpm if BPM_RANGE[0] <= bpm <= BPM_RANGE[1] else None


def _key(match: re.Match) -> str | None:
    groups = [g for g in match.groups() if g]
    text = groups[0] if len(groups) == 1 else groups[0].upper() + "".join(groups[1:])
    text = re.sub(r"\s?sharp", "#", re.sub(r"\s?flat", "b", text, flags=re.I), flags=re.I)
    try:
        return str(parse_key(text))
    except KeyParseError:
        return None


def parse_vibe(q: str) -> ParsedVibe:
    """Split a natural-language query into filters and the remaining words (see the module docstring)."""
    parsed = ParsedVibe(text="")
    rest = q

    def cut(m: re.Match) -> None:
        nonlocal rest
        rest = rest[: m.start()] + " " + rest[m.end():]

    def bpm_window(center: float, width: float) -> None:
        parsed.bpm_min, parsed.bpm_max = round(center - width, 2), round(center + width, 2)

    if parsed.bpm_min is None and (m := _BPM_RANGE_RE.search(rest)):
        lo, hi = _tempo(m.group(1)), _tempo(m.group(2))
        if lo is not None and hi is not None:
            parsed.bpm_min, parsed.bpm_max = min(lo, hi), max(lo, hi)
            cut(m)
    for pattern, width in ((_AROUND_RE, AROUND_BPM), (_BPM_RE, EXACT_BPM), (_BARE_RE, AROUND_BPM)):
        if parsed.bpm_min is None and (m := pattern.search(rest)) and (bpm := _tempo(m.group(1))) is not None:
            bpm_window(bpm, width)
            cut(m)
    for pattern in _KEY_RES:
        if parsed.key is None and (m := pattern.search(rest)) and (code := _key(m)) is not None:
            parsed.key = code
            cut(m)
    for pattern, bound in _ENERGY_RES:
        if (m := pattern.search(rest)) and parsed.energy_min is None and parsed.energy_max is None:
            if bound is None:
                level = int(m.group(1))
                parsed.energy_min, parsed.energy_max = max(0.0, level - 0.5), min(10.0, level + 0.5)
            else:
                setattr(parsed, bound[0], bound[1])
            cut(m)
    words = re.sub(r"[,;]+", " ", rest).split()
    while words and words[-1].lower() in _FILLER:
        words.pop()
    while words and words[0].lower() in _FILLER:
        words.pop(0)
    parsed.text = " ".join(words)
    return parsed


class VibeResult(SearchResult):
    mode: str
    understood: dict = Field(description="what the query was read as: filters, and the words embedded")


def _merged_query(query: SearchQuery, parsed: ParsedVibe) -> SearchQuery:
    """The query with the parsed filters where no parameter set them, the remaining words as `q`."""
    data = query.model_dump()
    for name, value in parsed.filters().items():
        if data.get(name) is None:
            data[name] = value
    data.update(q=parsed.text, mode="text")
    try:
        return SearchQuery.model_validate(data)
    except ValidationError as exc:
        detail = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'filters'}: {e['msg']}" for e in exc.errors()[:3])
        raise Invalid(f"the query's parsed filters do not fit the parameters ({detail})") from None


def rrf(rankings: list[list[int]], k: int = RRF_K) -> list[int]:
    """Reciprocal rank fusion: ids ordered by the sum of 1 / (k + rank) over the rankings (rank from 1)."""
    scores: dict[int, float] = {}
    for ranking in rankings:
        for n, pk in enumerate(ranking, 1):
            scores[pk] = scores.get(pk, 0.0) + 1.0 / (k + n)
    return sorted(scores, key=lambda pk: (-scores[pk], pk))


_SORT_KEYS = {
    "bpm": lambda t: t.bpm, "key": lambda t: (int(t.camelot[:-1]), t.camelot[-1]) if t.camelot else None,
    "energy": lambda t: t.energy, "year": lambda t: t.year, "rating": lambda t: t.star_rating,
    "added": lambda t: t.created_at, "title": lambda t: (t.title or "").casefold(),
    "artist": lambda t: ((t.artist or "").casefold(), (t.title or "").casefold()),
}


def _sorted(ids: list[int], rows: dict[int, Track], query: SearchQuery) -> list[int]:
    """A vibe ranking re-ordered by the query's sort field (missing values last); relevance keeps it."""
    if query.sort_field == "relevance":
        return ids
    key = _SORT_KEYS[query.sort_field]
    known = [i for i in ids if i in rows and key(rows[i]) is not None]
    known.sort(key=lambda i: key(rows[i]), reverse=query.descending)
    return known + [i for i in ids if i not in set(known)]


def vibe_search(*, session: Session, user: User, query: SearchQuery, backend: SearchBackend | None = None
                ) -> SearchResult:
    """Search in `query.mode` semantic or hybrid (see the module docstring). Conflict `embeddings_missing`
    when the user's tracks have no text embeddings of the active model yet."""
    from services.domain.embeddings import service as embeddings
    from services.domain.search.postgres import _filters
    from services.domain.search.service import current_backend, scope_for, search_tracks, to_item

    started = time.perf_counter()
    parsed = parse_vibe(query.q)
    merged = _merged_query(query, parsed)
    understood = {"text": parsed.text, "filters": parsed.filters()}
    backend = backend or current_backend()
    scope = scope_for(session=session, user=user, query=merged)
    if not parsed.text or not scope.libraries:  # nothing to embed: the filters alone
        result = search_tracks(session=session, user=user, query=merged, backend=backend)
        return VibeResult(**result.model_dump(), mode=query.mode, understood=understood)
    model = embeddings.text_model()
    if not has_embeddings(session, libraries=scope.libraries, kind="text", model=model):
        raise embeddings_missing({"text": model}, "your tracks")
    vector = embeddings.embed_query(parsed.text)
    where = _filters(merged, scope)
    distance = TrackEmbedding.embedding.cosine_distance(vector)
    knn = (select(Track.id).join(TrackEmbedding, TrackEmbedding.track_pk == Track.id)
           .where(TrackEmbedding.kind == "text", TrackEmbedding.model == model, *where).order_by(distance))
    browse = backend.search(session=session, query=merged.model_copy(update={"q": "", "limit": 1, "offset": 0,
                                                                             "sort": "relevance"}), scope=scope)
    pool = min(MAX_POOL, max(POOL, query.offset + query.limit))
    set_ef_search(session, pool)
    if query.mode == "semantic":
        total = session.scalar(select(func.count()).select_from(knn.order_by(None).subquery())) or 0
        if merged.sort_field == "relevance":
            ids = list(session.scalars(knn.limit(query.limit).offset(query.offset)))
            ranking = None
        else:
            ranking = list(session.scalars(knn.limit(pool)))
    else:
        vector_ids = list(session.scalars(knn.limit(pool)))
        text_ids = backend.search(session=session, query=merged.model_copy(update={
            "limit": min(pool, 200), "offset": 0, "sort": "relevance"}), scope=scope).ids
        ranking = rrf([text_ids, vector_ids])
        total = len(ranking)
    if ranking is not None:
        rows = {t.id: t for t in session.scalars(select(Track).where(Track.id.in_(ranking)))} if ranking else {}
        ids = _sorted(ranking, rows, merged)[query.offset: query.offset + query.limit]
    rows = {t.id: t for t in session.scalars(select(Track).where(Track.id.in_(ids)))} if ids else {}
    query_terms = terms(parsed.text)
    items = [to_item(rows[i], scope.libraries.get(rows[i].library_id, ""), query_terms) for i in ids if i in rows]
    facets = browse.facets
    for facet in facets.library:
        facet.label = scope.libraries.get(int(facet.value))
    name = "pgvector" if query.mode == "semantic" else f"{backend.name}+pgvector"
    return VibeResult(items=items, total=total, facets=facets, backend=name, mode=query.mode, understood=understood,
                      took_ms=round((time.perf_counter() - started) * 1000, 2))
