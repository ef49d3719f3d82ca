"""Where a track's audio lives: always inside AUDIO_DIR, stored as a path relative to it."""

from __future__ import annotations

import logging
import re
import time
import uuid
from datetime import UTC, datetime
from collections.abc import Callable, Iterable
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.orm import Session, object_session

from services.common.audio_files import (
    AudioPathError,
    check_audio_extension,
    open_private,
    private_dir,
    remove_inside,
    resolve_inside,
)
from services.common.models import Track
from services.domain.errors import Invalid, TooLarge

log = logging.getLogger(__name__)


def relative_to_audio_dir(audio_dir: Path, stored: str) -> str:
    return resolve_inside(audio_dir, stored).relative_to(audio_dir.resolve()).as_posix()


def safe_name(text: str) -> str:
    """A file-name fragment from user or Discogs text (no separators, no dot-files)."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._")
    return cleaned[:120] or "track"


def destination(*, library_id: int, track_pk: int, ext: str) -> str:
    """The one place a track's audio lives, relative to AUDIO_DIR: library_<library id>/<track id><ext>
    (ids only: no collision between libraries, no user text in the name)."""
    return f"library_{library_id}/{track_pk}{ext}"


def upload_destination(*, library_id: int, track_pk: int, filename: str) -> str:
    """Relative path for an uploaded file; its extension must be an audio type."""
    return destination(library_id=library_id, track_pk=track_pk, ext=check_audio_extension(filename))


def after_commit(session: Session | None, action: Callable[[], None]) -> None:
    """Run `action` once the session's transaction commits (not at all if it rolls back); at once
    when there is no session. For files that must outlive the rows pointing at them until the
    database no longer does."""
    def run() -> None:
        try:
            action()
        except Exception:  # the commit stands whatever happens to the files
            log.exception("clean-up after commit failed")

    if session is None:
        run()
        return
    state = {"done": False}

    def committed(_session: Session) -> None:
        if not state["done"]:
            state["done"] = True
            run()

    def rolled_back(_session: Session) -> None:
        state["done"] = True

    event.listen(session, "after_commit", committed, once=True)
    event.listen(session, "after_rollback", rolled_back, once=True)


def replace_audio(*, track: Track, audio_dir: Path, new_rel: str) -> None:
    """Point the track at its new file and remove the one it replaces (a different extension) once
    the change is committed: uploads and downloads both store audio through here."""
    old = track.local_audio_path
    track.local_audio_path = new_rel
    if old and old != new_rel:
        after_commit(object_session(track), lambda: remove_inside(audio_dir, old))


UPLOADS = ".uploads"  # received files wait here (inside AUDIO_DIR: the final move is a rename) until placed


STALE_UPLOAD_SECONDS = 24 * 3600


def _sweep_stale(folder: Path) -> None:
    """Remove what a killed process left in the uploads folder (a day old: no upload takes that long)."""
    cutoff = time.time() - STALE_UPLOAD_SECONDS
    for leftover in folder.glob("*.part"):
        try:
            if leftover.stat().st_mtime < cutoff:
                leftover.unlink()
        except OSError:
            pass  # another process removed it first


def receive_file(*, audio_dir: Path, filename: str, chunks: Iterable[bytes], max_bytes: int) -> tuple[Path, float]:
    """Write an uploaded file to a private temporary file inside AUDIO_DIR and prove it is audio by decoding it:
    (its path, its decoded duration). The size limit is enforced while reading; the caller places the file
    (`place_file`) or removes it. Nothing is left behind when this raises."""
    from services.domain.downloads.media import NotAudio, decoded_duration

    try:
        ext = check_audio_extension(filename)
    except AudioPathError as exc:
        raise Invalid(str(exc), code="unsupported_audio") from None
    folder = private_dir(audio_dir.resolve() / UPLOADS)
    _sweep_stale(folder)
    tmp = folder / f"{uuid.uuid4().hex}{ext}.part"
    size = 0
    try:
        with open_private(tmp) as out:
            for chunk in chunks:
                size += len(chunk)
                if size > max_bytes:
                    raise TooLarge(f"the file is larger than {max_bytes // (1024 * 1024)} MB")
                out.write(chunk)
        if size == 0:
            raise Invalid("the file is empty", code="empty_audio")
        try:
            return tmp, decoded_duration(tmp)
        except NotAudio as exc:
            raise Invalid(str(exc), code="not_audio") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def place_file(*, track: Track, audio_dir: Path, received: Path, filename: str, duration: float,
               source: dict | None = None) -> str:
    """Move a received file (`receive_file`) into the track's place and point the track at it (the audio it
    replaces is removed once committed): its path relative to AUDIO_DIR. `source`: more for `audio_source`."""
    rel = upload_destination(library_id=track.library_id, track_pk=track.id, filename=filename)
    dest = resolve_inside(audio_dir, rel)
    private_dir(dest.parent)
    received.replace(dest)
    replace_audio(track=track, audio_dir=audio_dir, new_rel=rel)
    track.audio_source = {"method": "upload", "filename": safe_name(filename), "duration_seconds": round(duration, 2),
                          "at": datetime.now(UTC).isoformat(), **(source or {})}
    return rel


def attach_audio(*, track: Track, audio_dir: Path, filename: str, chunks: Iterable[bytes], max_bytes: int) -> str:
    """Store an uploaded file as the track's audio (inside AUDIO_DIR) and return its relative path.

    Received apart and proven to be audio by decoding it first, so a failed, oversized or non-audio upload
    never replaces the audio a track already has.
    """
    received, duration = receive_file(audio_dir=audio_dir, filename=filename, chunks=chunks, max_bytes=max_bytes)
    try:
        return place_file(track=track, audio_dir=audio_dir, received=received, filename=filename, duration=duration)
    finally:
        received.unlink(missing_ok=True)


_FETCHED = {"yt-dlp": "Downloaded with yt-dlp", "youtube-search": "Found by a YouTube search and downloaded",
            "gamdl": "Downloaded from Apple Music (gamdl)"}


def audio_origin(source: dict | None) -> dict[str, str | None] | None:
    """Where a track's audio came from, in a DJ's words (`audio_source` as uploads, imports and downloads
    store it): {"text", "url"} (url: the page it was downloaded from), or None when nothing is recorded."""
    if not isinstance(source, dict) or not source.get("method"):
        return None
    method, name = str(source["method"]), source.get("filename")
    if method == "upload":
        text = f"Uploaded from “{name}”" if name else "Uploaded"
    elif method == "import":
        how = "its tags" if source.get("matched_by") == "tags" else "its name"
        text = f"Added from your file “{name}”, matched by {how}"
        if isinstance(source.get("score"), (int, float)):
            text += f" (score {source['score']:.2f})"
    else:
        text = _FETCHED.get(method, f"From {method}")
        if source.get("title"):
            text += f": “{source['title']}”"
        if source.get("why"):
            text += f" ({source['why']})"
    if source.get("at"):
        text += f", {str(source['at'])[:10]}"
    url = source.get("url")
    return {"text": text, "url": url if isinstance(url, str) and url.startswith(("https://", "http://")) else None}
