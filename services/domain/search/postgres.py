"""The default search backend: Postgres alone (no extra server).

Text: a weighted, accent-folded tsvector (prefix matching while typing) and, for misspelt input, a
trigram word similarity on "artist title"; both kept by the database (migration 0004), GIN-indexed.
Ranking: tsvector rank + trigram similarity + a bonus for an exact title or "artist title".
A text query: one statement materializes the match once and returns the page, the total and every facet.
Browsing (no text): the page comes straight from an index in the sort's order (migration 0015 has the
folded artist/title and descending BPM/year ones) together with the page's rows; the total and facets
are one more statement, kept per process (_FacetCache) while no track changes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from sqlalchemy import (
    ColumnElement,
    Integer,
    Text,
    case,
    cast,
    exists,
    false,
    func,
    literal_column,
    not_,
    or_,
    select,
    text,
    type_coerce,
)
from sqlalchemy.dialects.postgresql import ARRAY, aggregate_order_by
from sqlalchemy.orm import Session
from sqlalchemy.types import NullType

from services.common.models import PlaylistTrack, Track
from services.domain.lru import LruCache
from services.domain.search.base import Hits, Scope, SearchBackend, register
from services.domain.search.models import BPM_BUCKET, FACET_LIMIT, Facets, SearchQuery, facets_from_counts
from services.domain.search.text import terms

WORD_SIMILARITY = 0.5  # pg_trgm.word_similarity_threshold for typo matches
TYPO_MIN_LETTERS = 4  # shorter input is still being typed: prefixes only
SIMILARITY_RANK_MAX = 2000  # above this many matches, rank without the per-row trigram similarity
CORRECTIONS_PER_WORD = 8  # vocabulary words a misspelt word may stand for
CACHE_MIN_TOTAL = 5000  # matches at least this large keep their facet counts (see _FacetCache)
EXACT_BONUS = 2.0
FLAGS = {
    "has_audio": Track.local_audio_path,
    "analyzed": Track.analyzed_at,
    "has_apple": Track.apple_music_url,
    "has_spotify": Track.spotify_url,
    "has_youtube": Track.youtube_url,
    "has_soundcloud": Track.soundcloud_url,
}
CAMELOT_NUMBER = cast(func.substring(Track.camelot, r"^\d+"), Integer)
SORTS = {
    "bpm": [Track.bpm],
    "key": [CAMELOT_NUMBER, func.right(Track.camelot, 1)],
    "energy": [Track.energy],
    "year": [Track.year],
    "rating": [Track.star_rating],
    "added": [Track.created_at],
    "title": [func.djp_fold(Track.title)],
    "artist": [func.djp_fold(Track.artist), func.djp_fold(Track.title)],
}
# djp_fold() never returns NULL (it folds coalesce($1, '')): its keys sort plainly, so that one ascending
# index (migration 0015) serves both directions.
NEVER_NULL = {"title", "artist"}


def _as_driver_returns(column):
    """psycopg already returns text[] as a list: without SQLAlchemy's copy of it on every row."""
    return type_coerce(column, NullType()).label(column.key)


# What a search item shows (service.to_item reads these attributes), read with the browse page.
ITEM_COLUMNS = (Track.id, Track.track_id, Track.title, Track.artist, Track.album, Track.album_id, Track.year,
                Track.position, Track.duration_seconds, Track.bpm, Track.key, Track.camelot, Track.energy,
                Track.danceability, Track.star_rating, _as_driver_returns(Track.genres),
                _as_driver_returns(Track.styles), Track.library_id, Track.has_audio.label("has_audio"),
                Track.analyzed.label("analyzed"))
VERSION = literal_column("(SELECT last_value FROM tracks_version)")


class TextRank(NamedTuple):
    """How a text query ranks the tracks it matches (PostgresBackend._match_text)."""

    rank: ColumnElement
    # A function of a track's "artist title" (search_text) added to `rank` while fewer than SIMILARITY_RANK_MAX
    # tracks match: counted with the match in one statement instead of before it.
    small_match_bonus: Callable[[ColumnElement], ColumnElement] | None = None
    # Nothing matching means the input is probably misspelt (PostgresBackend._misspelt_rank then).
    may_be_misspelt: bool = False


