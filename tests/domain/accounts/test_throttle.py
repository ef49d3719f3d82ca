"""Sign-in throttling in real Redis with a fake clock: per account and per address, exponential backoff,
the right password refused while locked, success resetting the account, Redis down -> Unavailable."""

from __future__ import annotations

import pytest
import redis

from services.common.db import get_redis
from services.domain.accounts.throttle import LoginThrottle, Policy
from services.domain.errors import RateLimited, Unavailable
from tests.fakes.clock import FakeClock


@pytest.fixture
def throttle(servers):
    for key in get_redis().scan_iter("djp:login:*"):
        get_redis().delete(key)
    return LoginThrottle(clock=FakeClock(), account=Policy(threshold=3), address=Policy(threshold=5))


def _fail(throttle: LoginThrottle, times: int, *, username: str = "bob", address: str = "10.0.0.1") -> None:
    for _ in range(times):
        throttle.check(username=username, address=address)
        throttle.failed(username=username, address=address)


def test_account_locks_after_threshold_with_doubling_waits(throttle):
    _fail(throttle, 2)
    throttle.check(username="bob", address="10.0.0.1")  # two failures: still open
    throttle.failed(username="bob", address="10.0.0.1")  # the third locks for 1 s
    with pytest.raises(RateLimited) as exc:
        throttle.check(username="BOB ", address="10.0.0.2")  # the account, whatever the case or address
    assert exc.value.retry_after == 1 and "this account" in exc.value.detail
    throttle.clock.now += 1
    throttle.check(username="bob", address="10.0.0.2")
    throttle.failed(username="bob", address="10.0.0.2")  # 4th failure: 2 s
    with pytest.raises(RateLimited) as exc:
        throttle.check(username="bob", address="10.0.0.3")
    assert exc.value.retry_after == 2
    throttle.clock.now += 2
    throttle.failed(username="bob", address="10.0.0.3")  # 5th: 4 s
    throttle.clock.now += 3.5
    with pytest.raises(RateLimited) as exc:
        throttle.check(username="bob", address=None)
    assert exc.value.retry_after == 1  # rounded up
    assert throttle.failures(username="bob") == {"account": 5}


def test_backoff_is_capped():
    policy = Policy(threshold=5, base_seconds=1, max_seconds=900)
    assert [policy.lock_for(n) for n in (4, 5, 6, 10, 15, 500)] == [0, 1, 2, 32, 900, 900]


def test_success_resets_the_account_but_not_the_address(throttle):
    _fail(throttle, 2)
    throttle.succeeded(username="bob")
    assert throttle.failures(username="bob", address="10.0.0.1") == {"account": 0, "address": 2}
    _fail(throttle, 2)  # two more on a fresh account counter: no lock yet
    throttle.check(username="bob", address="10.0.0.1")


def test_address_locks_across_usernames(throttle):
    for name in ("a", "b", "c", "d", "e"):  # one failure each: no account reaches its threshold
        _fail(throttle, 1, username=name)
    with pytest.raises(RateLimited) as exc:
        throttle.check(username="someone-else", address="10.0.0.1")
    assert "your address" in exc.value.detail
    throttle.check(username="someone-else", address="10.0.0.9")  # another address is not affected


def test_redis_down_fails_closed(servers):
    dead = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.5)
    throttle = LoginThrottle(dead, clock=FakeClock())
    with pytest.raises(Unavailable):
        throttle.check(username="bob", address="10.0.0.1")
    with pytest.raises(Unavailable):
        throttle.failed(username="bob", address="10.0.0.1")
