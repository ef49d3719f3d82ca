"""Where a track's audio lives: always inside AUDIO_DIR, stored as a path relative to it."""

from __future__ import annotations

import logging
import re
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


def attach_audio(*, track: Track, audio_dir: Path, filename: str, chunks: Iterable[bytes], max_bytes: int) -> str:
    """Store an uploaded file as the track's audio (inside AUDIO_DIR) and return its relative path.

    Written to a temporary file first, proven to be audio by decoding it, and renamed, so a failed,
    oversized or non-audio upload never replaces the audio a track already has. The size limit is
    enforced while reading.
    """
    from services.domain.downloads.media import NotAudio, decoded_duration

    try:
        rel = upload_destination(library_id=track.library_id, track_pk=track.id, filename=filename)
        dest = resolve_inside(audio_dir, rel)
    except AudioPathError as exc:
        raise Invalid(str(exc), code="unsupported_audio") from None
    private_dir(dest.parent)
    tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex}.part")
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
            duration = decoded_duration(tmp)
        except NotAudio as exc:
            raise Invalid(str(exc), code="not_audio") from None
        tmp.replace(dest)
    finally:
        tmp.unlink(missing_ok=True)
    replace_audio(track=track, audio_dir=audio_dir, new_rel=rel)
    track.audio_source = {"method": "upload", "filename": safe_name(filename), "duration_seconds": round(duration, 2),
                          "at": datetime.now(UTC).isoformat()}
    return rel
