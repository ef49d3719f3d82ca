"""Process pool for GA islands: real parallelism on multi-core machines (the GA is CPU-bound Python).

Workers are spawned (not forked: the web server has threads) and warmed up at startup so the first
request does not pay for importing numpy and DEAP. A broken pool (a worker killed by the OOM killer,
say) is replaced and the request falls back to running in-process.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
from concurrent.futures import Executor, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

log = logging.getLogger(__name__)


def _warm() -> int:
    import services.ga_service.genetic  # noqa: F401  (imports numpy, DEAP, creates the DEAP classes)

    return os.getpid()


class PoolManager:
    def __init__(self, workers: int = 0):
        self.workers = workers if workers > 0 else (os.cpu_count() or 1)
        self._executor: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()
        self.restarts = 0
        self.pids: list[int] = []

    def start(self) -> None:
        with self._lock:
            if self._executor is not None:
                return
            self._executor = ProcessPoolExecutor(
                max_workers=self.workers, mp_context=multiprocessing.get_context("spawn")
            )
            futures = [self._executor.submit(_warm) for _ in range(self.workers)]
        try:
            self.pids = sorted({f.result(timeout=120) for f in futures})
        except Exception:  # a pool that cannot warm up is still usable lazily
            log.exception("GA worker warm-up failed")

    @property
    def executor(self) -> Executor | None:
        return self._executor

    def mark_broken(self, executor: Executor) -> None:
        """Replace the pool after BrokenProcessPool (only once per broken executor)."""
        with self._lock:
            if self._executor is not executor:
                return
            self._executor = None
            self.restarts += 1
        executor.shutdown(wait=False, cancel_futures=True)
        threading.Thread(target=self.start, daemon=True).start()

    def shutdown(self) -> None:
        with self._lock:
            ex, self._executor = self._executor, None
        if ex is not None:
            ex.shutdown(wait=True, cancel_futures=True)

    def state(self) -> dict:
        return {
            "workers": self.workers,
            "running": self._executor is not None,
            "worker_pids": self.pids,
            "restarts": self.restarts,
        }


__all__ = ["BrokenProcessPool", "PoolManager"]
