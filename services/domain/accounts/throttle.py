"""Sign-in throttling, kept in Redis: per account and per client address, with exponential backoff.

Every failed sign-in adds one to two counters: the account's (the lower-cased username, whether or not
such a user exists, so the answer never tells which names exist) and the client address's. When a counter
reaches its threshold, its key is locked for `base * 2 ** (failures - threshold)` seconds (capped); while
a key is locked every attempt on it is refused with `RateLimited` (HTTP 429 + Retry-After), even one with
the right password, and refused attempts do not count. A success clears the account's counter but not the
address's (a guesser holding one valid account must not reset their address by signing into it).
Counters are forgotten `window` seconds after their last failure (a Redis TTL).

Redis down: the throttle cannot be checked, so sign-in answers `Unavailable` (503) — it fails closed.
Letting sign-ins through unthrottled while Redis is down would reopen password guessing exactly when
an attacker can make it happen; the rest of the app keeps working for users already signed in.

The clock is injectable (tests pass a FakeClock); Redis TTLs only clean up, they decide nothing.
Concurrent attempts are checked before the password is verified, so a burst can exceed a threshold by at
most the number of sign-ins verified at once (see web/api/deps.py: one or two per process).
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from redis import Redis
from redis.exceptions import RedisError

from services.domain.errors import RateLimited, Unavailable

_KEY = "djp:login:{}:{}"


@dataclass(frozen=True)
class Policy:
    threshold: int  # failures allowed before the first lock
    base_seconds: float = 1.0  # first lock; doubles with each failure past the threshold
    max_seconds: float = 15 * 60
    window_seconds: int = 24 * 3600  # counters expire this long after the last failure

    def lock_for(self, failures: int) -> float:
        if failures < self.threshold:
            return 0.0
        return min(self.max_seconds, self.base_seconds * 2 ** min(failures - self.threshold, 30))


ACCOUNT_POLICY = Policy(threshold=5)
# Higher: several people may sign in from one address (a household, an office behind NAT).
ADDRESS_POLICY = Policy(threshold=20)


class LoginThrottle:
    def __init__(self, redis: Redis | None = None, *, clock: Callable[[], float] = time.time,
                 account: Policy = ACCOUNT_POLICY, address: Policy = ADDRESS_POLICY) -> None:
        self._redis = redis
        self.clock = clock
        self.account = account
        self.address = address

    @property
    def redis(self) -> Redis:
        if self._redis is None:
            from services.common.db import get_redis

            self._redis = get_redis()
        return self._redis

    @staticmethod
    def _keys(username: str, address: str | None) -> list[tuple[str, str]]:
        digest = hashlib.sha256(username.strip().lower().encode()).hexdigest()[:32]
        keys = [("account", _KEY.format("account", digest))]
        if address:
            keys.append(("address", _KEY.format("address", address)))
        return keys

    def _policy(self, kind: str) -> Policy:
        return self.account if kind == "account" else self.address

    @contextmanager
    def _redis_errors(self) -> Iterator[None]:
        try:
            yield
        except RedisError:
            raise Unavailable("sign-in is unavailable while the throttle store (Redis) is down; try again shortly",
                              code="login_unavailable") from None

    def check(self, *, username: str, address: str | None) -> None:
        """RateLimited when the account or the address is locked now."""
        keys = self._keys(username, address)
        with self._redis_errors():
            pipe = self.redis.pipeline(transaction=False)
            for _, key in keys:
                pipe.hget(key, "until")
            untils = pipe.execute()
        now = self.clock()
        waits = [(float(until) - now, kind) for (kind, _), until in zip(keys, untils, strict=True) if until]
        waits = [(wait, kind) for wait, kind in waits if wait > 0]
        if waits:
            wait, kind = max(waits)
            seconds = max(1, math.ceil(wait))
            whom = "this account" if kind == "account" else "your address"
            raise RateLimited(f"too many failed sign-ins for {whom}: try again in {seconds} seconds",
                              retry_after=seconds, code="login_throttled")

    def failed(self, *, username: str, address: str | None) -> None:
        now = self.clock()
        with self._redis_errors():
            for kind, key in self._keys(username, address):
                policy = self._policy(kind)
                failures = int(self.redis.hincrby(key, "count", 1))
                lock = policy.lock_for(failures)
                pipe = self.redis.pipeline(transaction=False)
                if lock:
                    pipe.hset(key, "until", repr(now + lock))
                pipe.expire(key, int(policy.window_seconds + lock))
                pipe.execute()

    def succeeded(self, *, username: str) -> None:
        with self._redis_errors():
            self.redis.delete(*(key for kind, key in self._keys(username, None)))

    def failures(self, *, username: str, address: str | None = None) -> dict[str, int]:
        """The current counters (for tests and the admin)."""
        with self._redis_errors():
            return {kind: int(self.redis.hget(key, "count") or 0) for kind, key in self._keys(username, address)}
