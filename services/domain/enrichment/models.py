"""The two shapes every enrichment source shares: what we look for, and what a platform offers.

Platform clients (Apple Music, Spotify, YouTube, ...) take a `TrackQuery` and return `Candidate`s;
`matching.score(query, candidate)` compares them. Both are plain frozen dataclasses so they can be
logged, compared, hashed and serialized with `dataclasses.asdict`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class TrackQuery:
    """A track from the library as we know it (Discogs data, possibly edited by the user)."""

    artist: str
    title: str
    album: str | None = None
    duration_seconds: float | None = None
    isrc: str | None = None


@dataclass(frozen=True, slots=True)
class Candidate:
    """One search result from a platform."""

    source: str  # registry name of the platform: "apple", "spotify", "youtube", ...
    url: str  # the link stored in the track's `<source>_url` column when accepted
    external_id: str  # the platform's own id for the track / video
    artist: str
    title: str
    album: str | None = None
    duration_seconds: float | None = None
    isrc: str | None = None
    preview_url: str | None = None
