"""The metadata-source interface: what a collection sync needs from a service such as Discogs.

A source lists a user's collection page by page and returns a release's raw JSON by id; parsing raw
JSON into album and track rows is the source's own pure function, so stored raw data can always be
re-parsed offline. Discogs is the only collection source. The platforms a track is looked up on (Apple
Music, Spotify, YouTube) are not collections: they search a catalog for one track and live behind
`enrichment/sources/base.py:CatalogSource`, one module per platform, registered and looked up by name.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar


class SourceError(Exception):
    """A source request failed for good (after any retries). `reason` is shown to the user."""

    def __init__(self, reason: str, *, status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


class SourceAuthError(SourceError):
    """The credentials were refused, or the collection is private: stop the whole sync."""


class SourceNotFound(SourceError):
    pass


class MalformedResponse(SourceError):
    """The body was not the JSON we expected: fail this item, keep going."""


@dataclass(slots=True)
class AlbumInfo:
    """Album columns a source owns (never the user-edited ones, except on first insert)."""

    release_id: int
    title: str
    artist: str
    year: int | None = None
    genres: list[str] = field(default_factory=list)
    styles: list[str] = field(default_factory=list)
    label: str | None = None
    catalog_number: str | None = None
    country: str | None = None
    format: str | None = None
    thumbnail: str | None = None
    discogs_url: str | None = None
    # Collection-level, first import only (the user may edit them afterwards)
    date_added: datetime | None = None
    rating: int | None = None
    notes: str | None = None
    condition: str | None = None


@dataclass(slots=True)
class TrackInfo:
    track_id: str  # "<releaseId>-<position>"
    position: str
    title: str
    artist: str | None
    duration_seconds: float | None


@dataclass(slots=True)
class CollectionPage:
    page: int
    pages: int
    items: int  # size of the whole collection
    albums: list[AlbumInfo]
    next_url: str | None


class MetadataSource(ABC):
    name: ClassVar[str]

    @abstractmethod
    def collection_pages(self, username: str, *, start_page: int = 1) -> Iterator[CollectionPage]:
        """The user's collection, newest first, one page at a time (following the source's next links)."""

    @abstractmethod
    def fetch_release(self, release_id: int) -> dict[str, Any]:
        """Raw release JSON; raises SourceError (MalformedResponse, SourceNotFound, ...)."""

    @staticmethod
    @abstractmethod
    def parse_release(raw: dict[str, Any]) -> tuple[AlbumInfo, list[TrackInfo]]:
        """Pure: raw release JSON to album and track rows."""

    def close(self) -> None:  # pragma: no cover - trivial
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
