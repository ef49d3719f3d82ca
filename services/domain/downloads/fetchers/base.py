"""One interface for the tools that fetch audio (yt-dlp, gamdl), registered and looked up by name.

A fetcher downloads one URL into a private work folder and returns the file it wrote; it never
names files from user input, never runs a shell, and reports the download's percent through
`progress`. Conversion, checking and moving into AUDIO_DIR happen after it, in `pipeline.py`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

from pydantic import BaseModel


class FetchError(RuntimeError):
    """The fetch failed. `permanent=True`: retrying cannot help (404, not audio, refused URL)."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class FetchOptions(BaseModel):
    """What a fetcher may use, from settings (never from the request)."""

    cookies_file: Path | None = None  # the tool's uploaded cookie file, when present
    max_bytes: int  # refuse anything larger while downloading
    max_duration_seconds: float  # refuse anything longer (0 = no limit)
    timeout_seconds: float  # socket timeout: a stalled source fails instead of hanging
    ytdlp_format: str = "bestaudio/best"
    gamdl_codec: str = "aac-legacy"
    gamdl_cover: bool = False
    # Checks a URL (and each redirect) against the allow-list and private-network rule.
    check_url: Callable[[str], None] | None = None


class Fetched(BaseModel):
    path: Path  # the downloaded file, inside the work folder
    url: str  # what was actually downloaded (a search's chosen candidate)
    title: str | None = None
    duration_seconds: float | None = None
    note: str | None = None  # why this candidate, for searches


Progress = Callable[[int], None]  # percent 0..100 of the download stage


class Fetcher(ABC):
    name: ClassVar[str]

    @abstractmethod
    def fetch(self, *, url: str, workdir: Path, options: FetchOptions, progress: Progress) -> Fetched:
        """Download `url` into `workdir` (which exists and is empty) and return the file."""


_REGISTRY: dict[str, type[Fetcher]] = {}
# Fetchers that could not be imported in this process: module name -> why (fetchers/__init__.py).
UNAVAILABLE: dict[str, str] = {}


def register(cls: type[Fetcher]) -> type[Fetcher]:
    _REGISTRY[cls.name] = cls
    return cls


def fetcher(name: str) -> Fetcher:
    from services.domain.downloads import fetchers  # noqa: F401  (imports register every fetcher)

    if name not in _REGISTRY:
        why = "; ".join(f"{module}: {reason}" for module, reason in sorted(UNAVAILABLE.items()))
        raise FetchError(f"no {name!r} downloader in this process" + (f" ({why})" if why else ""), permanent=True)
    return _REGISTRY[name]()


def names() -> list[str]:
    from services.domain.downloads import fetchers  # noqa: F401

    return sorted(_REGISTRY)
