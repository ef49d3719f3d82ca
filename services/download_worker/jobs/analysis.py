"""Worker job: analyse a track's local audio with the analysis service and store the result."""

from __future__ import annotations

import logging

from rq import get_current_job

from services.common.db import session_scope
from services.common.models import Track
from services.common.settings import get_settings
from services.web.analysis.audio import AudioPathError, relative_to_audio_dir
from services.web.analysis.client import AnalysisClient, AnalysisServiceError
from services.web.analysis.service import store_analysis

log = logging.getLogger(__name__)


class AnalysisJobError(RuntimeError):
    """The job cannot succeed as things are (no audio, bad file): the message says why.

    Raised only after `_no_retry()`: retrying would give the same answer.
    """


def _no_retry() -> None:
    # RQ decides on a retry from the very Job object the job runs under: clear its retries.
    job = get_current_job()
    if job is not None:
        job.retries_left = 0


def _progress(stage: str, percent: int, **extra) -> None:
    job = get_current_job()
    if job is not None:
        job.meta.update({"stage": stage, "percent": percent, **extra})
        job.save_meta()


def analyze_track_job(track_pk: int) -> dict:
    settings = get_settings()
    _progress("loading", 5)
    with session_scope() as session:
        track = session.get(Track, track_pk)
        if track is None or track.deleted_at is not None:
            _no_retry()
            raise AnalysisJobError(f"track {track_pk} no longer exists")
        if not track.local_audio_path:
            _no_retry()
            raise AnalysisJobError(f"track {track_pk} has no local audio to analyse")
        try:
            rel = relative_to_audio_dir(settings.resolved_audio_dir, track.local_audio_path)
        except AudioPathError as exc:
            _no_retry()
            raise AnalysisJobError(str(exc)) from None
    _progress("analyzing", 20)
    try:
        with AnalysisClient(settings.essentia_api_url) as client:
            result = client.analyze_path(rel)
    except AnalysisServiceError as exc:
        if exc.is_client_error:
            reason = f"the file cannot be analysed: {exc.detail}"
            _progress("failed", 100, error=reason)
            _no_retry()
            raise AnalysisJobError(reason) from None
        _progress("retrying", 0, error=f"analysis service unavailable: {exc.detail}")
        raise  # 5xx / unreachable: RQ retries it (see enqueue_analysis)
    _progress("storing", 90)
    with session_scope() as session:
        track = session.get(Track, track_pk)
        if track is None:
            _no_retry()
            raise AnalysisJobError(f"track {track_pk} was removed during analysis")
        store_analysis(session=session, track=track, result=result)
    _progress("done", 100)
    return {"track_pk": track_pk, "bpm": result.bpm, "camelot": result.camelot, "energy": result.energy}
