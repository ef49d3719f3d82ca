"""Audio and analysis of a track: attach an upload, queue an analysis, follow it, read the result."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, Field
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from services.common.contracts.analysis import ANALYZER_VERSION
from services.common.models import Track, User
from services.common.settings import get_settings
from services.domain import jobs
from services.domain.access import readable_library, writable_library
from services.domain.analysis import audio
from services.domain.analysis.jobs import AnalysisJobState, enqueue_analysis, enqueue_analysis_once, job_state
from services.domain.errors import Conflict, DomainError, NotFound
from services.domain.jobs import BatchQueued
from services.domain.tracks.service import get_track, writable_track


@dataclass(frozen=True)
class AudioUpload:
    track: Track
    analysis: AnalysisJobState | None = None  # the analysis queued for the new audio
    analysis_error: str | None = None  # why none was queued although one was asked for


def upload_audio(*, session: Session, user: User, track_pk: int, filename: str, chunks: Iterable[bytes],
                 analyze: bool | None = None) -> AudioUpload:
    """Attach an audio file to one of the user's tracks (streamed to disk, ANALYSIS_MAX_UPLOAD_MB) and, unless
    `analyze` is False (None: ANALYZE_UPLOADS), queue its analysis. The audio is kept when the analysis cannot
    be queued (queue down, the user's job cap): the answer says why, and the Analyse button still works."""
    track = writable_track(session=session, user=user, track_pk=track_pk, live=False)
    settings = get_settings()
    audio.attach_audio(track=track, audio_dir=settings.resolved_audio_dir, filename=filename, chunks=chunks,
                       max_bytes=settings.analysis_max_upload_mb * 1024 * 1024)
    return analyse_new_audio(session=session, user=user, track=track, analyze=analyze)


def analyse_new_audio(*, session: Session, user: User, track: Track, analyze: bool | None = None) -> AudioUpload:
    """After a track got new audio from the user: unless `analyze` is False (None: ANALYZE_UPLOADS), commit and
    queue its analysis; a queue that cannot take it is said in `analysis_error`, the audio is kept."""
    session.flush()
    if not (get_settings().analyze_uploads if analyze is None else analyze):
        return AudioUpload(track=track)
    session.commit()  # the worker reads the new file's path from the database
    try:
        with jobs.queue_errors():
            state = job_state(enqueue_analysis(track=track, user_id=user.id))
    except DomainError as exc:
        return AudioUpload(track=track, analysis_error=exc.detail)
    return AudioUpload(track=track, analysis=state)


def request_analysis(*, session: Session, user: User, track_pk: int) -> AnalysisJobState:
    """Queue an analysis of the track's audio; the new result replaces the old one when it finishes."""
    track = writable_track(session=session, user=user, track_pk=track_pk)
    if not track.local_audio_path:
        raise Conflict("the track has no audio yet: upload or download it first", code="no_audio")
    with jobs.queue_errors():
        return job_state(enqueue_analysis(track=track, user_id=user.id))


def analysis_job(*, session: Session, user: User, job_id: str, track_pk: int | None = None) -> AnalysisJobState:
    """Live state of an analysis job the user may see (optionally: of this track)."""
    with jobs.queue_errors():
        job = jobs.fetch_job(job_id, kind="analysis")
        if job is None or (track_pk is not None and job.meta.get("track_pk") != track_pk):
            raise NotFound("job not found")
        readable_library(session=session, user=user, library_id=int(job.meta["library_id"]))
        return job_state(job)


def track_analysis(*, session: Session, user: User, track_pk: int) -> dict:
    track = get_track(session=session, user=user, track_pk=track_pk)
    if not track.analysis:
        raise NotFound("the track has not been analysed", code="not_analysed")
    return track.analysis


# --- a library's tracks in one request ------------------------------------------------------------

AnalyseWhich = Literal["missing", "outdated"]


def _needs_analysis(which: AnalyseWhich):
    """Tracks with audio that were never analysed ("missing"), or also those analysed by an older analyzer
    than the service's (`outdated`: its results may differ now)."""
    never = Track.analyzed_at.is_(None)
    if which == "missing":
        return never
    return or_(never, Track.analyzer_version.is_distinct_from(ANALYZER_VERSION))


class LibraryAnalysis(BaseModel):
    with_audio: int = Field(description="live tracks with audio")
    missing: int = Field(description="of those, never analysed")
    outdated: int = Field(description="of those, analysed by an older analyzer than `analyzer_version`")
    without_audio: int = Field(0, description="live tracks without audio yet")
    analyzer_version: str = ANALYZER_VERSION


def library_analysis(*, session: Session, user: User, library_id: int) -> LibraryAnalysis:
    """How much of a library the user may read is analysed."""
    readable_library(session=session, user=user, library_id=library_id)
    has_audio = Track.local_audio_path.is_not(None)
    row = session.execute(
        select(func.count().filter(has_audio), func.count().filter(has_audio, _needs_analysis("missing")),
               func.count().filter(has_audio, _needs_analysis("outdated")), func.count())
        .where(Track.library_id == library_id, Track.deleted_at.is_(None))).one()
    return LibraryAnalysis(with_audio=row[0], missing=row[1], outdated=row[2] - row[1], without_audio=row[3] - row[0])


def analyse_library(*, session: Session, user: User, library_id: int, which: AnalyseWhich = "missing") -> BatchQueued:
    """Queue the analysis of the library's tracks that need one (`which`), one live analysis per track, at most
    BATCH_MAX per request and within the user's job cap (the rest are counted as skipped, with why)."""
    library = writable_library(session=session, user=user, library_id=library_id)
    query = (select(Track).where(Track.library_id == library.id, Track.deleted_at.is_(None),
                                 Track.local_audio_path.is_not(None), _needs_analysis(which)).order_by(Track.id))
    return jobs.queue_batch(session.scalars(query).yield_per(500),
                            lambda track: enqueue_analysis_once(track=track, user_id=user.id))
