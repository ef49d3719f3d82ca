"""Audio and analysis of a track: upload its audio, queue an analysis, follow the job, read the result."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, status
from pydantic import BaseModel, Field

from services.domain.analysis import service
from services.domain.analysis.jobs import AnalysisJobState
from services.domain.jobs import BatchQueued
from services.common.settings import get_settings
from services.web.api.deps import CurrentUser, SessionDep
from services.web.api.uploads import StreamedFile

router = APIRouter(tags=["analysis"])


class AudioAttached(BaseModel):
    track_pk: int
    local_audio_path: str
    analysis: AnalysisJobState | None = Field(None, description="The analysis queued for the new audio")
    analysis_error: str | None = Field(None, description="Why no analysis was queued although one was asked "
                                       "for (the audio is kept: POST /api/tracks/{pk}/analyze later)")


UPLOAD_BODY = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["file"], "properties": {"file": {"type": "string", "format": "binary"}}}}}}}


@router.post("/api/tracks/{track_pk}/audio", response_model=AudioAttached, status_code=status.HTTP_201_CREATED,
             openapi_extra=UPLOAD_BODY)
def upload_audio(track_pk: int, request: Request, user: CurrentUser, session: SessionDep,
                 analyze: bool | None = None) -> AudioAttached:
    """Attach an audio file (mp3, m4a, flac, wav, aiff, ogg, opus) to one of your tracks, as the
    multipart field `file`. It must decode as audio; ANALYSIS_MAX_UPLOAD_MB is enforced while reading.
    Its analysis is queued at once unless `analyze=false` (default: ANALYZE_UPLOADS, true)."""
    upload = StreamedFile(request, max_bytes=get_settings().analysis_max_upload_mb * 1024 * 1024)
    done = service.upload_audio(session=session, user=user, track_pk=track_pk, filename=upload.filename,
                                chunks=upload.chunks(), analyze=analyze)
    return AudioAttached(track_pk=done.track.id, local_audio_path=done.track.local_audio_path,
                         analysis=done.analysis, analysis_error=done.analysis_error)


@router.post(
    "/api/tracks/{track_pk}/analyze", response_model=AnalysisJobState, status_code=status.HTTP_202_ACCEPTED
)
def analyze_track(track_pk: int, user: CurrentUser, session: SessionDep) -> AnalysisJobState:
    """Queue an analysis of the track's audio; a new analysis replaces the old one when it finishes."""
    return service.request_analysis(session=session, user=user, track_pk=track_pk)


@router.get("/api/analysis/jobs/{job_id}", response_model=AnalysisJobState)
def analysis_job(job_id: str, user: CurrentUser, session: SessionDep) -> AnalysisJobState:
    """Live state of an analysis job: status, stage, percent, and the error if it failed."""
    return service.analysis_job(session=session, user=user, job_id=job_id)


@router.get("/api/tracks/{track_pk}/analysis")
def track_analysis(track_pk: int, user: CurrentUser, session: SessionDep) -> dict[str, Any]:
    """The full analysis JSON (beats, key candidates, energy features, waveform, ...)."""
    return service.track_analysis(session=session, user=user, track_pk=track_pk)


@router.get("/api/libraries/{library_id}/analysis", response_model=service.LibraryAnalysis)
def library_analysis(library_id: int, user: CurrentUser, session: SessionDep) -> service.LibraryAnalysis:
    """How many of the library's tracks with audio are not analysed yet, or analysed by an older analyzer."""
    return service.library_analysis(session=session, user=user, library_id=library_id)


@router.post("/api/libraries/{library_id}/analyze", response_model=BatchQueued, status_code=status.HTTP_202_ACCEPTED)
def analyse_library(library_id: int, user: CurrentUser, session: SessionDep,
                    which: service.AnalyseWhich = "missing") -> BatchQueued:
    """Queue the analysis of every track with audio that was never analysed (`which=missing`), or also of those
    analysed by an older analyzer (`which=outdated`); a track already queued is not queued twice. At most 2,000
    per request: `skipped` says how many are left, and why."""
    return service.analyse_library(session=session, user=user, library_id=library_id, which=which)