def _filters(query: SearchQuery, scope: Scope) -> list:
    conds = [Track.library_id.in_(list(scope.libraries)), Track.deleted_at.is_(None)]
    if ranges := query.bpm_ranges():
        conds.append(or_(*(Track.bpm.between(lo, hi) for lo, hi in ranges)))
    codes = query.key_codes()
    if codes is not None:
        conds.append(Track.camelot.in_(codes) if codes else false())
    if query.energy_min is not None:
        conds.append(Track.energy >= query.energy_min)
    if query.energy_max is not None:
        conds.append(Track.energy <= query.energy_max)
    if query.danceability_min is not None:
        conds.append(Track.danceability >= query.danceability_min)
    if query.rating_min is not None:
        conds.append(Track.star_rating >= query.rating_min)
    for column, wanted in ((Track.genres, query.genre), (Track.styles, query.style)):
        if wanted:
            array = cast(wanted, ARRAY(Text))
            conds.append(column.op("@>" if query.match == "all" else "&&")(array))
    if query.year_min is not None:
        conds.append(Track.year >= query.year_min)
    if query.year_max is not None:
        conds.append(Track.year <= query.year_max)
    for name, column in FLAGS.items():
        wanted = getattr(query, name)
        if wanted is not None:
            conds.append(column.is_not(None) if wanted else column.is_(None))
    if scope.playlist_id is not None:
        member = exists().where(PlaylistTrack.playlist_id == scope.playlist_id, PlaylistTrack.track_pk == Track.id)
        conds.append(member if scope.in_playlist else not_(member))
    return conds


def _unnested_sql(column: str) -> str:
    """A scalar subquery: [[value, count], ...] of an array facet over the match CTE `m`, the FACET_LIMIT
    largest (constant SQL: built once at import, so a request pays nothing to build or key it)."""
    return (f"(SELECT coalesce(json_agg(json_build_array(f.v, f.c)), '[]'::json) FROM "
            f"(SELECT v, count(*) AS c FROM (SELECT unnest(m.{column}) AS v FROM m) AS u GROUP BY v "
            f"ORDER BY count(*) DESC, 1 LIMIT {FACET_LIMIT}) AS f)")


# The single-valued facets and the total in one pass over `m` (grouping sets: one hash table each):
# [[facet, value, count], ...], the total's row named "total". grouping() has a bit per argument, set when
# the row is not grouped by it (the rightmost is bit 0).
_SCALAR_FACETS = {"camelot": "m.camelot", "bpm": f"CAST(floor(m.bpm / {BPM_BUCKET}) * {BPM_BUCKET} AS INTEGER)",
                  "energy": "CAST(round(CAST(m.energy AS FLOAT)) AS INTEGER)", "library": "m.library_id"}
_SCALAR_NAMES = " ".join(f"WHEN {(1 << len(_SCALAR_FACETS)) - 1 - (1 << (len(_SCALAR_FACETS) - 1 - i))} THEN '{name}'"
                         for i, name in enumerate(_SCALAR_FACETS))
_SCALAR_FACETS_SQL = (
    "(SELECT coalesce(json_agg(json_build_array(f.facet, f.v, f.c)), '[]'::json) FROM ("
    f"SELECT CASE grouping({', '.join(_SCALAR_FACETS.values())}) {_SCALAR_NAMES} ELSE 'total' END AS facet, "
    f"CAST(coalesce({', '.join(f'CAST({e} AS TEXT)' for e in _SCALAR_FACETS.values())}) AS TEXT) AS v, "
    "count(*) AS c FROM m "
    f"GROUP BY GROUPING SETS ({', '.join(f'({e})' for e in _SCALAR_FACETS.values())}, ())) AS f)"
)
FACET_SQL = (_unnested_sql("genres"), _unnested_sql("styles"), _SCALAR_FACETS_SQL)


