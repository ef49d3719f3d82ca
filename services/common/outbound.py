"""What every client of an outside service (Discogs, Apple Music, Spotify, YouTube) shares."""

from __future__ import annotations

import email.utils
from collections.abc import Callable
from datetime import UTC, datetime

USER_AGENT = "DJPlaylist/0.1 +https://github.com/dj-playlist/dj-playlist"


def parse_retry_after(value: str | None, *, now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> float | None:
    """Retry-After as seconds: a number, or an HTTP date (seconds from now); None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now()).total_seconds())
