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


def test_reserve_admits_only_what_is_left_below_the_threshold(throttle):
    _fail(throttle, 1)
    throttle.reserve(username="bob", address="10.0.0.1")  # 1 failure + 1 in flight: one slot left of 3
    throttle.reserve(username="bob", address="10.0.0.1")
    with pytest.raises(RateLimited) as exc:
        throttle.reserve(username="bob", address="10.0.0.2")
    assert exc.value.retry_after == 1 and "in progress for this account" in exc.value.detail
    assert throttle.in_flight(username="bob", address="10.0.0.1") == {"account": 2, "address": 2}
    throttle.succeeded(username="bob", address="10.0.0.1")  # the account is cleared, its slot given back
    throttle.release(username="bob", address="10.0.0.1")
    assert throttle.in_flight(username="bob", address="10.0.0.1") == {"account": 0, "address": 0}
    assert throttle.failures(username="bob", address="10.0.0.1") == {"account": 0, "address": 1}
    throttle.release(username="bob", address="10.0.0.1")  # never below zero
    assert throttle.in_flight(username="bob", address="10.0.0.1") == {"account": 0, "address": 0}


def test_one_attempt_at_a_time_past_the_threshold(throttle):
    _fail(throttle, 3)  # locked for 1 s
    throttle.clock.now += 1
    throttle.reserve(username="bob", address="10.0.0.7")
    with pytest.raises(RateLimited):
        throttle.reserve(username="bob", address="10.0.0.8")  # the lock is over, but one is already judged
    throttle.failed(username="bob", address="10.0.0.7")  # the 4th failure: locked 2 s
    with pytest.raises(RateLimited) as exc:
        throttle.reserve(username="bob", address="10.0.0.8")
    assert exc.value.retry_after == 2


def test_parallel_wrong_passwords_cannot_exceed_the_threshold(throttle, clean_db, monkeypatch):
    """16 sign-ins with a wrong password start together; every admitted one is held inside verification
    until all 16 have been admitted or refused, so nothing finishes before the others are judged (the race
    the old check-then-verify order lost). Exactly the threshold's worth are verified; the rest get 429."""
    import threading

    from services.common.db import session_scope
    from services.domain.accounts import service as accounts
    from services.domain.errors import NotAuthenticated

    parallel = 16
    start = threading.Barrier(parallel)
    judged = threading.Semaphore(0)  # one release per attempt admitted into verification or refused
    go = threading.Event()

    def held_sign_in(**_kwargs):
        judged.release()
        assert go.wait(60), "verification was never released"
        raise NotAuthenticated("wrong username or password")

    monkeypatch.setattr(accounts, "sign_in", held_sign_in)
    outcomes: list[str] = []
    lock = threading.Lock()

    def attempt(i: int) -> None:
        start.wait(60)
        try:
            with session_scope() as session:
                accounts.login(session=session, username="bob", password=f"guess-{i}", address=f"10.1.0.{i}",
                               throttle=throttle)
            result = "signed in"
        except RateLimited:
            judged.release()
            result = "refused"
        except NotAuthenticated:
            result = "wrong"
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(parallel)]
    for t in threads:
        t.start()
    for _ in range(parallel):
        assert judged.acquire(timeout=60)
    go.set()
    for t in threads:
        t.join(60)
    assert sorted(outcomes) == ["refused"] * (parallel - 3) + ["wrong"] * 3
    assert throttle.failures(username="bob") == {"account": 3}
    assert throttle.in_flight(username="bob") == {"account": 0}
    with pytest.raises(RateLimited):
        throttle.reserve(username="bob", address="10.9.9.9")  # locked by the third failure
