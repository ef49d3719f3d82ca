"""Vibe search: `GET /api/tracks/search?q=...&mode=semantic|hybrid`.

"dark rolling techno around 128 in A minor" -> BPM 125-131, key 8A, and "dark rolling techno" as the
vector query. Numbers become BPM filters ("128 bpm" ±1.5, "around 128" or a bare 128 ±3, "120-125"), keys
become Camelot filters ("A minor", "Am", "8A", Open Key "1m"), energy words energy filters ("high energy",
"peak time" >= 7, "low energy", "warm up" <= 4, "energy 8"). Filters given as parameters win over parsed ones.

Who reads the query (`understood.parsed_by`): with OpenAI configured (openai_assist.configured), the model
(openai_assist.parse_search: strict JSON schema, then SearchQuery's validation, keys through
camelot.parse_key) also giving genre, style, year and "mixes with" filters; its BPM must be a tempo
(BPM_RANGE) and its words left (or the rules' when it left none) are the vector query. Any failure (not
configured, 429/5xx after the client's retries, timeout, a malformed or invalid answer, filters that clash
with the parameters) falls back to the rules above (`parsed_by: "rules"`, `understood.fallback` says why
when OpenAI was tried). A search asks at most PARSE_TIMEOUT_MAX seconds per attempt and PARSE_RETRIES_MAX
retries; parses are kept per query text for PARSE_TTL (paging, typing back), a failed text for FAILED_TTL,
and after an API failure (not a bad answer) every query uses the rules for FAILED_TTL.

* semantic: the tracks matching the filters, ranked by cosine distance of their text embedding to the
  query's (the active text model only), then the matching tracks without one yet (browsing order): `total`
  and `facets` count all of them, the set a DJ pages through. Sorted by a field (not relevance): the POOL
  nearest (more when paging further) in that order, `total` and `facets` over those. No words left: the
  filters alone (browsing order).
* hybrid: the text search's ranking (the configured backend) and the vector ranking fused by reciprocal
  rank fusion (score = sum of 1 / (RRF_K + rank)), over the top POOL of each; `total` and `facets` over the
  fused ranking.
Vector rankings (nearest_ids): exact over the matching tracks when at most EXACT_MAX match (HNSW would drop
most of its candidates behind a BPM or key filter), else HNSW with pgvector's iterative scan (0.8+); filters
known to match more than EXACT_MAX at the tracks' current version (LARGE_MATCHES) are not counted again.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from pydantic import Field, ValidationError
from sqlalchemy import Integer, any_, cast, exists, func, select
from sqlalchemy.dialects.postgresql import ARRAY, aggregate_order_by
from sqlalchemy.orm import Session

from services.common.camelot import KeyParseError, parse_key
from services.common.models import Track, TrackEmbedding, User
from services.common.settings import Settings, get_settings
from services.domain.embeddings.similar import embeddings_missing, has_embeddings
from services.domain.errors import DomainError, Invalid
from services.domain.lru import LruCache
from services.domain.search.base import Scope, SearchBackend
from services.domain.search.models import BPM_BUCKET, Facets, SearchQuery, SearchResult, facets_from_counts
from services.domain.search.postgres import ITEM_COLUMNS, VERSION, _cache_key, _filters, ranked_ids
from services.domain.search.text import terms

log = logging.getLogger(__name__)

AROUND_BPM = 3.0  # "around 128", or a bare 128: 125-131
EXACT_BPM = 1.5  # "128 bpm": 126.5-129.5
BPM_RANGE = (40.0, 250.0)  # numbers outside are not tempos
HIGH_ENERGY, LOW_ENERGY = 7.0, 4.0
RRF_K = 60
# hybrid: ranks fused from each list (more when paging further). A vector list of 100 changed the fused top 50 of
# 60 of the 100 tuning queries at 100,000 tracks (HNSW's ef_search follows the limit): kept at 200.
POOL = 200
MAX_POOL = 1000
EXACT_MAX = 10_000  # matching tracks up to which the vector ranking is exact rather than HNSW (nearest_ids)
PARSE_TTL = 300.0  # seconds an OpenAI parse of a query text is reused (paging, typing back)
FAILED_TTL = 30.0  # seconds the rules stand in after a failure (that text; every text after an API failure)
PARSE_CACHE_SIZE = 512
PARSE_TIMEOUT_MAX = 5.0  # seconds per attempt for a search's parse (OPENAI_TIMEOUT_SECONDS when lower)
PARSE_RETRIES_MAX = 1  # retries for a search's parse (OPENAI_MAX_RETRIES when lower)

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


FILTER_FIELDS = ("bpm_min", "bpm_max", "half_double", "key", "compatible_with", "energy_min", "energy_max",
                 "genre", "style", "year_min", "year_max")


@dataclass
class ParsedVibe:
    """What a vibe query asks: filters, and the words left for the vector query. The rules fill BPM, key
    and energy; OpenAI may fill every filter field."""

    text: str
    bpm_min: float | None = None
    bpm_max: float | None = None
    key: str | None = None  # Camelot code
    energy_min: float | None = None
    energy_max: float | None = None
    half_double: bool = False
    compatible_with: str | None = None  # Camelot code
    genre: list[str] = field(default_factory=list)
    style: list[str] = field(default_factory=list)
    year_min: int | None = None
    year_max: int | None = None
    parsed_by: str = "rules"  # or "openai"
    fallback: str | None = None  # why the rules read it although OpenAI is configured

    def filters(self) -> dict[str, Any]:
        return {name: value for name in FILTER_FIELDS
                if (value := getattr(self, name)) is not None and value is not False and value != []}

    def understood(self) -> dict[str, Any]:
        out: dict[str, Any] = {"text": self.text, "filters": self.filters(), "parsed_by": self.parsed_by}
        if self.fallback:
            out["fallback"] = self.fallback
        return out

    def copy(self) -> ParsedVibe:
        return replace(self, genre=list(self.genre), style=list(self.style))


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


# -- OpenAI parsing ------------------------------------------------------------------------------------------


class ParseCache:
    """OpenAI's parses per query text (LRU with a TTL; a failed text keeps its reason for FAILED_TTL), and a
    pause after the API itself failed. Per process, thread-safe; `clock` is injectable for tests."""

    def __init__(self, *, size: int = PARSE_CACHE_SIZE, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.parses = LruCache(size=size, clock=clock)
        self.paused_until = 0.0
        self.pause_reason = ""
        self.lock = threading.Lock()

    def get(self, key: tuple) -> ParsedVibe | str | None:
        """A copy of the parse kept for `key`, or the reason it failed; None when unknown or expired."""
        value = self.parses.get(key)
        return value.copy() if isinstance(value, ParsedVibe) else value

    def put(self, key: tuple, value: ParsedVibe | str, ttl: float) -> None:
        self.parses.put(key, value.copy() if isinstance(value, ParsedVibe) else value, ttl)

    def pause(self, reason: str, seconds: float = FAILED_TTL) -> None:
        with self.lock:
            self.paused_until, self.pause_reason = self.clock() + seconds, reason

    def paused(self) -> str | None:
        """Why OpenAI is not asked right now (it failed moments ago), or None."""
        with self.lock:
            return self.pause_reason if self.clock() < self.paused_until else None

    def clear(self) -> None:
        self.parses.clear()
        with self.lock:
            self.paused_until, self.pause_reason = 0.0, ""


PARSE_CACHE = ParseCache()


def from_search_query(query: SearchQuery, *, rules: ParsedVibe) -> ParsedVibe:
    """OpenAI's parse (a SearchQuery: schema and ranges already checked) as a ParsedVibe, or Invalid when a
    value is not usable here: a BPM outside BPM_RANGE, a key camelot.parse_key refuses. Its words are the
    vector query; when it left none, the rules' words are."""
    for name in ("bpm_min", "bpm_max"):
        value = getattr(query, name)
        if value is not None and not BPM_RANGE[0] <= value <= BPM_RANGE[1]:
            raise Invalid(f"{name}: {value:g} is not a tempo ({BPM_RANGE[0]:g} to {BPM_RANGE[1]:g} BPM)")
    keys: dict[str, str | None] = {}
    for name in ("key", "compatible_with"):
        value = getattr(query, name)
        try:
            keys[name] = str(parse_key(value)) if value else None
        except KeyParseError as exc:
            raise Invalid(f"{name}: {exc}") from None
    return ParsedVibe(text=query.q or rules.text, bpm_min=query.bpm_min, bpm_max=query.bpm_max, key=keys["key"],
                      energy_min=query.energy_min, energy_max=query.energy_max, half_double=query.half_double,
                      compatible_with=keys["compatible_with"], genre=list(query.genre), style=list(query.style),
                      year_min=query.year_min, year_max=query.year_max, parsed_by="openai")


