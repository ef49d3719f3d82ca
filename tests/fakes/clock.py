"""A clock whose sleep advances instantly: waits are measured, never waited (no test depends on speed)."""

from __future__ import annotations


class FakeClock:
    """`clock()` is the time; `clock.sleep(s)` records the wait and moves the time on by it.

    Starts at `start` (pass `time.time()` where the code compares with wall-clock values, e.g. token expiry).
    """

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
