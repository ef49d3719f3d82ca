"""Errors the analysis raises; the app maps each to an HTTP status (never a 200 with an error body)."""

from __future__ import annotations


class AnalysisError(Exception):
    status_code = 500
    code = "analysis_failed"
    # Seconds for a Retry-After header (transient errors only).
    retry_after: int | None = None

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail

    def headers(self) -> dict[str, str] | None:
        return {"Retry-After": str(self.retry_after)} if self.retry_after is not None else None


class RequestError(AnalysisError):
    """The request itself is malformed (no file or path, a path outside AUDIO_DIR)."""

    status_code = 400
    code = "bad_request"


class NotFound(AnalysisError):
    status_code = 404
    code = "not_found"


class TooLarge(AnalysisError):
    status_code = 413
    code = "too_large"


class UnsupportedType(AnalysisError):
    status_code = 415
    code = "unsupported_type"


class UnreadableAudio(AnalysisError):
    status_code = 422
    code = "unreadable_audio"


class EmptyAudio(AnalysisError):
    status_code = 422
    code = "empty_audio"


class TooShort(AnalysisError):
    status_code = 422
    code = "too_short"


class TooLong(AnalysisError):
    """Longer than ANALYSIS_MAX_DURATION_MINUTES: the whole decode is held in memory."""

    status_code = 413
    code = "too_long"


class SilentAudio(AnalysisError):
    status_code = 422
    code = "silent_audio"


class AnalysisTimeout(AnalysisError):
    status_code = 504
    code = "timeout"


class WorkerCrashed(AnalysisError):
    """The worker process died on this file twice (once more on a fresh pool): a decoder or
    Essentia crash on this input, so a client error rather than a server one."""

    status_code = 422
    code = "worker_crashed"


class PoolBusy(AnalysisError):
    status_code = 503
    code = "busy"
    retry_after = 5


class PoolRestarted(AnalysisError):
    """This request's worker was killed because of another file (a timeout or crash elsewhere
    restarts the pool) and the one transparent retry was interrupted the same way."""

    status_code = 503
    code = "pool_restarted"
    retry_after = 5
