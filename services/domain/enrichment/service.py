"""Enrichment: platform links found for a library's tracks (the auto-match job), the review queue of
uncertain matches, where each link came from, and each source's last error.

- **Where a link came from**: `Track.link_origins` maps a `*_url` column to "manual" (typed, or cleared,
  by a person: `tracks.service.update_track`) or "matched" (an accepted candidate). A manual link is never
  replaced: the job skips that source for that track, and accepting a review answers 409.
- **The auto-match** (`run_enrichment`, run by `enrichment/jobs.py`): for each source, the library's live
  tracks without that link (and not waiting in the review queue) are searched, their candidates scored with
  `matching.score`; the best at or above `matching.DEFAULT_THRESHOLD` is stored at once, a best at or above
  `matching.REVIEW_FLOOR` goes to the review queue with the scored candidates (best first), anything else is
  "no match" in the job's result. Re-running is idempotent: linked and pending tracks are skipped, and a
  candidate the user rejected is not offered again.
- **Errors**: a `CatalogError` for one track is counted and the job goes on (after
  `MAX_CONSECUTIVE_ERRORS` in a row the platform is taken to be down and that source stops); an auth or quota
  error stops that source at once. Each source's last error (no secrets: the clients redact them) and last
  success are kept in `enrichment_source_status` for the settings page (`last_errors`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import and_, func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from services.common.db import session_scope
from services.common.models import EnrichmentReview, EnrichmentSourceStatus, Library, Track, User
from services.common.settings import Settings, get_settings
from services.domain.access import writable_library
from services.domain.enrichment import matching
from services.domain.enrichment.models import Candidate, TrackQuery
from services.domain.enrichment.sources import base
from services.domain.enrichment.sources.base import (
    CatalogAuthError,
    CatalogError,
    CatalogQuotaExceeded,
    CatalogSource,
    SourceNotConfigured,
)
from services.domain.errors import Conflict, Invalid, NotFound

log = logging.getLogger(__name__)

MANUAL, MATCHED = "manual", "matched"
PENDING, ACCEPTED, REJECTED = "pending", "accepted", "rejected"
ReviewStatus = Literal["pending", "accepted", "rejected"]
CANDIDATES_KEPT = 5  # scored candidates stored with a review (best first)
SEARCH_LIMIT = 5
MAX_CONSECUTIVE_ERRORS = 10  # a platform failing this many tracks in a row is down: stop that source
NO_MATCH_LISTED = 500  # "no match" entries listed in a job result per source (all are counted)
ERROR_MAX = 500  # characters of an error message kept


# --- shapes -----------------------------------------------------------------------------------------


class SourceCounts(BaseModel):
    """One source's tally in a job result."""

    label: str
    url_field: str
    to_search: int = 0
    searched: int = 0
    accepted: int = 0
    review: int = 0
    no_match: int = 0
    errors: int = 0
    already_linked: int = 0  # skipped: the track has this link already
    kept_manual: int = 0  # skipped: cleared by hand (the user's choice is kept)
    pending_review: int = 0  # skipped: already waiting in the review queue
    changed_meanwhile: int = 0  # the track was linked, edited or deleted while it was searched
    stopped: str | None = None  # why this source stopped early (auth, quota, down)
    last_error: str | None = None
    no_match_tracks: list[dict[str, Any]] = Field(default_factory=list)


class EnrichmentResult(BaseModel):
    library_id: int
    sources: dict[str, SourceCounts]
    processed: int
    total: int


class EnrichmentStart(BaseModel):
    job_id: str
    status: str
    created: bool = Field(description="False when a job covering these sources was already queued or running")
    library_id: int
    sources: list[str]


class ReviewCandidate(BaseModel):
    index: int
    url: str
    external_id: str
    artist: str
    title: str
    album: str | None = None
    duration_seconds: float | None = None
    isrc: str | None = None
    preview_url: str | None = None
    score: float
    decision: str
    evidence: dict[str, Any] = Field(default_factory=dict)
    explanation: list[str] = Field(default_factory=list, description="The evidence in words")


