"""The default search backend: Postgres alone (no extra server).

Text: a weighted, accent-folded tsvector (prefix matching while typing) OR a trigram word
similarity on "artist title" (typos), both kept by the database (migration 0004) and GIN-indexed.
Ranking: tsvector rank + trigram similarity + a bonus for an exact title or "artist title".
Facets are counted over the whole match in one more query.
"""

from __future__ import annotations

from sqlalchemy import (
    Float,
    Integer,
    Text,
    and_,
    case,
    cast,
    exists,
    false,
    func,
    literal,
    not_,
    or_,
    select,
    union_all,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from services.common.models import PlaylistTrack, Track
from services.domain.search.base import Hits, Scope, SearchBackend, register
from services.domain.search.models import BPM_BUCKET, FacetCount, Facets, SearchQuery
from services.domain.search.text import terms

WORD_SIMILARITY = 0.5  # pg_trgm.word_similarity_threshold for typo matches
FACET_LIMIT = 30  # values kept for genres and styles (the most frequent)
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


def _text_match(query: SearchQuery):
    """(condition, rank) for the free text; (None, None) when browsing."""
    words = terms(query.q)
    if not words:
        return None, None
    tsquery = func.to_tsquery("simple", " & ".join(f"{w}:*" for w in words))
    folded = func.djp_fold(query.q)
    condition = or_(Track.search_vector.op("@@")(tsquery), folded.op("<%")(Track.search_text))
    exact = case((or_(func.djp_fold(Track.title) == folded, Track.search_text == folded), EXACT_BONUS), else_=0.0)
    rank = (
        func.ts_rank_cd(Track.search_vector, tsquery)
        + func.word_similarity(folded, Track.search_text)
        + func.similarity(folded, Track.search_text)
        + exact
    )
    return condition, rank


def _facets(session: Session, where: list) -> tuple[int, Facets]:
    m = select(Track.genres, Track.styles, Track.camelot, Track.bpm, Track.energy, Track.library_id).where(
        *where
    ).cte("m")
    bucket = cast(func.floor(m.c.bpm / BPM_BUCKET) * BPM_BUCKET, Integer)
    parts = union_all(
        select(literal("_total").label("facet"), literal("").label("value")).select_from(m),
        select(literal("genres"), func.unnest(m.c.genres)),
        select(literal("styles"), func.unnest(m.c.styles)),
        select(literal("camelot"), m.c.camelot).where(m.c.camelot.is_not(None)),
        select(literal("bpm"), cast(bucket, Text)).where(m.c.bpm.is_not(None)),
        select(literal("energy"), cast(cast(func.round(cast(m.c.energy, Float)), Integer), Text)).where(
            m.c.energy.is_not(None)
        ),
        select(literal("library"), cast(m.c.library_id, Text)),
    ).subquery("f")
    rows = session.execute(
        select(parts.c.facet, parts.c.value, func.count()).group_by(parts.c.facet, parts.c.value)
    ).all()
    total, found = 0, {}
    for facet, value, count in rows:
        if facet == "_total":
            total = count
        else:
            found.setdefault(facet, []).append(FacetCount(value=value, count=count))
    for facet in ("genres", "styles", "library"):
        found[facet] = sorted(found.get(facet, []), key=lambda f: (-f.count, f.value))[:FACET_LIMIT]
    found["camelot"] = sorted(found.get("camelot", []), key=lambda f: (int(f.value[:-1]), f.value[-1]))
    for facet in ("bpm", "energy"):
        found[facet] = sorted(found.get(facet, []), key=lambda f: int(f.value))
    for f in found["bpm"]:
        f.value = f"{f.value}-{int(f.value) + BPM_BUCKET}"
    return total, Facets(**found)


@register
class PostgresBackend(SearchBackend):
    name = "postgres"

    def search(self, *, session: Session, query: SearchQuery, scope: Scope) -> Hits:
        if not scope.libraries:
            return Hits(ids=[], total=0)
        # For this transaction only: how close a misspelt query must be to "artist title".
        session.execute(select(func.set_config("pg_trgm.word_similarity_threshold", str(WORD_SIMILARITY), True)))
        where = _filters(query, scope)
        condition, rank = _text_match(query)
        if condition is not None:
            where.append(condition)
        field = query.sort_field
        if field == "relevance":
            order = [rank.desc()] if rank is not None else [Track.created_at.desc()]
        else:
            order = [c.desc().nulls_last() if query.descending else c.asc().nulls_last() for c in SORTS[field]]
        ids = session.scalars(
            select(Track.id).where(and_(*where)).order_by(*order, Track.id).limit(query.limit).offset(query.offset)
        ).all()
        total, facets = _facets(session, where)
        return Hits(ids=list(ids), total=total, facets=facets)
