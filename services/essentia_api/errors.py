"""Errors the analysis raises; the app maps each to an HTTP status (never a 200 with an error body)."""

from __future__ import annotations


class AnalysisError(Exception):
    status_code = 500
    code = "analysis_failed"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class UnreadableAudio(AnalysisError):
    status_code = 422
    code = "unreadable_audio"


class EmptyAudio(AnalysisError):
    status_code = 422
    code = "empty_audio"


class TooShort(AnalysisError):
    status_code = 422
    code = "too_short"


class SilentAudio(AnalysisError):
    status_code = 422
    code = "silent_audio"


class AnalysisTimeout(AnalysisError):
    status_code = 504
    code = "timeout"


class PoolBusy(AnalysisError):
    status_code = 503
    code = "busy"
