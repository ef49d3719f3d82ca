"""services/domain/lru.py: the least recently used entry goes first; an entry expires after its time to live."""

from __future__ import annotations

from services.domain.lru import LruCache
from tests.fakes.clock import FakeClock


def test_the_least_recently_used_entry_is_dropped_past_the_size():
    cache = LruCache(size=2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # "b" is now the least recently used
    cache.put("c", 3)
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (1, None, 3)


def test_entries_expire_after_their_time_to_live():
    clock = FakeClock()
    cache = LruCache(size=8, ttl=30.0, clock=clock)
    cache.put("default", 1)
    cache.put("short", 2, ttl=5.0)
    clock.now += 5
    assert (cache.get("default"), cache.get("short")) == (1, None)
    clock.now += 25
    assert cache.get("default") is None and not cache.entries
    cache.put("x", 1)
    cache.clear()
    assert cache.get("x") is None