def _ask_openai(text: str, *, session: Session, settings: Settings, rules: ParsedVibe) -> ParsedVibe:
    """openai_assist.parse_search with a search's budget (PARSE_TIMEOUT_MAX, PARSE_RETRIES_MAX at most)."""
    from services.domain.enrichment import openai_assist as assist

    budget = settings.model_copy(update={
        "openai_timeout_seconds": min(settings.openai_timeout_seconds, PARSE_TIMEOUT_MAX),
        "openai_max_retries": min(settings.openai_max_retries, PARSE_RETRIES_MAX)})
    with assist.Assistant.from_settings(budget) as client:
        query = assist.parse_search(text, session=session, client=client)
    return from_search_query(query, rules=rules)


def understand(q: str, *, session: Session, cache: ParseCache | None = None) -> ParsedVibe:
    """The query as OpenAI reads it when configured (openai_assist.configured), else, or on any failure, as
    the rules (parse_vibe) read it; see the module docstring for the cache and the fallback."""
    from services.domain.enrichment import openai_assist as assist
    from services.domain.enrichment.sources.base import CatalogError, CatalogMalformed

    cache = cache or PARSE_CACHE
    rules = parse_vibe(q)
    text = " ".join(q.split())
    settings = get_settings()
    if not text or not assist.configured(settings)[0]:
        return rules
    key = (text, settings.openai_model, settings.openai_base_url or "")
    cached = cache.get(key)
    if isinstance(cached, ParsedVibe):
        return cached
    if cached is not None:
        return replace(rules, fallback=cached)
    if (reason := cache.paused()) is not None:  # OpenAI failed moments ago: not asked again yet
        return replace(rules, fallback=f"{reason}; read by the rules for now")
    try:
        parsed = _ask_openai(text, session=session, settings=settings, rules=rules)
    except CatalogMalformed as exc:  # this answer was bad: this text only
        reason = exc.detail
    except CatalogError as exc:  # the API failed (after retries): the rules for a while, for every text
        reason = exc.detail
        cache.pause(reason)
    except DomainError as exc:  # a value the search cannot use (Invalid), or not configured after all
        reason = f"OpenAI's reading was not usable: {exc.detail}"
    except Exception:  # any failure falls back to the rules
        log.exception("parsing a vibe query with OpenAI failed")
        reason = "OpenAI's reading failed"
    else:
        cache.put(key, parsed, PARSE_TTL)
        return parsed
    reason = f"{reason}; read by the rules instead"
    cache.put(key, reason, FAILED_TTL)
    return replace(rules, fallback=reason)


