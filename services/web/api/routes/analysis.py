"""Audio and analysis of a track: upload its audio, queue an analysis, follow the job, read the result."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, HTTPException, UploadFile, status
from pydantic import BaseModel
from redis.exceptions import RedisError

from services.common.settings import get_settings
from services.web.analysis import jobs
from services.web.analysis.audio import AudioPathError
from services.web.analysis.service import AudioTooLarge, attach_audio
from services.web.api.deps import CurrentUser, SessionDep, get_visible_library, get_writable_library
from services.web.collection.albums import get_track

router = APIRouter(tags=["analysis"])
CHUNK = 1024 * 1024


class AnalysisJobState(BaseModel):
    job_id: str
    status: str
    stage: str | None
    percent: int
    track_id: int | None
    error: str | None


class AudioAttached(BaseModel):
    track_id: int
    local_audio_path: str


def _queue_unavailable(exc: RedisError) -> HTTPException:
    return HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, f"job queue unavailable ({type(exc).__name__})")


@router.post(
    "/api/tracks/{track_pk}/audio", response_model=AudioAttached, status_code=status.HTTP_201_CREATED
)
def upload_audio(
    track_pk: int, file: Annotated[UploadFile, File()], user: CurrentUser, session: SessionDep
) -> AudioAttached:
    """Attach an audio file (mp3, m4a, flac, wav, aiff, ogg, opus) to one of your tracks."""
    track = get_track(session=session, user=user, track_pk=track_pk)
    get_writable_library(session, user, track.library_id)
    settings = get_settings()
    chunks = iter(lambda: file.file.read(CHUNK), b"")  # streamed to disk, never all in memory
    try:
        rel = attach_audio(
            track=track,
            audio_dir=settings.resolved_audio_dir,
            filename=file.filename or "",
            chunks=chunks,
            max_bytes=settings.analysis_max_upload_mb * 1024 * 1024,
        )
    except AudioTooLarge as exc:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, str(exc)) from None
    except AudioPathError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    session.flush()
    return AudioAttached(track_id=track.id, local_audio_path=rel)


@router.post(
    "/api/tracks/{track_pk}/analyze", response_model=AnalysisJobState, status_code=status.HTTP_202_ACCEPTED
)
def analyze_track(track_pk: int, user: CurrentUser, session: SessionDep) -> dict[str, Any]:
    """Queue an analysis of the track's audio; a new analysis replaces the old one when it finishes."""
    track = get_track(session=session, user=user, track_pk=track_pk)
    get_writable_library(session, user, track.library_id)
    if track.deleted_at is not None:
        raise HTTPException(status.HTTP_409_CONFLICT, "track is deleted: restore it first")
    if not track.local_audio_path:
        raise HTTPException(
            status.HTTP_409_CONFLICT, "the track has no audio yet: upload or download it first"
        )
    try:
        return jobs.analysis_job_state(jobs.enqueue_analysis(track=track))
    except RedisError as exc:
        raise _queue_unavailable(exc) from None


@router.get("/api/analysis/jobs/{job_id}", response_model=AnalysisJobState)
def analysis_job(job_id: str, user: CurrentUser, session: SessionDep) -> dict[str, Any]:
    """Live state of an analysis job: status, stage, percent, and the error if it failed."""
    try:
        job = jobs.fetch_analysis_job(job_id)
        if job is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "job not found")
        get_visible_library(session, user, int(job.meta["library_id"]))
        return jobs.analysis_job_state(job)
    except RedisError as exc:
        raise _queue_unavailable(exc) from None


@router.get("/api/tracks/{track_pk}/analysis")
def track_analysis(track_pk: int, user: CurrentUser, session: SessionDep) -> dict[str, Any]:
    """The full analysis JSON (beats, key candidates, energy features, waveform, ...)."""
    track = get_track(session=session, user=user, track_pk=track_pk)
    if not track.analysis:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "the track has not been analysed")
    return track.analysis
