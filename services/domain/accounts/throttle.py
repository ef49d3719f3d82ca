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
Concurrent attempts: `reserve` claims the attempt atomically (one Lua script over both keys) before the
password is verified, as "in flight" on each key. A key admits at most `threshold - failures` attempts in
flight (one at a time once the threshold is reached), so parallel guesses cannot exceed the threshold: the
attempt past it is refused as if the key were locked. `failed` / `succeeded` / `release` end the reservation;
one never ended (a crashed process) is forgotten after `PENDING_TTL` seconds.
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
PENDING_TTL = 30  # seconds an unfinished reservation (a process killed mid-verification) holds a slot

# KEYS: per key, the counter hash then its in-flight counter. ARGV: now, pending TTL, then a threshold per
# key. Returns {0} when reserved (each in-flight counter + 1), else {1-based key index, seconds locked or
# -1 when refused because the key's attempts in flight already use up what is left below its threshold}.
_RESERVE = """
local now = tonumber(ARGV[1])
local n = #KEYS / 2
for i = 1, n do
  local until_ = tonumber(redis.call('HGET', KEYS[2 * i - 1], 'until') or '0')
  if until_ > now then return {i, tostring(until_ - now)} end
  local count = tonumber(redis.call('HGET', KEYS[2 * i - 1], 'count') or '0')
  local pending = tonumber(redis.call('GET', KEYS[2 * i]) or '0')
  if pending >= math.max(1, tonumber(ARGV[2 + i]) - count) then return {i, '-1'} end
end
for i = 1, n do
  redis.call('INCR', KEYS[2 * i])
  redis.call('EXPIRE', KEYS[2 * i], tonumber(ARGV[2]))
end
return {0}
"""
# Ends a reservation: the in-flight counter - 1, never below 0.
_RELEASE = """
for i = 1, #KEYS do
  local left = redis.call('DECR', KEYS[i])
  if left <= 0 then redis.call('DEL', KEYS[i]) end
end
return 0
"""


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

    @staticmethod
    def _pending(key: str) -> str:
        return key + ":pending"

    def reserve(self, *, username: str, address: str | None) -> None:
        """Claim this sign-in attempt before the password is verified (atomically, for the account and the
        address together). RateLimited when either is locked, or when the attempts already in flight would
        reach its threshold. End it with `failed`, `succeeded` or `release`."""
        keys = self._keys(username, address)
        with self._redis_errors():
            answer = self.redis.eval(
                _RESERVE, 2 * len(keys), *(k for _, key in keys for k in (key, self._pending(key))),
                repr(self.clock()), PENDING_TTL, *(self._policy(kind).threshold for kind, _ in keys))
        if int(answer[0]) == 0:
            return
        kind = keys[int(answer[0]) - 1][0]
        wait = float(answer[1].decode() if isinstance(answer[1], bytes) else answer[1])
        whom = "this account" if kind == "account" else "your address"
        if wait < 0:
            raise RateLimited(f"too many sign-ins in progress for {whom}: try again in 1 second",
                              retry_after=1, code="login_throttled")
        seconds = max(1, math.ceil(wait))
        raise RateLimited(f"too many failed sign-ins for {whom}: try again in {seconds} seconds",
                          retry_after=seconds, code="login_throttled")

    def release(self, *, username: str, address: str | None) -> None:
        """End a reservation without counting it (the attempt could not be judged: e.g. a database error)."""
        keys = self._keys(username, address)
        with self._redis_errors():
            self.redis.eval(_RELEASE, len(keys), *(self._pending(key) for _, key in keys))

    def in_flight(self, *, username: str, address: str | None = None) -> dict[str, int]:
        """Reserved attempts not yet ended (for tests)."""
        with self._redis_errors():
            return {kind: int(self.redis.get(self._pending(key)) or 0) for kind, key in self._keys(username, address)}

    def check(self, *, username: str, address: str | None) -> None:
        """RateLimited when the account or the address is locked now (read only: sign-in uses `reserve`)."""
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
        """Count a failed attempt on the account and the address (locking them past their thresholds) and
        end its reservation."""
        now = self.clock()
        with self._redis_errors():
            keys = self._keys(username, address)
            for kind, key in keys:
                policy = self._policy(kind)
                failures = int(self.redis.hincrby(key, "count", 1))
                lock = policy.lock_for(failures)
                pipe = self.redis.pipeline(transaction=False)
                if lock:
                    pipe.hset(key, "until", repr(now + lock))
                pipe.expire(key, int(policy.window_seconds + lock))
                pipe.execute()
            self.redis.eval(_RELEASE, len(keys), *(self._pending(key) for _, key in keys))

    def succeeded(self, *, username: str, address: str | None = None) -> None:
        """Clear the account's counter and end the attempt's reservation (the address keeps its count)."""
        with self._redis_errors():
            keys = self._keys(username, address)
            self.redis.eval(_RELEASE, len(keys), *(self._pending(key) for _, key in keys))
            self.redis.delete(*(key for kind, key in keys if kind == "account"))

    def failures(self, *, username: str, address: str | None = None) -> dict[str, int]:
        """The current counters (for tests and the admin)."""
        with self._redis_errors():
            return {kind: int(self.redis.hget(key, "count") or 0) for kind, key in self._keys(username, address)}