class VibeResult(SearchResult):
    mode: str
    understood: dict = Field(description="what the query was read as: filters, the words embedded, parsed_by "
                                         "(openai or rules) and, when OpenAI was tried but not used, fallback")


def _given(query: SearchQuery, name: str) -> bool:
    """Whether a parameter set this filter (then it wins over the parsed one)."""
    value = getattr(query, name)
    if isinstance(value, bool):
        return name in query.model_fields_set
    return value is not None and value != []


def _merged_query(query: SearchQuery, parsed: ParsedVibe) -> SearchQuery:
    """The query with the parsed filters where no parameter set them, the remaining words as `q`."""
    data = query.model_dump()
    for name, value in parsed.filters().items():
        if not _given(query, name):
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


def _sorted(ids: list[int], rows: dict[int, Any], query: SearchQuery) -> list[int]:
    """A vibe ranking re-ordered by the query's sort field (missing values last); relevance keeps it."""
    if query.sort_field == "relevance":
        return ids
    key = _SORT_KEYS[query.sort_field]
    known = [i for i in ids if i in rows and key(rows[i]) is not None]
    known.sort(key=lambda i: key(rows[i]), reverse=query.descending)
    seen = set(known)
    return known + [i for i in ids if i not in seen]


# What ranking and counting a pool of tracks reads (the sort keys above and the facets' fields), and what the
# page's items show (search.service.to_item reads ITEM_COLUMNS): one statement reads the pool.
_POOL_COLUMNS = (*ITEM_COLUMNS, Track.created_at)


def _int_array(ids: Iterable[int]):
    """`= ANY(...)` of one array parameter: one bind for hundreds or thousands of ids (an IN list binds each)."""
    return cast(list(ids), ARRAY(Integer))


# Which filters matched more than EXACT_MAX tracks (nearest_ids then goes straight to HNSW without counting them
# again): filter key -> the tracks' version it was counted at. A write to `tracks` advances the version (migration
# 0004), so every entry goes stale; the TTL bounds what a write committing during a read could leave behind.
LARGE_MATCHES = LruCache(size=256, ttl=30.0)


def filter_key(query: SearchQuery, scope: Scope) -> tuple:
    """What decides which tracks `_filters(query, scope)` matches (every filter and the scope, not the text)."""
    return _cache_key(query.model_copy(update={"q": ""}), scope)