class ReviewTrack(BaseModel):
    id: int
    library_id: int
    artist: str | None
    title: str
    album: str | None
    duration_seconds: float | None
    current_url: str | None = Field(description="The track's link on this source now")
    link_origin: str | None = Field(description='"manual" | "matched" | null')


class ReviewView(BaseModel):
    id: int
    source: str
    source_label: str
    url_field: str
    status: str
    created_at: datetime
    decided_at: datetime | None = None
    chosen_index: int | None = None
    track: ReviewTrack
    candidates: list[ReviewCandidate]


class ReviewPage(BaseModel):
    items: list[ReviewView]
    total: int
    limit: int
    offset: int


class SourceHealth(BaseModel):
    """A source for the settings page: configured or why not, and its last error and success."""

    name: str
    label: str
    url_field: str
    configured: bool
    reason: str
    last_error: str | None = None
    last_error_at: datetime | None = None
    last_ok_at: datetime | None = None


# --- sources ----------------------------------------------------------------------------------------


def parse_sources(value: str | Iterable[str] | None) -> list[str]:
    """Source names from "apple,spotify" or a list; empty means every source. Unknown names: Invalid (422)."""
    parts = value.split(",") if isinstance(value, str) else list(value or [])
    names = list(dict.fromkeys(p.strip().lower() for p in parts if p and p.strip()))
    if not names:
        return base.names()
    for name in names:
        base.source_class(name)  # Invalid "unknown_source" naming the known ones
    return names


def require_configured(names: Iterable[str], *, settings: Settings | None = None) -> None:
    """SourceNotConfigured (409) with the first unconfigured source's explanation."""
    settings = settings or get_settings()
    for name in names:
        ok, reason = base.source_class(name).configured(settings)
        if not ok:
            raise SourceNotConfigured(reason)


def url_field(name: str) -> str:
    return base.source_class(name).url_field


def label(name: str) -> str:
    return base.source_class(name).label


def link_origin(track: Track, field: str) -> str | None:
    return (track.link_origins or {}).get(field)


def is_manual(track: Track, field: str) -> bool:
    return link_origin(track, field) == MANUAL


def source_health(*, session: Session, settings: Settings | None = None) -> list[SourceHealth]:
    """Every source: configured or why not, with its last error and last success (the settings page)."""
    errors = last_errors(session=session)
    out = []
    for status in base.statuses(settings=settings):
        row = errors.get(status.name) or {}
        out.append(SourceHealth(name=status.name, label=status.label, url_field=status.url_field,
                                configured=status.configured, reason=status.reason, **row))
    return out


def last_errors(*, session: Session) -> dict[str, dict[str, Any]]:
    """{source: {"last_error", "last_error_at", "last_ok_at"}} for the sources that have run."""
    rows = session.scalars(select(EnrichmentSourceStatus)).all()
    return {r.source: {"last_error": r.last_error, "last_error_at": r.last_error_at, "last_ok_at": r.last_ok_at}
            for r in rows}


def record_source_error(name: str, message: str) -> None:
    """Keep the source's last error (own transaction: the job's other work does not roll it back)."""
    now = datetime.now(UTC)
    message = message[:ERROR_MAX]
    with session_scope() as s:
        s.execute(insert(EnrichmentSourceStatus).values(source=name, last_error=message, last_error_at=now)
                  .on_conflict_do_update(index_elements=["source"],
                                         set_={"last_error": message, "last_error_at": now}))


def record_source_ok(name: str) -> None:
    now = datetime.now(UTC)
    with session_scope() as s:
        s.execute(insert(EnrichmentSourceStatus).values(source=name, last_ok_at=now)
                  .on_conflict_do_update(index_elements=["source"], set_={"last_ok_at": now}))


# --- starting the job -------------------------------------------------------------------------------


