"""Audio and analysis of a track: upload its audio, queue an analysis, follow the job, read the result."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, UploadFile, status
from pydantic import BaseModel

from services.domain.analysis import service
from services.domain.analysis.jobs import AnalysisJobState
from services.web.api.deps import CurrentUser, SessionDep

router = APIRouter(tags=["analysis"])
CHUNK = 1024 * 1024


class AudioAttached(BaseModel):
    track_pk: int
    local_audio_path: str


@router.post("/api/tracks/{track_pk}/audio", response_model=AudioAttached, status_code=status.HTTP_201_CREATED)
def upload_audio(
    track_pk: int, file: Annotated[UploadFile, File()], user: CurrentUser, session: SessionDep
) -> AudioAttached:
    """Attach an audio file (mp3, m4a, flac, wav, aiff, ogg, opus) to one of your tracks."""
    track = service.upload_audio(
        session=session,
        user=user,
        track_pk=track_pk,
        filename=file.filename or "",
        chunks=iter(lambda: file.file.read(CHUNK), b""),  # streamed to disk, never all in memory
    )
    return AudioAttached(track_pk=track.id, local_audio_path=track.local_audio_path)


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
