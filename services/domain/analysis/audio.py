"""Where a track's audio lives: always inside AUDIO_DIR, stored as a path relative to it."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from pathlib import Path

from services.common.audio_files import AudioPathError, check_audio_extension, resolve_inside
from services.common.models import Track
from services.domain.errors import Invalid, TooLarge


def relative_to_audio_dir(audio_dir: Path, stored: str) -> str:
    return resolve_inside(audio_dir, stored).relative_to(audio_dir.resolve()).as_posix()


def safe_name(text: str) -> str:
    """A file-name fragment from user or Discogs text (no separators, no dot-files)."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._")
    return cleaned[:120] or "track"


def upload_destination(*, library_id: int, track_id: str, filename: str) -> str:
    """Relative path for an uploaded file: library_<id>/<track_id><ext>."""
    ext = check_audio_extension(filename)
    return f"library_{library_id}/{safe_name(track_id)}{ext}"


def attach_audio(*, track: Track, audio_dir: Path, filename: str, chunks: Iterable[bytes], max_bytes: int) -> str:
    """Store an uploaded file as the track's audio (inside AUDIO_DIR) and return its relative path.

    Written to a temporary file first and renamed, so a failed or oversized upload never replaces
    the audio a track already has. The size limit is enforced while reading.
    """
    try:
        rel = upload_destination(library_id=track.library_id, track_id=track.track_id, filename=filename)
        dest = resolve_inside(audio_dir, rel)
    except AudioPathError as exc:
        raise Invalid(str(exc), code="unsupported_audio") from None
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex}.part")
    size = 0
    try:
        with tmp.open("wb") as out:
            for chunk in chunks:
                size += len(chunk)
                if size > max_bytes:
                    raise TooLarge(f"the file is larger than {max_bytes // (1024 * 1024)} MB")
                out.write(chunk)
        if size == 0:
            raise Invalid("the file is empty", code="empty_audio")
        tmp.replace(dest)
    finally:
        tmp.unlink(missing_ok=True)
    track.local_audio_path = rel
    return rel