def _materialized(where: list, order: list, *, with_search_text: bool = False):
    """The match, computed once: ids, the sort keys (o0, o1, ...) and the facet columns of every matching track
    (and its search_text, for a small-match bonus)."""
    keys = [expr.label(f"o{i}") for i, (expr, _desc) in enumerate(order)]
    extra = [Track.search_text] if with_search_text else []
    return select(Track.id, Track.genres, Track.styles, Track.camelot, Track.bpm, Track.energy, Track.library_id,
                  *extra, *keys).where(*where).cte("m").prefix_with("MATERIALIZED")


def _key_ordering(rows, order: list, keys: list | None = None) -> list:
    """ORDER BY terms over the sort keys o0, o1, ... of `rows` (the match, or its page), or over `keys`
    computed from them, then the id."""
    keys = keys or [rows.c[f"o{i}"] for i in range(len(order))]
    return [(key.desc() if desc else key.asc()).nulls_last() for key, (_expr, desc) in zip(keys, order)] + [rows.c.id]


def _order(query: SearchQuery, rank) -> list:
    """(expression, descending) sort keys: the query's sort, or the rank (browsing: newest first, in the
    order the (created_at, id) index already has)."""
    if query.sort_field != "relevance":
        return [(c, query.descending) for c in SORTS[query.sort_field]]
    return [(rank, True)] if rank is not None else [(Track.created_at, True), (Track.id, True)]


def _plus_small_match_bonus(rank, found, bonus, search_text):
    """`rank` + `bonus(search_text)` while `found` (how many tracks match) is under SIMILARITY_RANK_MAX."""
    return rank + case((found < SIMILARITY_RANK_MAX, bonus(search_text)), else_=literal_column("0::real"))


def _direction(expr, desc: bool):
    """Missing values (no BPM, no key) sort last either way; a NOT NULL column plainly, so that an index
    in that order (created_at, id) can serve the page."""
    ordered = expr.desc() if desc else expr.asc()
    column = getattr(expr, "expression", None)
    return ordered if getattr(column, "nullable", True) is False else ordered.nulls_last()


def _ordering(query: SearchQuery, order: list) -> list:
    """ORDER BY terms for a page read straight from the table (an index in that order serves it)."""
    if query.sort_field in NEVER_NULL:
        return [expr.desc() if desc else expr.asc() for expr, desc in order]
    return [_direction(expr, desc) for expr, desc in order]


# What decides the match (not the page, sort or mode): the cache key, with the tracks' version before it.
_MATCH_FIELDS = tuple(f for f in SearchQuery.model_fields if f not in ("limit", "offset", "sort", "mode"))


def _cache_key(query: SearchQuery, scope: Scope) -> tuple:
    fields = tuple(tuple(v) if isinstance(v := getattr(query, f), list) else v for f in _MATCH_FIELDS)
    return fields, tuple(sorted(scope.libraries)), scope.playlist_id, scope.in_playlist


FACET_COLUMNS = [literal_column(sql).label(f"f{i}") for i, sql in enumerate(FACET_SQL)]  # over a CTE named m


def _to_total_facets(genres: list, styles: list, scalar: list) -> tuple[int, Facets]:
    counts: dict[str, list] = {"genres": genres, "styles": styles, **{name: [] for name in _SCALAR_FACETS}}
    total = 0
    for facet, value, count in scalar:
        if facet == "total":
            total = count
        elif value is not None:  # tracks without a key, BPM or energy are counted in no bucket
            counts[facet].append((value, count))
    return total, facets_from_counts(counts)


def _copy(facets: Facets) -> Facets:
    """A copy to hand out: new lists, and new library counts (callers label those); the other counts are
    never changed after facets_from_counts, so they are shared (a deep copy cost milliseconds)."""
    return Facets.model_construct(genres=list(facets.genres), styles=list(facets.styles),
                                  camelot=list(facets.camelot), bpm=list(facets.bpm), energy=list(facets.energy),
                                  library=[f.model_copy() for f in facets.library])


