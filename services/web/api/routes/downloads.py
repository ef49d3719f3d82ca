"""Getting audio: queue downloads (a track, an album, a playlist, a library's missing audio) and
stream a track's file to the player (HTTP Range)."""

from __future__ import annotations

from fastapi import APIRouter, status
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field

from services.domain.downloads import service
from services.domain.downloads.service import BatchQueued
from services.domain.jobcenter.models import JobView
from services.web.api.deps import CurrentUser, SessionDep

router = APIRouter(tags=["downloads"])


class DownloadRequest(BaseModel):
    model_config = {"extra": "forbid"}

    url: str | None = Field(None, max_length=2048, description="Download from this link instead of the "
                            "track's own (http/https, a host in DOWNLOAD_ALLOWED_HOSTS)")


class BatchRequest(BaseModel):
    model_config = {"extra": "forbid"}

    missing_only: bool = Field(True, description="Only tracks without audio")


@router.post("/api/tracks/{track_pk}/download", response_model=JobView, status_code=status.HTTP_202_ACCEPTED)
def download_track(track_pk: int, user: CurrentUser, session: SessionDep,
                   body: DownloadRequest | None = None) -> JobView:
    """Queue a download of the track's audio. Without `url`: its Apple Music link (gamdl), else its
    YouTube/SoundCloud link (yt-dlp), else a YouTube search by artist, title and duration."""
    return service.request_download(session=session, user=user, track_pk=track_pk,
                                    url=body.url if body else None)


@router.post("/api/albums/{album_id}/download", response_model=BatchQueued, status_code=status.HTTP_202_ACCEPTED)
def download_album(album_id: int, user: CurrentUser, session: SessionDep,
                   body: BatchRequest | None = None) -> BatchQueued:
    return service.download_album(session=session, user=user, album_id=album_id,
                                  missing_only=body.missing_only if body else True)


@router.post("/api/playlists/{playlist_id}/download", response_model=BatchQueued,
             status_code=status.HTTP_202_ACCEPTED)
def download_playlist(playlist_id: int, user: CurrentUser, session: SessionDep,
                      body: BatchRequest | None = None) -> BatchQueued:
    return service.download_playlist(session=session, user=user, playlist_id=playlist_id,
                                     missing_only=body.missing_only if body else True)


@router.post("/api/libraries/{library_id}/download-missing", response_model=BatchQueued,
             status_code=status.HTTP_202_ACCEPTED)
def download_missing(library_id: int, user: CurrentUser, session: SessionDep) -> BatchQueued:
    """Queue a download for every track of the library that has no audio."""
    return service.download_missing(session=session, user=user, library_id=library_id)


@router.get("/api/tracks/{track_pk}/audio", response_class=FileResponse,
            responses={200: {"content": {"audio/mp4": {}, "audio/mpeg": {}}}, 206: {"description": "A range"}})
def track_audio(track_pk: int, user: CurrentUser, session: SessionDep) -> FileResponse:
    """The track's audio file, with `Range` support (206) for seeking."""
    path, media_type = service.audio_file(session=session, user=user, track_pk=track_pk)
    return FileResponse(path, media_type=media_type, headers={"Cache-Control": "private, max-age=3600"})
