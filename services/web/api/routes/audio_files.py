"""A DJ's own audio files: each matched to a track of a library by its tags (or name) and attached."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from services.common.settings import get_settings
from services.domain.analysis.jobs import AnalysisJobState
from services.domain.local_audio import service
from services.domain.local_audio.service import TrackCandidate
from services.domain.local_audio.tags import FileTags
from services.web.api.deps import CurrentUser, SessionDep
from services.web.api.routes.analysis import UPLOAD_BODY
from services.web.api.uploads import StreamedFile

router = APIRouter(tags=["audio files"])


class AudioFileImported(BaseModel):
    filename: str
    status: Literal["attached", "created", "has_audio", "ambiguous", "unmatched"] = Field(description=(
        "attached: stored as the track's audio; created: it matched no track and became a new one "
        "(add_unmatched=true); has_audio: matched, the track keeps the audio it has (replace="
        "true to replace it); ambiguous: several tracks could be it, see candidates (upload it to "
        "POST /api/tracks/{pk}/audio); unmatched: no track of the library looks like it. Only an attached file "
        "is kept."))
    track_pk: int | None = Field(None, description="the matched (or created) track")
    score: float | None = None
    tags: FileTags
    candidates: list[TrackCandidate]
    local_audio_path: str | None = None
    analysis: AnalysisJobState | None = Field(None, description="The analysis queued for the new audio")
    analysis_error: str | None = Field(None, description="Why no analysis was queued although one was asked for")


@router.post("/api/libraries/{library_id}/audio-files", response_model=AudioFileImported, openapi_extra=UPLOAD_BODY)
def import_audio_file(library_id: int, request: Request, user: CurrentUser, session: SessionDep,
                      replace: bool = False, analyze: bool | None = None,
                      add_unmatched: bool = False) -> AudioFileImported:
    """Add one of your audio files (multipart field `file`) to one of your libraries: its tags (else its name:
    "03 - Artist - Title.mp3") are matched to the library's tracks, and the file is attached to the one track
    that clearly matches, then analysed (`analyze`, default ANALYZE_UPLOADS). It must decode as audio;
    ANALYSIS_MAX_UPLOAD_MB is enforced while reading. `add_unmatched=true`: a file no track resembles becomes a
    track of its own, on a record made by hand named by its album tag (else "Loose files"). Send a folder one
    file per request."""
    upload = StreamedFile(request, max_bytes=get_settings().analysis_max_upload_mb * 1024 * 1024)
    done = service.import_file(session=session, user=user, library_id=library_id, filename=upload.filename,
                               chunks=upload.chunks(), replace=replace, analyze=analyze,
                               add_unmatched=add_unmatched)
    match = done.match
    return AudioFileImported(
        filename=done.filename, status=done.status, track_pk=match.track_pk, score=match.score,
        tags=match.tags, candidates=match.candidates,
        local_audio_path=done.local_audio_path, analysis=done.analysis, analysis_error=done.analysis_error)