def nearest_ids(session: Session, *, where: list, model: str, vector: list[float], limit: int, offset: int = 0,
                key: tuple | None = None) -> list[int]:
    """Ids of the tracks meeting `where` whose text vector (of `model`) is nearest to `vector`, nearest first,
    [offset, offset + limit).

    HNSW filters the candidates its search found (hnsw.ef_search of them): behind a selective filter (a BPM
    window, a key: a few percent of the tracks) it finds only a handful, a short page. So the matching tracks
    are read first (up to EXACT_MAX + 1 ids): up to EXACT_MAX, their vectors are ranked exactly (one scan of
    those rows, milliseconds); beyond, the filter is loose enough for HNSW, with pgvector's iterative scan
    (0.8+) searching on until `limit + offset` candidates pass it (hnsw.max_scan_tuples at most).
    `key` (filter_key of what made `where`): a match known to be larger than EXACT_MAX at this tracks' version
    (LARGE_MATCHES) is not counted again (reading EXACT_MAX rows costs more than the HNSW search itself)."""
    kind_model = (TrackEmbedding.kind == "text", TrackEmbedding.model == model)
    distance = TrackEmbedding.embedding.cosine_distance(vector)
    # The HNSW settings for this transaction ride along (one round trip fewer when the index is used).
    settings = (func.set_config("hnsw.ef_search", str(max(40, min(1000, limit + offset))), True),
                func.set_config("hnsw.iterative_scan", "strict_order", True))
    large = False
    if key is not None and (known := LARGE_MATCHES.get(key)) is not None:  # the version read only then
        version, *_ = session.execute(select(VERSION, *settings)).one()
        large = version == known
    if not large:
        # One statement: how many tracks match (up to EXACT_MAX + 1) and, when that is at most EXACT_MAX, the
        # page of them ranked exactly (the ids stay in the server; past EXACT_MAX the ranking is not started).
        matching = select(Track.id).where(*where).limit(EXACT_MAX + 1).cte("matching").prefix_with("MATERIALIZED")
        found = select(func.count()).select_from(matching).scalar_subquery()
        # Materialized without an ORDER BY: the HNSW index cannot be picked to read them in distance order.
        scored = (select(TrackEmbedding.track_pk, distance.label("distance"))
                  .where(*kind_model,
                         TrackEmbedding.track_pk == any_(func.array(select(matching.c.id).scalar_subquery())),
                         found <= EXACT_MAX)
                  .cte("scored").prefix_with("MATERIALIZED"))
        page = (select(scored.c.track_pk, scored.c.distance).order_by(scored.c.distance, scored.c.track_pk)
                .limit(limit).offset(offset).subquery())
        ranked = select(func.array_agg(aggregate_order_by(page.c.track_pk, page.c.distance, page.c.track_pk))) \
            .scalar_subquery()
        count, ids, version, *_ = session.execute(select(found, ranked, VERSION, *settings)).one()
        if count <= EXACT_MAX:
            return list(ids or [])
        if key is not None:
            LARGE_MATCHES.put(key, version)
    knn = (select(Track.id).join(TrackEmbedding, TrackEmbedding.track_pk == Track.id).where(*kind_model, *where)
           .order_by(distance).limit(limit).offset(offset))
    return list(session.scalars(knn))


