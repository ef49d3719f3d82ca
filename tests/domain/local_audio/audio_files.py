"""Real audio files with real tags, made by ffmpeg (the one the project decodes with)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from services.domain.downloads.media import ffmpeg_binary


def make_audio(path: Path, *, seconds: float = 6.0, frequency: int = 440, **tags: str) -> Path:
    """A sine tone of `seconds` in the format of `path`'s extension, tagged with `tags` (artist, title,
    album, ...); no tags at all when none are given (a WAV named by hand)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    args = [ffmpeg_binary(), "-v", "error", "-y", "-f", "lavfi", "-i", f"sine=frequency={frequency}:duration={seconds}"]
    for name, value in tags.items():
        args += ["-metadata", f"{name}={value}"]
    if path.suffix == ".mp3":
        args += ["-id3v2_version", "3"]
    subprocess.run([*args, str(path)], check=True, capture_output=True)
    return path


def add_tracks(library_id: int, records: list[tuple[str, str]], *, seconds: float) -> dict[str, int]:
    """Tracks (artist, title) in the library, each `seconds` long (committed): {title: track id}."""
    from services.common.db import session_scope
    from services.common.models import Track

    with session_scope() as s:
        tracks = {title: Track(track_id=f"{100 + n}-A1", library_id=library_id, title=title, artist=artist,
                               duration_seconds=seconds) for n, (artist, title) in enumerate(records)}
        s.add_all(tracks.values())
        s.flush()
        return {title: track.id for title, track in tracks.items()}