def start_enrichment(*, session: Session, user: User, library_id: int,
                     sources: str | Iterable[str] | None) -> EnrichmentStart:
    """Queue the auto-match of a library the user may change (owner, not a friend's import) on these
    sources; 422 for an unknown source, 409 (`source_not_configured`) naming what to set. A job already
    queued or running for the library that covers these sources is returned instead of a second one."""
    from services.domain.enrichment import jobs as enrichment_jobs

    library = writable_library(session=session, user=user, library_id=library_id)
    names = parse_sources(sources)
    require_configured(names)
    job, created = enrichment_jobs.enqueue_enrichment(library_id=library.id, sources=names, user_id=user.id)
    return EnrichmentStart(job_id=job.id, status=enrichment_jobs.status_of(job), created=created,
                           library_id=library.id, sources=list((job.meta or {}).get("sources") or names))


# --- the auto-match ---------------------------------------------------------------------------------


def _query(row: Any) -> TrackQuery:
    return TrackQuery(artist=row.artist or "", title=row.title or "", album=row.album,
                      duration_seconds=row.duration_seconds)


def _tally(session: Session, library_id: int, field: str, name: str) -> dict[str, int]:
    column = getattr(Track, field)
    origin = Track.link_origins[field].astext
    pending = select(EnrichmentReview.id).where(EnrichmentReview.track_pk == Track.id,
                                                EnrichmentReview.source == name,
                                                EnrichmentReview.status == PENDING).exists()
    row = session.execute(
        select(func.count().filter(column.is_not(None)),
               func.count().filter(and_(column.is_(None), origin == MANUAL)),
               func.count().filter(and_(column.is_(None), func.coalesce(origin, "") != MANUAL, pending)))
        .where(Track.library_id == library_id, Track.deleted_at.is_(None))
    ).one()
    return {"already_linked": row[0], "kept_manual": row[1], "pending_review": row[2]}


def _todo(session: Session, library_id: int, field: str, name: str) -> list[Any]:
    column = getattr(Track, field)
    pending = select(EnrichmentReview.id).where(EnrichmentReview.track_pk == Track.id,
                                                EnrichmentReview.source == name,
                                                EnrichmentReview.status == PENDING).exists()
    return list(session.execute(
        select(Track.id, Track.artist, Track.title, Track.album, Track.duration_seconds)
        .where(Track.library_id == library_id, Track.deleted_at.is_(None), column.is_(None),
               func.coalesce(Track.link_origins[field].astext, "") != MANUAL, ~pending)
        .order_by(Track.id)
    ).all())


def _rejected_urls(session: Session, library_id: int, name: str) -> dict[int, set[str]]:
    """Per track: the candidate links the user already rejected on this source (not offered again)."""
    rows = session.execute(
        select(EnrichmentReview.track_pk, EnrichmentReview.candidates)
        .join(Track, Track.id == EnrichmentReview.track_pk)
        .where(Track.library_id == library_id, EnrichmentReview.source == name,
               EnrichmentReview.status == REJECTED)
    ).all()
    out: dict[int, set[str]] = {}
    for track_pk, candidates in rows:
        out.setdefault(track_pk, set()).update(c.get("url") for c in candidates or [] if c.get("url"))
    return out


def scored_candidates(query: TrackQuery, candidates: Iterable[Candidate]) -> list[dict[str, Any]]:
    """Candidates as stored with a review: their fields, score, decision and evidence, best first
    (the same link twice is kept once)."""
    out: dict[str, dict[str, Any]] = {}
    for candidate in candidates:
        match = matching.score(query, candidate)
        item = {**asdict(candidate), "score": match.value, "decision": matching.decide(match),
                "evidence": match.evidence}
        if candidate.url not in out or out[candidate.url]["score"] < item["score"]:
            out[candidate.url] = item
    return sorted(out.values(), key=lambda c: c["score"], reverse=True)