def facets_of(rows: Iterable[Any]) -> Facets:
    """Facets of these tracks (rows with genres, styles, camelot, bpm, energy, library_id), counted the way
    the search backends count theirs: BPM_BUCKET buckets, energy rounded, through facets_from_counts."""
    counts: dict[str, Counter] = {name: Counter() for name in ("genres", "styles", "camelot", "bpm", "energy",
                                                               "library")}
    for row in rows:
        counts["genres"].update(row.genres or [])
        counts["styles"].update(row.styles or [])
        if row.camelot:
            counts["camelot"][row.camelot] += 1
        if row.bpm is not None:
            counts["bpm"][int(row.bpm // BPM_BUCKET * BPM_BUCKET)] += 1
        if row.energy is not None:
            counts["energy"][round(float(row.energy))] += 1
        counts["library"][row.library_id] += 1
    return facets_from_counts({name: list(found.items()) for name, found in counts.items()})


def vibe_search(*, session: Session, user: User, query: SearchQuery, backend: SearchBackend | None = None
                ) -> SearchResult:
    """Search in `query.mode` semantic or hybrid (see the module docstring). Conflict `embeddings_missing`
    when the user's tracks have no text embeddings of the active model yet."""
    from services.domain.embeddings import service as embeddings
    from services.domain.search.service import current_backend, scope_for, search_tracks, to_item

    started = time.perf_counter()
    # The libraries and playlist (never parsed from q): a library or playlist not yours is 404 before any parse.
    scope = scope_for(session=session, user=user, query=query)
    parsed = understand(query.q, session=session)
    try:
        merged = _merged_query(query, parsed)
    except Invalid:
        if parsed.parsed_by != "openai":
            raise
        parsed = replace(parse_vibe(query.q), fallback="OpenAI's filters clash with the parameters given; read by "
                                                       "the rules instead")
        merged = _merged_query(query, parsed)
    understood = parsed.understood()
    backend = backend or current_backend()
    if not parsed.text or not scope.libraries:  # nothing to embed: the filters alone
        result = search_tracks(session=session, user=user, query=merged, backend=backend)
        return VibeResult(**result.model_dump(), mode=query.mode, understood=understood)
    model = embeddings.text_model()
    if not has_embeddings(session, libraries=scope.libraries, kind="text", model=model):
        raise embeddings_missing({"text": model}, "your tracks")
    where = _filters(merged, scope)
    key = filter_key(merged, scope)
    pool = min(MAX_POOL, max(POOL, query.offset + query.limit))
    if query.mode == "semantic" and merged.sort_field == "relevance":
        # Every matching track: the ones with a vector by distance, then the others (browsing order).
        vector = embeddings.embed_query(parsed.text)
        ids = nearest_ids(session, where=where, model=model, vector=vector, limit=query.limit, offset=query.offset,
                          key=key)
        if len(ids) < query.limit:
            with_vector = (TrackEmbedding.track_pk == Track.id, TrackEmbedding.kind == "text",
                           TrackEmbedding.model == model)
            if ids or not query.offset:
                ranked = query.offset + len(ids)  # the tracks with a vector end on this page
            else:  # past them: how many there are
                ranked = session.scalar(select(func.count()).select_from(Track).join(TrackEmbedding, with_vector[0])
                                        .where(*with_vector[1:], *where)) or 0
            rest = (select(Track.id).where(*where, ~exists().where(*with_vector))
                    .order_by(Track.created_at.desc(), Track.id.desc())
                    .offset(max(0, query.offset - ranked)).limit(query.limit - len(ids)))
            ids += list(session.scalars(rest))
        browse = backend.search(session=session, query=merged.model_copy(update={
            "q": "", "limit": 1, "offset": 0, "sort": "relevance"}), scope=scope)
        total, facets = browse.total, browse.facets
        rows = {r.id: r for r in session.execute(select(*ITEM_COLUMNS).where(Track.id == any_(_int_array(ids))))} \
            if ids else {}
    else:  # a pool: the nearest (sorted by a field), or both rankings fused
        if query.mode == "semantic":
            ranking = nearest_ids(session, where=where, model=model, vector=embeddings.embed_query(parsed.text),
                                  limit=pool, key=key)
        else:
            text_query = merged.model_copy(update={"limit": min(pool, 200), "offset": 0, "sort": "relevance"})

            if backend.name == "postgres":  # the ranking alone: no total or facets (counted over the pool below)
                text_ids = ranked_ids(session=session, query=text_query, scope=scope, limit=text_query.limit)
            else:
                text_ids = backend.search(session=session, query=text_query, scope=scope).ids
            vector_ids = nearest_ids(session, where=where, model=model, vector=embeddings.embed_query(parsed.text),
                                     limit=pool, key=key)
            ranking = rrf([text_ids, vector_ids])
        # One statement for the pool: what ranking and counting read, and what the page's items show.
        rows = {r.id: r for r in session.execute(select(*_POOL_COLUMNS).where(Track.id == any_(_int_array(ranking)),
                                                                              *where))} if ranking else {}
        ranking = [i for i in ranking if i in rows]  # a search index lagging behind a change: not counted
        ids = _sorted(ranking, rows, merged)[query.offset: query.offset + query.limit]
        total, facets = len(ranking), facets_of(rows.values())
    query_terms = terms(parsed.text)
    items = [to_item(rows[i], scope.libraries.get(rows[i].library_id, ""), query_terms) for i in ids if i in rows]
    for facet in facets.library:
        facet.label = scope.libraries.get(int(facet.value))
    name = "pgvector" if query.mode == "semantic" else f"{backend.name}+pgvector"
    return VibeResult(items=items, total=total, facets=facets, backend=name, mode=query.mode, understood=understood,
                      took_ms=round((time.perf_counter() - started) * 1000, 2))