class _FacetCache(LruCache):
    """Total and facets of large matches (browsing everything, a common style), per process.

    Keyed by the tracks' version (a sequence every write to `tracks` advances, migration 0004) and
    what decides the match (_cache_key), so a write makes every entry stale; a TTL bounds what a write committing
    during a read could leave behind. Facets are copied in and out (callers adjust theirs).
    """

    def get(self, key: tuple) -> tuple[int, Facets] | None:
        entry = super().get(key)
        return None if entry is None else (entry[0], _copy(entry[1]))

    def put(self, key: tuple, total: int, facets: Facets) -> None:
        super().put(key, (total, _copy(facets)))


FACET_CACHE = _FacetCache(size=128, ttl=30.0)


@register
class PostgresBackend(SearchBackend):
    name = "postgres"

    def search(self, *, session: Session, query: SearchQuery, scope: Scope) -> Hits:
        if not scope.libraries:
            return Hits(ids=[], total=0)
        where = _filters(query, scope)
        filters = list(where)
        text_rank = self._match_text(session, query, where)
        order = _order(query, text_rank.rank if text_rank else None)
        key = _cache_key(query, scope) if len(query.q) < TYPO_MIN_LETTERS else None  # matches that can be large
        if text_rank is None:
            return self._browse(session, query, where, order, key)
        version = None
        if key is not None:  # typing: with the counts known, only the page to find
            version = session.execute(text("SELECT last_value FROM tracks_version")).scalar()
            cached = FACET_CACHE.get((version, *key))
            if cached is not None:
                ids = session.scalars(select(Track.id).where(*where).order_by(*_ordering(query, order), Track.id)
                                      .limit(query.limit).offset(query.offset)).all()
                return Hits(ids=list(ids), total=cached[0], facets=cached[1])
        bonus = text_rank.small_match_bonus if query.sort_field == "relevance" else None
        hits = self._ranked_page(session, query, where, order, bonus)
        if hits.total == 0 and text_rank.may_be_misspelt:
            where = filters
            order = _order(query, self._misspelt_rank(session, query, where))
            hits = self._ranked_page(session, query, where, order, None)
        if key is not None and hits.total >= CACHE_MIN_TOTAL:
            FACET_CACHE.put((version, *key), hits.total, hits.facets)
        return hits

    @staticmethod
    def _ranked_page(session: Session, query: SearchQuery, where: list, order: list, bonus) -> Hits:
        """The match materialized once; from it in one statement the page (a top-N sort, its order kept by
        json_agg), the total and every facet. `bonus(search_text)` joins the first sort key while the match
        is smaller than SIMILARITY_RANK_MAX (decided on the materialized match, so never computed for more)."""
        m = _materialized(where, order, with_search_text=bonus is not None)
        keys = [m.c[f"o{i}"] for i in range(len(order))]
        if bonus is not None:
            found = select(func.count()).select_from(m).scalar_subquery()
            keys[0] = _plus_small_match_bonus(keys[0], found, bonus, m.c.search_text).label("o0")
        page = (select(m.c.id, *keys).order_by(*_key_ordering(m, order, keys))
                .limit(query.limit).offset(query.offset).subquery())
        ids_column = select(func.coalesce(func.json_agg(aggregate_order_by(page.c.id, *_key_ordering(page, order))),
                                          text("'[]'::json"))).scalar_subquery()
        ids, *groups = session.execute(select(ids_column, *FACET_COLUMNS).add_cte(m)).one()
        total, facets = _to_total_facets(*groups)
        return Hits(ids=ids, total=total, facets=facets)

    @staticmethod
    def _browse(session: Session, query: SearchQuery, where: list, order: list, key: tuple | None) -> Hits:
        """No text: the page's rows straight from an index in the sort's order (with the tracks' version in
        the same statement), then total and facets from the cache, or one statement over the match (no sort
        keys computed for it) that fills the cache."""
        rows = session.execute(select(*ITEM_COLUMNS, VERSION.label("version")).where(*where)
                               .order_by(*_ordering(query, order), Track.id)
                               .limit(query.limit).offset(query.offset)).all()
        version = rows[0].version if rows else None
        cached = FACET_CACHE.get((version, *key)) if version is not None and key is not None else None
        if cached is not None:
            total, facets = cached
        else:
            m = select(Track.genres, Track.styles, Track.camelot, Track.bpm, Track.energy, Track.library_id)\
                .where(*where).cte("m").prefix_with("MATERIALIZED")
            total, facets = _to_total_facets(*session.execute(select(*FACET_COLUMNS).add_cte(m)).one())
            if version is not None and key is not None and total >= CACHE_MIN_TOTAL:
                FACET_CACHE.put((version, *key), total, facets)
        return Hits(ids=[r.id for r in rows], total=total, facets=facets, rows={r.id: r for r in rows})

    @staticmethod
    def _match_text(session: Session, query: SearchQuery, where: list) -> TextRank | None:
        """Add the free-text condition to `where`; return how it ranks (None when browsing).

        * Short input (under TYPO_MIN_LETTERS letters: still being typed) matches prefixes of title,
          artist and album words, ranked by where the prefix stands (title start, then artist start):
          no per-row scoring over the thousands of rows three letters match.
        * Otherwise every word must start a word of the track (weighted tsvector); rank: text rank + an
          exact-match bonus, + trigram similarity of the whole input to "artist title" while the match is
          small enough to afford it.
        * When that finds nothing the input is probably misspelt: _misspelt_rank.
        """
        words = terms(query.q)
        if not words:
            return None
        if sum(len(w) for w in words) < TYPO_MIN_LETTERS:
            # While typing: prefixes of title, artist and album words only (weights A and B), not of
            # every genre, style or note, which a few letters would match by the thousand.
            short = _once(func.to_tsquery("simple", " & ".join(f"{w}:*AB" for w in words)))
            where.append(Track.search_vector.op("@@")(short))
            prefix = words[0] + "%"  # \w characters only: no LIKE wildcards
            return TextRank(case((Track.title_fold.like(prefix), 2.0), (Track.search_text.like(prefix), 1.0),
                                 else_=0.0))
        tsquery, folded, in_text, exact = _word_match(query.q, words)
        where.append(in_text)
        return TextRank(func.ts_rank_cd(Track.search_vector, tsquery) + exact,
                        small_match_bonus=lambda search_text: func.similarity(folded, search_text),
                        may_be_misspelt=True)

    @staticmethod
    def _misspelt_rank(session: Session, query: SearchQuery, where: list):
        """Nothing matched every word as typed: let every word also be a nearby word of the vocabulary
        (search_words, Levenshtein); failing that, tracks whose "artist title" is trigram-similar to the whole
        input. Adds the condition to `where`; returns the rank."""
        words = terms(query.q)
        folded = _once(func.djp_fold(query.q))
        corrected = _once(func.to_tsquery("simple", _corrected_tsquery(session, words)))
        in_corrected = Track.search_vector.op("@@")(corrected)
        if _count(session, where, in_corrected):
            where.append(in_corrected)
            return func.ts_rank_cd(Track.search_vector, corrected) + func.similarity(folded, Track.search_text)
        # Last resort: the whole input close to "artist title" (trigram word similarity).
        session.execute(select(func.set_config("pg_trgm.word_similarity_threshold", str(WORD_SIMILARITY), True)))
        where.append(folded.op("<%")(Track.search_text))
        return func.word_similarity(folded, Track.search_text) + func.similarity(folded, Track.search_text)