def _apply(*, track_pk: int, name: str, field: str, scored: list[dict[str, Any]], job_id: str | None) -> str:
    """Store one track's outcome: "accepted", "review", or "changed" when it no longer needs the link."""
    best = scored[0]
    with session_scope() as s:
        track = s.scalar(select(Track).where(Track.id == track_pk).with_for_update())
        if track is None or track.deleted_at is not None or getattr(track, field) or is_manual(track, field):
            return "changed"
        if best["decision"] == "accept":
            setattr(track, field, best["url"])
            track.link_origins = {**(track.link_origins or {}), field: MATCHED}
            return "accepted"
        s.execute(insert(EnrichmentReview).values(
            track_pk=track_pk, source=name, candidates=scored[:CANDIDATES_KEPT], status=PENDING, job_id=job_id,
        ).on_conflict_do_nothing(index_elements=["track_pk", "source"], index_where=text("status = 'pending'")))
        return "review"


ProgressFn = Callable[[dict[str, Any]], None]


def run_enrichment(*, library_id: int, clients: dict[str, CatalogSource], job_id: str | None = None,
                   progress: ProgressFn | None = None, concurrency: int | None = None,
                   unavailable: dict[str, str] | None = None) -> EnrichmentResult:
    """Match the library's tracks on each source in `clients` (name -> a ready client). `unavailable`:
    sources that could not be built, with the reason (reported as stopped). Searches run `concurrency` at a
    time (the clients bound requests per platform themselves); every database write is its own short
    transaction, so a killed job keeps what it did and the next run resumes."""
    progress = progress or (lambda _p: None)
    concurrency = max(1, concurrency or get_settings().enrichment_concurrency)
    counts: dict[str, SourceCounts] = {}
    todo: dict[str, list[Any]] = {}
    rejected: dict[str, dict[int, set[str]]] = {}
    with session_scope() as s:
        for name, client in clients.items():
            field = client.url_field
            counts[name] = SourceCounts(label=client.label, url_field=field, **_tally(s, library_id, field, name))
            todo[name] = _todo(s, library_id, field, name)
            counts[name].to_search = len(todo[name])
            rejected[name] = _rejected_urls(s, library_id, name)
    for name, reason in (unavailable or {}).items():
        cls = base.source_class(name)
        counts[name] = SourceCounts(label=cls.label, url_field=cls.url_field, stopped=reason)
    total = sum(len(rows) for rows in todo.values())
    done = 0
    progress({"stage": "matching", "percent": 0, "processed": 0, "total": total})

    for name, client in clients.items():
        tally, field, rows = counts[name], client.url_field, todo[name]
        consecutive_errors = handled = 0
        step = concurrency * 2
        with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix=f"enrich-{name}") as pool:
            for start in range(0, len(rows), step):
                chunk = rows[start:start + step]
                futures: list[tuple[Any, Future]] = [
                    (row, pool.submit(client.search, _query(row), limit=SEARCH_LIMIT)) for row in chunk]
                for i, (row, future) in enumerate(futures):
                    try:
                        candidates = future.result()
                    except (CatalogAuthError, CatalogQuotaExceeded) as exc:
                        tally.stopped = tally.last_error = exc.detail
                        record_source_error(name, exc.detail)
                    except CatalogError as exc:
                        tally.errors += 1
                        tally.last_error = exc.detail
                        record_source_error(name, exc.detail)
                        consecutive_errors += 1
                        if consecutive_errors >= MAX_CONSECUTIVE_ERRORS:
                            tally.stopped = (f"{client.label} failed {consecutive_errors} tracks in a row "
                                             f"(last: {exc.detail}); stopped")
                    else:
                        consecutive_errors = 0
                        tally.searched += 1
                        _outcome(tally, row=row, name=name, field=field, candidates=candidates,
                                 rejected=rejected[name].get(row.id, set()), job_id=job_id)
                    done += 1
                    handled += 1
                    progress({"stage": f"matching on {client.label}", "source": name, "processed": done,
                              "total": total, "percent": int(done * 100 / total) if total else 100})
                    if tally.stopped:
                        for _row, rest in futures[i + 1:]:
                            rest.cancel()
                        break
                if tally.stopped:
                    break
        if tally.stopped:
            done += len(rows) - handled  # the rest of this source is not searched
        elif tally.searched:
            record_source_ok(name)
    progress({"stage": "done", "percent": 100, "processed": total, "total": total})
    return EnrichmentResult(library_id=library_id, sources=counts, processed=done, total=total)


