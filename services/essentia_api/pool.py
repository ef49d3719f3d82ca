"""Bounded process pool for analysis: one worker per core by default, a per-file timeout, and a
worker that hangs or dies is replaced instead of taking the service down.

A hung task cannot be cancelled inside its process, so a timeout kills and replaces *all* workers.
Analyses that were in flight on the killed pool did nothing wrong: each is retried once on the fresh
pool (analysis only reads its file, so a rerun is safe), and if that attempt is interrupted the same
way the request gets 503 `pool_restarted` with Retry-After, never a 500."""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import os
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from services.common.contracts.analysis import AnalysisResult
from services.essentia_api.analysis.pipeline import AnalysisOptions
from services.essentia_api.errors import (
    AnalysisError,
    AnalysisTimeout,
    PoolBusy,
    PoolRestarted,
    WorkerCrashed,
)


def _warm() -> None:
    # Import Essentia in the worker up front so the first request does not pay for it.
    from services.essentia_api.analysis import ess

    ess()


def _run(path: str, options: AnalysisOptions) -> dict:
    from services.essentia_api.analysis.pipeline import analyze_file

    # Return plain data: AnalysisError subclasses pickle fine, pydantic models cost more to pickle.
    try:
        return analyze_file(path=path, options=options).model_dump()
    except AnalysisError:
        raise
    except Exception as exc:  # noqa: BLE001 - keep the message, drop unpicklable internals
        raise AnalysisError(f"analysis failed: {type(exc).__name__}: {str(exc)[:300]}") from None


class _Interrupted(Exception):
    """The pool died under an in-flight task; caused_here=False when it was not this task's doing."""

    def __init__(self, *, caused_here: bool) -> None:
        super().__init__()
        self.caused_here = caused_here


class AnalysisPool:
    # The function the workers run (module-level so it pickles by reference; tests swap it).
    task = staticmethod(_run)

    def __init__(self, *, workers: int, timeout_seconds: float, max_queue: int | None = None) -> None:
        self.workers = workers if workers > 0 else (os.cpu_count() or 1)
        self.timeout_seconds = timeout_seconds
        self.max_queue = max_queue if max_queue is not None else self.workers * 8
        self._lock = threading.Lock()
        self._executor: ProcessPoolExecutor | None = None
        self._generation = 0  # bumped on every restart; tells a victim from the cause
        self._inflight: dict[int, int] = {}  # tasks submitted per generation, not yet finished
        self.active = 0
        self.completed = 0
        self.failed = 0
        self.timeouts = 0
        self.restarts = 0
        self.retries = 0

    def _ensure(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._executor is None:
                # spawn: a fresh interpreter per worker, no forked copy of uvicorn's event loop/threads.
                ctx = mp.get_context("spawn")
                self._executor = ProcessPoolExecutor(
                    max_workers=self.workers, mp_context=ctx, initializer=_warm
                )
            return self._executor

    def _restart(self, generation: int | None = None) -> None:
        with self._lock:
            if generation is not None and generation != self._generation:
                return  # someone already replaced that pool
            ex, self._executor = self._executor, None
            self._generation += 1
            self.restarts += 1
        if ex is not None:
            # A timed-out task cannot be cancelled inside a process: kill the workers, start afresh.
            for proc in list(getattr(ex, "_processes", {}).values()):
                proc.kill()
            ex.shutdown(wait=False, cancel_futures=True)

    def start(self) -> None:
        self._ensure()

    def shutdown(self) -> None:
        with self._lock:
            ex, self._executor = self._executor, None
        if ex is not None:
            procs = list(getattr(ex, "_processes", {}).values())
            ex.shutdown(wait=False, cancel_futures=True)
            # On SIGTERM the interpreter may exit before the executor's thread tells idle workers
            # to stop; they would linger as orphans, so end them explicitly.
            for proc in procs:
                proc.terminate()
            for proc in procs:
                proc.join(timeout=5)

    def _submit(self, path: str, options: AnalysisOptions) -> tuple[asyncio.Future, int]:
        ex = self._ensure()
        generation = self._generation
        return asyncio.wrap_future(ex.submit(self.task, path, options)), generation

    async def _attempt(self, path: str, options: AnalysisOptions) -> dict:
        """One run on the current pool. Raises _Interrupted when the pool died under this task."""
        try:
            fut, generation = self._submit(path, options)
        except (BrokenProcessPool, RuntimeError):  # pool broke/shut down between requests
            self._restart()
            raise _Interrupted(caused_here=False) from None
        self._inflight[generation] = self._inflight.get(generation, 0) + 1
        try:
            return await asyncio.wait_for(fut, timeout=self.timeout_seconds)
        except TimeoutError:
            self.timeouts += 1
            self._restart(generation)
            raise AnalysisTimeout(f"analysis took longer than {self.timeout_seconds:g} s") from None
        except BrokenProcessPool:
            # Either a worker died on some file or another request's timeout killed the pool (the
            # generation has moved on). A crash is only blamed on this file when it was the only
            # one running on that pool; otherwise nobody can tell whose file it was.
            caused_here = generation == self._generation and self._inflight.get(generation) == 1
            self._restart(generation)
            raise _Interrupted(caused_here=caused_here) from None
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise  # this request itself was cancelled (client gone, shutdown)
            # The pool's shutdown(cancel_futures=True) cancelled our queued task.
            raise _Interrupted(caused_here=False) from None
        finally:
            left = self._inflight.get(generation, 1) - 1
            if left:
                self._inflight[generation] = left
            else:
                self._inflight.pop(generation, None)

    async def analyze(self, *, path: str, options: AnalysisOptions) -> AnalysisResult:
        if self.active >= self.max_queue:
            raise PoolBusy(f"{self.active} analyses in progress; try again later")
        self.active += 1
        try:
            try:
                data = await self._attempt(path, options)
            except _Interrupted:
                self.retries += 1
                try:
                    data = await self._attempt(path, options)
                except _Interrupted as again:
                    if again.caused_here:
                        raise WorkerCrashed("the analysis worker crashed twice on this file") from None
                    raise PoolRestarted(
                        "the analysis pool was restarted (another file timed out or crashed); retry"
                    ) from None
            self.completed += 1
            return AnalysisResult.model_validate(data)
        except AnalysisError:
            self.failed += 1
            raise
        finally:
            self.active -= 1

    def state(self) -> dict:
        return {
            "workers": self.workers,
            "started": self._executor is not None,
            "active": self.active,
            "max_queue": self.max_queue,
            "completed": self.completed,
            "failed": self.failed,
            "timeouts": self.timeouts,
            "restarts": self.restarts,
            "retries": self.retries,
            "timeout_seconds": self.timeout_seconds,
        }