def _once(expr):
    """`expr`, a function of the query's parameters only, as a scalar subquery: evaluated once per statement.
    Statements are prepared from their 5th use and may then run on a generic plan, made without the parameters'
    values, where an inline to_tsquery(:q) or djp_fold(:q) is no longer a constant and is evaluated again for
    every matching row: a text search over 2,767 tracks took 16-17 ms on that plan instead of 7."""
    return select(expr).scalar_subquery()


def _word_match(q: str, words: list[str]) -> tuple:
    """(tsquery, folded input, "every word starts a word of the track", exact-match bonus) of a text query."""
    tsquery = _once(func.to_tsquery("simple", " & ".join(f"{w}:*" for w in words)))
    folded = _once(func.djp_fold(q))
    exact = case((or_(Track.title_fold == folded, Track.search_text == folded), EXACT_BONUS), else_=0.0)
    return tsquery, folded, Track.search_vector.op("@@")(tsquery), exact


def ranked_ids(*, session: Session, query: SearchQuery, scope: Scope, limit: int) -> list[int]:
    """The first `limit` track ids of the search's relevance ranking (PostgresBackend.search's order for
    sort=relevance: rank, then id; browsing order without text), with no total or facets: one statement
    after the text matching's own (hybrid search fuses this ranking with the vector one and counts its pool)."""
    if not scope.libraries:
        return []
    where = _filters(query, scope)
    filters = list(where)
    text_rank = PostgresBackend._match_text(session, query, where)
    if text_rank is not None and text_rank.small_match_bonus is not None:
        # Every word starting a word of the track, in one statement: how many match (whether the small-match
        # bonus joins the rank) counted alongside the ranking, not before it.
        matched = select(Track.id, text_rank.rank.label("rank"), Track.search_text,
                         func.count().over().label("found")).where(*where).subquery()
        rank = _plus_small_match_bonus(matched.c.rank, matched.c.found, text_rank.small_match_bonus,
                                       matched.c.search_text)
        ids = list(session.scalars(select(matched.c.id).order_by(rank.desc().nulls_last(), matched.c.id)
                                   .limit(limit)))
        if ids or not text_rank.may_be_misspelt:
            return ids
        where = filters  # nothing matched every word: the corrections and trigram fallback
        rank = PostgresBackend._misspelt_rank(session, query, where)
    else:
        rank = text_rank.rank if text_rank else None  # typing a prefix, or browsing
    order = [rank.desc().nulls_last(), Track.id] if rank is not None else [Track.created_at.desc(), Track.id.desc()]
    return list(session.scalars(select(Track.id).where(*where).order_by(*order).limit(limit)))


