"""One per-process cache rule for the domain: the `size` most recently used entries, each kept for a time to live
(or until evicted). Thread-safe (web workers serve requests on threads); `clock` is injectable for tests."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any


class LruCache:
    """`get` gives a kept value or None (unknown, expired); `put` keeps one for `ttl` seconds (the cache's
    default, None: until evicted), dropping the least recently used past `size`."""

    def __init__(self, *, size: int, ttl: float | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.size, self.ttl, self.clock = size, ttl, clock
        self.entries: OrderedDict[Hashable, tuple[float | None, Any]] = OrderedDict()  # key -> (expires at, value)
        self.lock = threading.Lock()

    def get(self, key: Hashable) -> Any | None:
        with self.lock:
            entry = self.entries.get(key)
            if entry is None:
                return None
            if entry[0] is not None and self.clock() >= entry[0]:
                del self.entries[key]
                return None
            self.entries.move_to_end(key)
            return entry[1]

    def put(self, key: Hashable, value: Any, ttl: float | None = None) -> None:
        ttl = self.ttl if ttl is None else ttl
        with self.lock:
            self.entries[key] = (None if ttl is None else self.clock() + ttl, value)
            self.entries.move_to_end(key)
            while len(self.entries) > self.size:
                self.entries.popitem(last=False)

    def clear(self) -> None:
        with self.lock:
            self.entries.clear()