def _outcome(tally: SourceCounts, *, row: Any, name: str, field: str, candidates: list[Candidate],
             rejected: set[str], job_id: str | None) -> None:
    query = _query(row)
    offered = [c for c in candidates if c.url not in rejected]
    scored = scored_candidates(query, offered)
    if not scored or scored[0]["decision"] == "reject":
        tally.no_match += 1
        if len(tally.no_match_tracks) < NO_MATCH_LISTED:
            why = ("nothing found" if not candidates else "only candidates you rejected" if not offered
                   else f"no candidate close enough (best {scored[0]['score']:.2f})")
            tally.no_match_tracks.append({"track_pk": row.id, "artist": row.artist, "title": row.title, "why": why})
        return
    outcome = _apply(track_pk=row.id, name=name, field=field, scored=scored, job_id=job_id)
    if outcome == "accepted":
        tally.accepted += 1
    elif outcome == "review":
        tally.review += 1
    else:
        tally.changed_meanwhile += 1


# --- evidence in words ------------------------------------------------------------------------------


def _similarity_words(what: str, value: float | None) -> str:
    if value is None:
        return f"{what}: written in another script, cannot be compared"
    if value >= 0.97:
        return f"{what} matches"
    if value >= 0.85:
        return f"{what} nearly matches ({value:.0%})"
    return f"{what} differs ({value:.0%} alike)"


def explain(evidence: dict[str, Any]) -> list[str]:
    """A candidate's evidence in words: artist, title, duration, version, ISRC, album."""
    words = [_similarity_words("Artist", evidence.get("artist_similarity")),
             _similarity_words("Title", evidence.get("title_similarity"))]
    delta = evidence.get("duration_delta_seconds")
    if delta is None:
        words.append("Duration unknown on one side")
    elif delta <= 3:
        words.append("Same duration" if delta < 1 else f"Duration within {delta:.0f} s")
    else:
        words.append(f"Duration differs by {delta:.0f} s")
    version = evidence.get("version")
    q_tags, c_tags = evidence.get("query_tags") or [], evidence.get("candidate_tags") or []
    if version == "agree":
        words.append("Same version" + (f" ({', '.join(q_tags)})" if q_tags else ""))
    elif version:
        words.append(f"Other version: {', '.join(q_tags) or 'original'} vs {', '.join(c_tags) or 'original'}")
    if evidence.get("isrc_equal") is True:
        words.append("Same ISRC (recording code)")
    elif evidence.get("isrc_equal") is False:
        words.append("Different ISRC")
    album = evidence.get("album_similarity")
    if album is not None and album >= 0.9:
        words.append("Same album")
    if evidence.get("incomparable_scripts"):
        words.append("Names in different scripts: check by ear")
    return words


# --- the review queue -------------------------------------------------------------------------------


def _writable_library_ids(user: User):
    return select(Library.id).where(Library.owner_id == user.id, Library.is_friend.is_(False))


def _view(review: EnrichmentReview, track: Track) -> ReviewView:
    cls = base.source_class(review.source)
    field = cls.url_field
    candidates = []
    for i, c in enumerate(review.candidates or []):
        evidence = c.get("evidence") or {}
        candidates.append(ReviewCandidate(
            index=i, url=c.get("url") or "", external_id=str(c.get("external_id") or ""),
            artist=c.get("artist") or "", title=c.get("title") or "", album=c.get("album"),
            duration_seconds=c.get("duration_seconds"), isrc=c.get("isrc"), preview_url=c.get("preview_url"),
            score=float(c.get("score") or 0), decision=c.get("decision") or "review", evidence=evidence,
            explanation=explain(evidence),
        ))
    return ReviewView(
        id=review.id, source=review.source, source_label=cls.label, url_field=field, status=review.status,
        created_at=review.created_at, decided_at=review.decided_at, chosen_index=review.chosen_index,
        track=ReviewTrack(id=track.id, library_id=track.library_id, artist=track.artist, title=track.title,
                          album=track.album, duration_seconds=track.duration_seconds,
                          current_url=getattr(track, field), link_origin=link_origin(track, field)),
        candidates=candidates,
    )


