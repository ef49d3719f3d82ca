"""A DJ's own audio files, matched to the tracks of a library by their tags (or names) and attached.

The way Rekordbox and Lexicon "import a folder" and beets matches a library: every file is read (tags, else
its name), the library's tracks that could be it are found by the track search (typo-tolerant, Postgres,
the source of truth), and each is scored by the enrichment matcher (`enrichment.matching.score`: artist
and title similarity, versions, duration; its tuned threshold). A file is attached only to a clear winner;
a close call is returned with its candidates for the DJ to choose, and a file with no candidate is left
alone. A track that already has audio keeps it unless `replace` is asked.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.common.models import Album, Track, User
from services.common.settings import get_settings
from services.domain.access import writable_library
from services.domain.analysis import audio
from services.domain.analysis.jobs import AnalysisJobState
from services.domain.analysis.service import analyse_new_audio
from services.domain.collection.albums import add_album_tracks, create_manual_album
from services.domain.enrichment.matching import DEFAULT_THRESHOLD, REVIEW_FLOOR, normalize_title, score
from services.domain.enrichment.models import Candidate, TrackQuery
from services.domain.local_audio.tags import FileTags, read_tags
from services.domain.search.base import backend_class
from services.domain.search.models import SearchQuery
from services.domain.search.service import search_tracks
from services.domain.tracks.service import writable_track

#: A winner must beat the runner-up by this much when both pass the threshold (the same track on two
#: records of one library, an edit and its original that the tags cannot tell apart: the DJ chooses).
MARGIN = 0.1
#: Below the threshold but the only candidate worth showing, and as long as the file (within 3 s): a match.
SOLE_MATCH_FLOOR = 0.7
SAME_LENGTH_SECONDS = 3.0
CANDIDATES_PER_QUERY = 10
SHOWN_CANDIDATES = 5

MatchStatus = Literal["matched", "ambiguous", "unmatched"]
ImportStatus = Literal["attached", "created", "has_audio", "ambiguous", "unmatched", "matched"]
#: Where files that match no track go when they are added as tracks of their own, when their tags name no album.
LOOSE_FILES = "Loose files"
UNKNOWN_ARTIST = "Unknown artist"


class TrackCandidate(BaseModel):
    track_pk: int
    title: str
    artist: str | None
    album: str | None
    position: str | None
    has_audio: bool
    score: float = Field(description=f"0..1 (the enrichment matcher's): a match from {DEFAULT_THRESHOLD} with a "
                         f"{MARGIN} lead over any other track that passes, or from {SOLE_MATCH_FLOOR} when it is the "
                         f"only candidate and as long as the file")


@dataclass(frozen=True, slots=True)
class FileMatch:
    """`track_pk`: the clear winner when `status` is "matched"; `candidates`: the best scored, best first."""

    tags: FileTags
    status: MatchStatus
    track_pk: int | None = None
    score: float | None = None
    candidates: list[TrackCandidate] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class FileImport:
    """One file's outcome. `status`: attached (stored as the track's audio), created (it matched no track and
    became a new one, `add_unmatched`), has_audio (matched, but the track has audio and `replace` was not
    asked), ambiguous or unmatched (nothing stored), matched (a dry run: would be attached)."""

    filename: str
    status: ImportStatus
    match: FileMatch
    local_audio_path: str | None = None
    analysis: AnalysisJobState | None = None
    analysis_error: str | None = None


def _search_texts(tags: FileTags) -> list[str]:
    """Artist and title together, then the title alone, then the artist alone (a misspelt title): the
    search ANDs its words, so one wrong or extra word must not hide the track."""
    title = (normalize_title(tags.title, artist=tags.artist).base or tags.title or "").strip()
    artist = (tags.artist or "").strip()
    texts = [f"{artist} {title}".strip(), title, artist]
    return list(dict.fromkeys(t[:200] for t in texts if t))


def match_tags(*, session: Session, user: User, library_id: int, tags: FileTags) -> FileMatch:
    """The library's track these tags name, if one stands out; the library must be the user's to change."""
    writable_library(session=session, user=user, library_id=library_id)
    postgres = backend_class("postgres")()  # the source of truth: a track made a second ago is found
    found: dict[int, object] = {}
    for text in _search_texts(tags):
        query = SearchQuery(q=text, library_id=[library_id], limit=CANDIDATES_PER_QUERY)
        for item in search_tracks(session=session, user=user, query=query, backend=postgres).items:
            found.setdefault(item.id, item)
    file_side = Candidate(source="file", url="", external_id="", artist=tags.artist or "", title=tags.title or "",
                          album=tags.album, duration_seconds=tags.duration_seconds, isrc=tags.isrc)
    scored, same_length = [], set()
    for item in found.values():
        track = TrackQuery(artist=item.artist or "", title=item.title, album=item.album,
                           duration_seconds=item.duration_seconds)
        result = score(track, file_side)
        delta = result.evidence.get("duration_delta_seconds")
        if delta is not None and delta <= SAME_LENGTH_SECONDS:
            same_length.add(item.id)
        scored.append(TrackCandidate(track_pk=item.id, title=item.title, artist=item.artist, album=item.album,
                                     position=item.position, has_audio=item.has_audio, score=result.value))
    scored.sort(key=lambda c: (-c.score, c.track_pk))
    shown = [c for c in scored if c.score >= REVIEW_FLOOR][:SHOWN_CANDIDATES]
    if not shown:
        return FileMatch(tags=tags, status="unmatched")
    best = shown[0]
    runner_up = shown[1].score if len(shown) > 1 else 0.0
    clear = best.score >= DEFAULT_THRESHOLD and (runner_up < DEFAULT_THRESHOLD or best.score - runner_up >= MARGIN)
    # A misspelt tag scores below the threshold; the only candidate, of the file's very length, is still it.
    sole = best.score >= SOLE_MATCH_FLOOR and len(shown) == 1 and best.track_pk in same_length
    if clear or sole:
        return FileMatch(tags=tags, status="matched", track_pk=best.track_pk, score=best.score, candidates=shown)
    return FileMatch(tags=tags, status="ambiguous", candidates=shown)


def preview_file(*, session: Session, user: User, library_id: int, path: Path) -> FileImport:
    """What importing this file would do, without copying anything (`djp audio import --dry-run`): status
    matched (would be attached), has_audio, ambiguous or unmatched."""
    match = match_tags(session=session, user=user, library_id=library_id, tags=read_tags(path))
    outcome = _outcome(session=session, user=user, filename=path.name, match=match, replace=False)
    if isinstance(outcome, FileImport):
        return outcome
    return FileImport(filename=path.name, status="matched", match=match)


def import_file(*, session: Session, user: User, library_id: int, filename: str, chunks: Iterable[bytes],
                replace: bool = False, analyze: bool | None = None, add_unmatched: bool = False) -> FileImport:
    """Receive one file (streamed, ANALYSIS_MAX_UPLOAD_MB enforced while reading, proven to be audio by
    decoding it), match it to a track of the library and, when one stands out, attach it and queue its
    analysis (`analyze`, default ANALYZE_UPLOADS). `add_unmatched`: a file no track resembles becomes a track
    of its own (on a record made by hand named by its album tag, else LOOSE_FILES). Nothing is kept of a file
    that is not attached."""
    writable_library(session=session, user=user, library_id=library_id)
    settings = get_settings()
    audio_dir = settings.resolved_audio_dir
    received, duration = audio.receive_file(audio_dir=audio_dir, filename=filename, chunks=chunks,
                                            max_bytes=settings.analysis_max_upload_mb * 1024 * 1024)
    try:
        tags = read_tags(received, filename=filename)
        if tags.duration_seconds is None:  # no length in the tags (a raw stream): the decoder measured it
            tags = tags.model_copy(update={"duration_seconds": round(duration, 2)})
        match = match_tags(session=session, user=user, library_id=library_id, tags=tags)
        outcome = _outcome(session=session, user=user, filename=filename, match=match, replace=replace)
        if add_unmatched and match.status == "unmatched":
            outcome = _new_track(session=session, user=user, library_id=library_id, tags=tags)
        if isinstance(outcome, FileImport):
            return outcome
        rel = audio.place_file(track=outcome, audio_dir=audio_dir, received=received, filename=filename,
                               duration=duration,
                               source={"method": "import", "matched_by": tags.source, "score": match.score})
    finally:
        received.unlink(missing_ok=True)
    done = analyse_new_audio(session=session, user=user, track=outcome, analyze=analyze)
    created = match.status == "unmatched"
    if created:
        match = FileMatch(tags=tags, status="matched", track_pk=outcome.id)
    return FileImport(filename=filename, status="created" if created else "attached", match=match,
                      local_audio_path=rel, analysis=done.analysis, analysis_error=done.analysis_error)


def _new_track(*, session: Session, user: User, library_id: int, tags: FileTags) -> Track:
    """A track for a file that matches none: on the library's record made by hand with the file's album and
    artist (found case-insensitively, else made), as typed-in tracklists are."""
    artist = (tags.artist or "").strip() or UNKNOWN_ARTIST
    title = (tags.album or "").strip() or LOOSE_FILES
    album = session.scalar(select(Album).where(
        Album.library_id == library_id, Album.release_id < 0, Album.deleted_at.is_(None),
        func.lower(Album.title) == title.lower(),
        func.lower(Album.artist) == (artist if tags.album else UNKNOWN_ARTIST).lower()).order_by(Album.id).limit(1))
    if album is None:
        album = create_manual_album(session=session, user=user, library_id=library_id, title=title,
                                    artist=artist if tags.album else UNKNOWN_ARTIST, year=None, label=None,
                                    catalog_number=None, format="File", genres=[], styles=[], notes=None, tracks=[])
    [track] = add_album_tracks(session=session, user=user, album_id=album.id, tracks=[{
        "title": (tags.title or "").strip()[:500] or "Untitled", "artist": tags.artist,
        "duration": tags.duration_seconds if tags.duration_seconds and 0 < tags.duration_seconds <= 86400 else None}])
    return track


def _outcome(*, session: Session, user: User, filename: str, match: FileMatch, replace: bool) -> Track | FileImport:
    """The track to attach the file to, or the answer when there is none (no clear match, audio kept)."""
    if match.status != "matched" or match.track_pk is None:
        return FileImport(filename=filename, status=match.status, match=match)
    track = writable_track(session=session, user=user, track_pk=match.track_pk)
    if track.local_audio_path and not replace:
        return FileImport(filename=filename, status="has_audio", match=match, local_audio_path=track.local_audio_path)
    return track
