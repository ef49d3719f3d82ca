"""Audio files on disk: the formats we accept and the one rule for paths inside AUDIO_DIR.

Shared by the analysis service (paths it is asked to read) and the domain (files it stores).
"""

from __future__ import annotations

from pathlib import Path

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