def list_reviews(*, session: Session, user: User, library_id: int | None = None, source: str | None = None,
                 status: ReviewStatus = PENDING, limit: int = 50, offset: int = 0) -> ReviewPage:
    """Reviews of tracks the user may change, oldest first (the order the wizard steps through)."""
    if library_id is not None:
        writable_library(session=session, user=user, library_id=library_id)
    if source:
        base.source_class(source)
    conditions = [EnrichmentReview.status == status, Track.deleted_at.is_(None),
                  Track.library_id.in_(_writable_library_ids(user))]
    if library_id is not None:
        conditions.append(Track.library_id == library_id)
    if source:
        conditions.append(EnrichmentReview.source == source)
    joined = select(EnrichmentReview, Track).join(Track, Track.id == EnrichmentReview.track_pk).where(*conditions)
    total = session.scalar(select(func.count()).select_from(joined.subquery())) or 0
    rows = session.execute(joined.order_by(EnrichmentReview.created_at, EnrichmentReview.id)
                           .limit(limit).offset(offset)).all()
    return ReviewPage(items=[_view(r, t) for r, t in rows], total=total, limit=limit, offset=offset)


def _review_for_write(session: Session, user: User, review_id: int) -> tuple[EnrichmentReview, Track]:
    row = session.execute(
        select(EnrichmentReview, Track).join(Track, Track.id == EnrichmentReview.track_pk)
        .where(EnrichmentReview.id == review_id, Track.library_id.in_(_writable_library_ids(user)))
        .with_for_update(of=[EnrichmentReview, Track])
    ).first()
    if row is None:
        raise NotFound("review not found")
    review, track = row
    if review.status != PENDING:
        raise Conflict(f"this suggestion was already {review.status}", code="review_decided")
    if track.deleted_at is not None:
        raise Conflict("track is deleted: restore it first", code="track_deleted")
    return review, track


def get_review(*, session: Session, user: User, review_id: int) -> ReviewView:
    row = session.execute(
        select(EnrichmentReview, Track).join(Track, Track.id == EnrichmentReview.track_pk)
        .where(EnrichmentReview.id == review_id, Track.library_id.in_(_writable_library_ids(user)))
    ).first()
    if row is None:
        raise NotFound("review not found")
    return _view(*row)


def accept_review(*, session: Session, user: User, review_id: int, candidate_index: int | None = None) -> ReviewView:
    """Set the track's link to the chosen candidate (the best when none is chosen), origin "matched";
    409 when the user set that link by hand meanwhile (it is kept)."""
    review, track = _review_for_write(session, user, review_id)
    candidates = review.candidates or []
    index = 0 if candidate_index is None else candidate_index
    if not 0 <= index < len(candidates):
        raise Invalid(f"candidate_index must be from 0 to {len(candidates) - 1}", code="bad_candidate")
    cls = base.source_class(review.source)
    field = cls.url_field
    current = getattr(track, field)
    if current and is_manual(track, field):
        raise Conflict(f"the {cls.label} link of this track was set by hand meanwhile ({current}) and is kept; "
                       "reject this suggestion, or clear the link on the track's page first",
                       code="link_set_by_hand")
    chosen = candidates[index]
    setattr(track, field, chosen["url"])
    track.link_origins = {**(track.link_origins or {}), field: MATCHED}
    review.status, review.chosen_index, review.chosen = ACCEPTED, index, chosen
    review.decided_at, review.decided_by = datetime.now(UTC), user.id
    session.flush()
    return _view(review, track)


def reject_review(*, session: Session, user: User, review_id: int) -> ReviewView:
    """None of the candidates is the track: the link stays empty, and these candidates are not offered again."""
    review, track = _review_for_write(session, user, review_id)
    review.status, review.decided_at, review.decided_by = REJECTED, datetime.now(UTC), user.id
    session.flush()
    return _view(review, track)
