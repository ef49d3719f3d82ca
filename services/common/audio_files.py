"""Audio files on disk: the formats we accept and the one rule for paths inside AUDIO_DIR.

Shared by the analysis service (paths it is asked to read) and the domain (files it stores).
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

log = logging.getLogger(__name__)

FILE_MODE = 0o600  # audio files: readable by the user running the stack only
DIR_MODE = 0o700  # folders under DATA_DIR / AUDIO_DIR

AUDIO_EXTENSIONS = frozenset(
    {".mp3", ".m4a", ".aac", ".mp4", ".flac", ".wav", ".aif", ".aiff", ".ogg", ".oga", ".opus"}
)


class AudioPathError(ValueError):
    """A path that does not resolve inside its root, or a file type we do not read."""


def resolve_inside(root: Path, relative: str) -> Path:
    """The absolute path of `relative` under `root`; refuses absolute paths, URLs, NUL bytes and
    anything that escapes the root (`..`, symlinks pointing out)."""
    if not relative or "://" in relative or relative.startswith(("/", "\\")) or "\x00" in relative:
        raise AudioPathError("path must be relative to AUDIO_DIR (no URLs, no absolute paths)")
    base = root.resolve()
    try:
        candidate = (base / relative).resolve()
    except (OSError, RuntimeError, ValueError) as exc:  # name too long, symlink loop, bad encoding
        raise AudioPathError(f"invalid path: {type(exc).__name__}") from None
    if candidate != base and base not in candidate.parents:
        raise AudioPathError(f"audio path {relative!r} resolves outside AUDIO_DIR")
    return candidate


def check_audio_extension(name: str, *, required: bool = True) -> str:
    """The lower-case extension of `name` if it is an audio type we read; AudioPathError otherwise.

    `required=False` lets a name without any extension through (an upload named by a browser)."""
    ext = Path(name).suffix.lower()
    if (ext or required) and ext not in AUDIO_EXTENSIONS:
        raise AudioPathError(
            f"unsupported audio type {ext or '(none)'}: use one of {', '.join(sorted(AUDIO_EXTENSIONS))}"
        )
    return ext


def private_dir(path: Path) -> Path:
    """Create `path` (and missing parents) with DIR_MODE; `path` itself is set to DIR_MODE even if it
    existed (folders made by an older version were world-readable). Parents that already exist are
    left alone (AUDIO_DIR may be a folder the operator shares on purpose)."""
    missing = []
    for folder in (path, *path.parents):
        if folder.exists():
            break
        missing.append(folder)
    for folder in reversed(missing):
        folder.mkdir(mode=DIR_MODE, exist_ok=True)
        os.chmod(folder, DIR_MODE)  # mkdir's mode is reduced by the umask, never raised
    os.chmod(path, DIR_MODE)
    return path


def open_private(path: Path):
    """A new file opened for binary writing with FILE_MODE (whatever the umask)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    os.fchmod(fd, FILE_MODE)
    return os.fdopen(fd, "wb")


def remove_inside(root: Path, relative: str) -> bool:
    """Delete the file at `relative` under `root` (never outside it). False, logged, when it cannot."""
    try:
        resolve_inside(root, relative).unlink(missing_ok=True)
        return True
    except (AudioPathError, OSError) as exc:
        log.warning("could not remove replaced audio %r: %s", relative, exc)
        return False


def library_folder_name(library_id: int) -> str:
    return f"library_{int(library_id)}"


def remove_library_folder(audio_dir: Path, library_id: int) -> bool:
    """Delete AUDIO_DIR/library_<id>/ and everything in it (a symlink of that name: the link only).
    The path is built from the id alone and checked to be inside AUDIO_DIR. False, logged, on failure."""
    name = library_folder_name(library_id)
    link = audio_dir.resolve() / name
    try:
        if link.is_symlink():
            link.unlink()
            return True
        folder = resolve_inside(audio_dir, name)
        if folder == audio_dir.resolve() or folder.parent != audio_dir.resolve():
            raise AudioPathError(f"{name} is not a folder of AUDIO_DIR")
        if folder.exists():
            shutil.rmtree(folder)
        return True
    except (AudioPathError, OSError) as exc:
        log.warning("could not remove the audio of deleted library %s: %s", library_id, exc)
        return False