def _count(session: Session, where: list, condition, cap: int = SIMILARITY_RANK_MAX) -> int:
    """How many tracks match (counting stops at `cap`)."""
    return session.scalar(select(func.count()).select_from(
        select(Track.id).where(*where, condition).limit(cap).subquery())) or 0


def max_edits(word: str) -> int:
    """Typos tolerated in a word (Levenshtein: a swapped pair of letters counts 2): 1, 2 from 4 letters, 3 from 9."""
    return 1 if len(word) < 4 else 2 if len(word) < 9 else 3


_CORRECTIONS = text("""
    SELECT t.term, w.word
    FROM unnest(CAST(:terms AS text[]), CAST(:edits AS int[])) AS t(term, edits)
    CROSS JOIN LATERAL (
        SELECT word FROM search_words
        WHERE left(word, 1) = left(t.term, 1)
          AND length(word) BETWEEN length(t.term) - t.edits AND length(t.term) + t.edits
          AND levenshtein_less_equal(word, t.term, t.edits) <= t.edits
          AND word <> t.term
        ORDER BY levenshtein(word, t.term), word
        LIMIT :per_term
    ) AS w
""")


def _corrected_tsquery(session: Session, words: list[str]) -> str:
    """"daft pnuk" -> "(daft:* | ...) & (pnuk:* | punk | ...)": each word as typed (a prefix) or one of
    its closest vocabulary words (same first letter, within max_edits edits)."""
    alternatives: dict[str, list[str]] = {w: [f"{w}:*"] for w in words}
    rows = session.execute(_CORRECTIONS, {"terms": words, "edits": [max_edits(w) for w in words],
                                          "per_term": CORRECTIONS_PER_WORD})
    for term, word in rows:
        if word.replace("_", "").isalnum():  # vocabulary words are \w+ lexemes; nothing else reaches to_tsquery
            alternatives[term].append(word)
    return " & ".join("(" + " | ".join(alts) + ")" for alts in alternatives.values())
