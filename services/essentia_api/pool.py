"""Bounded process pool for analysis: one worker per core by default, a per-file timeout, and a
worker that hangs or dies is replaced instead of taking the service down."""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import os
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from services.common.contracts.analysis import AnalysisResult
from services.essentia_api.analysis.pipeline import AnalysisOptions
from services.essentia_api.errors import AnalysisError, AnalysisTimeout, PoolBusy


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


class AnalysisPool:
    def __init__(self, *, workers: int, timeout_seconds: float, max_queue: int | None = None) -> None:
        self.workers = workers if workers > 0 else (os.cpu_count() or 1)
        self.timeout_seconds = timeout_seconds
        self.max_queue = max_queue if max_queue is not None else self.workers * 8
        self._lock = threading.Lock()
        self._executor: ProcessPoolExecutor | None = None
        self.active = 0
        self.completed = 0
        self.failed = 0
        self.timeouts = 0
        self.restarts = 0

    def _ensure(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._executor is None:
                # spawn: a fresh interpreter per worker, no forked copy of uvicorn's event loop/threads.
                ctx = mp.get_context("spawn")
                self._executor = ProcessPoolExecutor(
                    max_workers=self.workers, mp_context=ctx, initializer=_warm
                )
            return self._executor

    def _restart(self) -> None:
        with self._lock:
            ex, self._executor = self._executor, None
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

    async def analyze(self, *, path: str, options: AnalysisOptions) -> AnalysisResult:
        if self.active >= self.max_queue:
            raise PoolBusy(f"{self.active} analyses in progress; try again later")
        self.active += 1
        try:
            fut = asyncio.wrap_future(self._ensure().submit(_run, path, options))
            try:
                data = await asyncio.wait_for(fut, timeout=self.timeout_seconds)
            except TimeoutError:
                self.timeouts += 1
                self._restart()
                raise AnalysisTimeout(f"analysis took longer than {self.timeout_seconds:g} s") from None
            except BrokenProcessPool:
                self._restart()
                raise AnalysisError("analysis worker crashed on this file") from None
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
            "timeout_seconds": self.timeout_seconds,
        }
