"""What an audio file says it is: its tags (mutagen: ID3, FLAC/Vorbis, MP4, AIFF, WAV), else its name.

DJs' folders are a mix of tagged rips and files named by hand ("03 - Artist - Title (Extended Mix).mp3",
"A2_artist_-_title.flac"), so a file without artist and title tags is read from its name instead; the
answer says which (`source`).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any, Literal

import mutagen
from pydantic import BaseModel, ConfigDict, Field

log = logging.getLogger(__name__)

MAX_TAG = 300  # longer tag values are cut: they only feed a match

# A leading track or side position ("03", "A2", "1-04" disc-track) with punctuation after it ("03.", "A2)",
# "03 - "): always a position. Followed by a space only ("03 Artist - Title"), only when a separator
# follows too: "99 Luftballons" keeps its number.
_NUMBER = r"(?:\d{1,2}-\d{1,3}|[A-Ha-h]?\d{1,3})"
_POSITION_MARKED = re.compile(rf"^{_NUMBER}\s*(?:[.)]|\s[-–—])\s*(?=\S)")
_POSITION_SPACED = re.compile(rf"^{_NUMBER}\s+(?=\S)")
_SEPARATOR = re.compile(r"\s+[-–—]\s+")


class FileTags(BaseModel):
    """What a file says it is."""

    model_config = ConfigDict(frozen=True)

    artist: str | None
    title: str | None
    album: str | None = None
    duration_seconds: float | None = None
    isrc: str | None = None
    source: Literal["tags", "filename"] = Field("tags", description="tags: the file's own tags named artist and "
                                                "title; filename: its name did")


def _first(tags: Any, *names: str) -> str | None:
    for name in names:
        try:
            values = tags.get(name)
        except (KeyError, ValueError):  # easy tag maps raise for names their format lacks
            values = None
        if isinstance(values, list):
            values = values[0] if values else None
        text = str(values).strip() if values is not None else ""
        if text:
            return text[:MAX_TAG]
    return None


def from_filename(name: str) -> tuple[str | None, str]:
    """(artist or None, title) from a file name: the extension and a leading position dropped, underscores
    read as spaces, "Artist - Title" split at the first dash between spaces."""
    raw = Path(name).stem
    if " " not in raw and ("_" in raw or raw.count("-") >= 2):  # scene style: "01-daft_punk-around_the_world"
        raw = raw.replace("-", " - ")
    stem = " ".join(raw.replace("_", " ").split())
    if _POSITION_MARKED.match(stem):
        stem = _POSITION_MARKED.sub("", stem, count=1)
    elif _SEPARATOR.search(stem):
        stem = _POSITION_SPACED.sub("", stem, count=1)
    parts = _SEPARATOR.split(stem, maxsplit=1)
    if len(parts) == 2 and parts[0].strip() and parts[1].strip():
        return parts[0].strip()[:MAX_TAG], parts[1].strip()[:MAX_TAG]
    return None, stem.strip()[:MAX_TAG]


def read_tags(path: Path, *, filename: str | None = None) -> FileTags:
    """The file's tags, or what its name says when it has no artist and title tags. `filename`: the name the
    file was known by (an upload is stored under a temporary one). Unreadable tags are not an error here:
    whether the file is audio is for the decoder to say."""
    shown = filename or path.name
    artist = title = album = isrc = None
    duration: float | None = None
    try:
        audio = mutagen.File(path, easy=True)
    except Exception as exc:  # mutagen raises many kinds for damaged headers; the name still helps
        log.info("tags of %s unreadable: %s", shown, type(exc).__name__)
        audio = None
    if audio is not None:
        length = getattr(getattr(audio, "info", None), "length", None)
        duration = round(float(length), 2) if length and length > 0 else None
        tags = audio.tags
        if tags is not None:
            artist = _first(tags, "artist", "albumartist", "performer")
            title = _first(tags, "title")
            album = _first(tags, "album")
            isrc = _first(tags, "isrc")
    if artist and title:
        return FileTags(artist=artist, title=title, album=album, duration_seconds=duration, isrc=isrc)
    name_artist, name_title = from_filename(shown)
    return FileTags(artist=artist or name_artist, title=title or name_title, album=album,
                    duration_seconds=duration, isrc=isrc, source="filename")
