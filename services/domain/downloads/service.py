"""Getting a track's audio: queue downloads (one track, an album, a playlist, a library's missing
audio), manage the tools' cookie files, and hand out the file for playback."""

from __future__ import annotations

import mimetypes
import os
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.common.audio_files import AudioPathError, resolve_inside
from services.common.models import Album, Library, Track, User
from services.common.settings import get_settings
from services.domain import jobs
from services.domain.jobs import BatchQueued
from services.domain.access import owns, readable_library, visible_row
from services.domain.downloads.jobs import COOKIE_FILES, enqueue_download
from services.domain.downloads.urls import check_url
from services.domain.errors import Forbidden, Invalid, NotFound, TooLarge
from services.domain.jobcenter.models import JobView
from services.domain.jobcenter.service import view
from services.domain.playlists.service import get_playlist
from services.domain.tracks.service import get_track

COOKIE_MAX_BYTES = 1024 * 1024
MEDIA_TYPES = {".m4a": "audio/mp4", ".mp4": "audio/mp4", ".aac": "audio/aac", ".mp3": "audio/mpeg",
               ".flac": "audio/flac", ".wav": "audio/wav", ".aif": "audio/aiff", ".aiff": "audio/aiff",
               ".ogg": "audio/ogg", ".oga": "audio/ogg", ".opus": "audio/ogg"}


class CookieStatus(BaseModel):
    tool: str
    present: bool
    uploaded_at: datetime | None = None


def _operable_track(session: Session, user: User, track_pk: int) -> Track:
    """A live track of a library the user operates (own, friends' imports included)."""
    track = get_track(session=session, user=user, track_pk=track_pk)
    if track.deleted_at is not None:
        raise NotFound("track not found")
    if not owns(user, session.get(Library, track.library_id)):
        raise Forbidden("library is shared with you read-only")
    return track


def request_download(*, session: Session, user: User, track_pk: int, url: str | None = None) -> JobView:
    """Queue a download of the track's audio: from `url` when given, else from its links, else a
    YouTube search. A download already queued or running for the track is returned as it is."""
    track = _operable_track(session, user, track_pk)
    if url is not None:
        url = check_url(url)
    with jobs.queue_errors():
        job, _ = enqueue_download(track=track, url=url, user_id=user.id)
        return view(job)


def _queue_many(user: User, tracks: Iterable[Track]) -> BatchQueued:
    return jobs.queue_batch(tracks, lambda track: enqueue_download(track=track, url=None, user_id=user.id))


def download_album(*, session: Session, user: User, album_id: int, missing_only: bool = True) -> BatchQueued:
    album = visible_row(session=session, user=user, model=Album, row_id=album_id, what="album")
    library = session.get(Library, album.library_id)
    if not owns(user, library):
        raise Forbidden("library is shared with you read-only")
    query = select(Track).where(Track.album_id == album.id, Track.deleted_at.is_(None)).order_by(Track.id)
    if missing_only:
        query = query.where(Track.local_audio_path.is_(None))
    return _queue_many(user, session.scalars(query))


def download_playlist(*, session: Session, user: User, playlist_id: int, missing_only: bool = True) -> BatchQueued:
    playlist = get_playlist(session=session, user=user, playlist_id=playlist_id)
    owned = set(session.scalars(select(Library.id).where(Library.owner_id == user.id)))
    tracks = [item.track for item in playlist.items if item.track.deleted_at is None
              and item.track.library_id in owned and not (missing_only and item.track.local_audio_path)]
    return _queue_many(user, tracks)


def download_missing(*, session: Session, user: User, library_id: int) -> BatchQueued:
    library = readable_library(session=session, user=user, library_id=library_id)
    if not owns(user, library):
        raise Forbidden("library is shared with you read-only")
    query = (select(Track).where(Track.library_id == library.id, Track.deleted_at.is_(None),
                                 Track.local_audio_path.is_(None)).order_by(Track.id))
    return _queue_many(user, session.scalars(query).yield_per(500))


# --- playback --------------------------------------------------------------------------------------


def audio_file(*, session: Session, user: User, track_pk: int) -> tuple[Path, str]:
    """The track's audio file and its media type, for a user who may read the track."""
    track = get_track(session=session, user=user, track_pk=track_pk)
    if not track.local_audio_path:
        raise NotFound("the track has no audio yet", code="no_audio")
    try:
        path = resolve_inside(get_settings().resolved_audio_dir, track.local_audio_path)
    except AudioPathError:
        raise NotFound("the track's audio file is missing", code="no_audio") from None
    if not path.is_file():
        raise NotFound("the track's audio file is missing", code="no_audio")
    media_type = MEDIA_TYPES.get(path.suffix.lower()) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return path, media_type


# --- cookies (admin) -------------------------------------------------------------------------------


def _cookie_path(tool: str) -> Path:
    if tool not in COOKIE_FILES:
        raise NotFound(f"unknown tool {tool!r}: use {' or '.join(COOKIE_FILES)}")
    return get_settings().resolved_cookies_dir / COOKIE_FILES[tool]


def cookie_status(*, tool: str) -> CookieStatus:
    path = _cookie_path(tool)
    if not path.is_file():
        return CookieStatus(tool=tool, present=False)
    return CookieStatus(tool=tool, present=True,
                        uploaded_at=datetime.fromtimestamp(path.stat().st_mtime, tz=UTC))


def store_cookies(*, tool: str, chunks: Iterable[bytes]) -> CookieStatus:
    """Keep a Netscape cookies.txt for the tool (mode 0600, never logged or returned)."""
    path = _cookie_path(tool)
    data = bytearray()
    for chunk in chunks:
        data += chunk
        if len(data) > COOKIE_MAX_BYTES:
            raise TooLarge("a cookie file is at most 1 MB")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise Invalid("the cookie file is not UTF-8 text", code="invalid_cookies") from None
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    if not lines or not all(len(line.split("\t")) == 7 for line in lines):
        raise Invalid("not a Netscape cookies.txt file (7 tab-separated fields per line)", code="invalid_cookies")
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(bytes(data))
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return cookie_status(tool=tool)


def delete_cookies(*, tool: str) -> CookieStatus:
    _cookie_path(tool).unlink(missing_ok=True)
    return cookie_status(tool=tool)
