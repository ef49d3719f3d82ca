"""Bearer tokens kept for the whole process until shortly before they expire (Apple's developer token,
Spotify's client-credentials token; Spotify's user tokens can use the same cache later).

Entries are keyed by whatever identifies the credentials (a hash of the secret, never the secret
itself), so every client instance built from the same settings shares one token. Fetching is done
under a per-key lock: many threads needing a token at once cause one fetch. `invalidate(key, token)`
drops the token only if it is still the current one, so several requests answered 401 together
cause one refresh, not one each.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass


def fingerprint(*parts: str | bytes | None) -> str:
    """A stable, non-reversible key part for credentials."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode() if isinstance(part, str) else (part or b""))
        digest.update(b"\0")
    return digest.hexdigest()[:32]


@dataclass
class _Entry:
    token: str
    expires_at: float  # epoch seconds


class TokenCache:
    def __init__(self) -> None:
        self._entries: dict[Hashable, _Entry] = {}
        self._locks: dict[Hashable, threading.Lock] = {}
        self._guard = threading.Lock()
        self.fetches = 0  # how many times a token was fetched or signed (tests)

    def _lock(self, key: Hashable) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())

    def get(self, key: Hashable, fetch: Callable[[], tuple[str, float]], *, margin: float,
            clock: Callable[[], float] = time.time) -> str:
        """The cached token, or a new one from `fetch() -> (token, expires_at)` when none is valid for
        more than `margin` seconds."""
        with self._lock(key):
            entry = self._entries.get(key)
            if entry is None or entry.expires_at - margin <= clock():
                token, expires_at = fetch()
                self.fetches += 1
                entry = self._entries[key] = _Entry(token, expires_at)
            return entry.token

    def invalidate(self, key: Hashable, token: str) -> None:
        with self._lock(key):
            entry = self._entries.get(key)
            if entry is not None and entry.token == token:
                del self._entries[key]

    def clear(self) -> None:
        with self._guard:
            self._entries.clear()
            self.fetches = 0


TOKENS = TokenCache()
