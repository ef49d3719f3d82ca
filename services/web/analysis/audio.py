"""Where a track's audio lives: always inside AUDIO_DIR, stored as a path relative to it."""

from __future__ import annotations

import re
from pathlib import Path

AUDIO_EXTENSIONS = {".mp3", ".m4a", ".aac", ".mp4", ".flac", ".wav", ".aif", ".aiff", ".ogg", ".oga", ".opus"}


class AudioPathError(ValueError):
    """A stored or requested audio path that does not resolve inside AUDIO_DIR."""


def resolve_inside(audio_dir: Path, stored: str) -> Path:
    """The absolute file for a stored path; refuses anything that escapes AUDIO_DIR."""
    root = audio_dir.resolve()
    candidate = (root / stored).resolve()
    if candidate != root and root not in candidate.parents:
        raise AudioPathError(f"audio path {stored!r} is outside AUDIO_DIR")
    return candidate


def relative_to_audio_dir(audio_dir: Path, stored: str) -> str:
    return resolve_inside(audio_dir, stored).relative_to(audio_dir.resolve()).as_posix()


def safe_name(text: str) -> str:
    """A file-name fragment from user or Discogs text (no separators, no dot-files)."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._")
    return cleaned[:120] or "track"


def upload_destination(*, library_id: int, track_id: str, filename: str) -> str:
    """Relative path for an uploaded file: library_<id>/<track_id><ext>."""
    ext = Path(filename).suffix.lower()
    if ext not in AUDIO_EXTENSIONS:
        raise AudioPathError(
            f"unsupported audio type {ext or '(none)'}: use one of {', '.join(sorted(AUDIO_EXTENSIONS))}"
        )
    return f"library_{library_id}/{safe_name(track_id)}{ext}"
