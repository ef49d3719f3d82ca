"""Analysis jobs (queue "analysis"): queued by the edges, run by the worker through the analysis
service (services/essentia_api), stored on the track, with stage and percent in job.meta."""

from __future__ import annotations

import logging

from pydantic import BaseModel
from rq import Retry
from rq.job import Job

from services.common.audio_files import AudioPathError
from services.common.db import session_scope
from services.common.models import Track
from services.common.settings import get_settings
from services.domain import jobs
from services.domain.analysis.audio import relative_to_audio_dir
from services.domain.analysis.client import AnalysisClient, AnalysisServiceError
from services.domain.analysis.results import store_analysis

log = logging.getLogger(__name__)

JOB_TIMEOUT = 15 * 60


class AnalysisJobState(BaseModel):
    job_id: str
    status: str
    stage: str | None
    percent: int
    track_pk: int | None
    error: str | None


class AnalysisJobError(RuntimeError):
    """The job cannot succeed as things are (no audio, bad file): the message says why.

    Raised only after `jobs.stop_retries()`: retrying would give the same answer.
    """


def enqueue_analysis(*, track: Track, user_id: int | None = None) -> Job:
    """`user_id`: the user asking, whose job cap applies; None when the system queues it (after a download)."""
    job = jobs.enqueue(
        jobs.ANALYSIS_QUEUE,
        analyze_track_job,
        track.id,
        kind="analysis",
        library_id=track.library_id,
        track_pk=track.id,
        user_id=user_id,
        job_timeout=JOB_TIMEOUT,
        result_ttl=86400,
        failure_ttl=7 * 86400,
        retry=Retry(max=2, interval=[15, 60]),  # only transient failures raise past the job's own checks
        description=f"Analyse {track.artist or 'unknown'} – {track.title}",
    )
    jobs.remember_track_job(kind="analysis", track_pk=track.id, job=job)
    return job


def enqueue_analysis_once(*, track: Track, user_id: int | None = None) -> tuple[Job, bool]:
    """Queue an analysis unless one is queued or running for the track (batches): (job, created)."""
    live = jobs.live_track_job(kind="analysis", track_pk=track.id)
    if live is not None:
        return live, False
    return enqueue_analysis(track=track, user_id=user_id), True


def job_state(job: Job) -> AnalysisJobState:
    job.refresh()
    meta = dict(job.meta or {})
    status = jobs.status_of(job)
    return AnalysisJobState(
        job_id=job.id,
        status=status,
        stage=meta.get("stage"),
        percent=100 if status == "finished" else int(meta.get("percent", 0)),
        track_pk=meta.get("track_pk"),
        error=jobs.failure_reason(job),
    )


def _give_up(reason: str) -> AnalysisJobError:
    jobs.stop_retries()
    return AnalysisJobError(reason)


def analyze_track_job(track_pk: int) -> dict:
    """Run by the worker: analyse the track's local audio and store the result."""
    settings = get_settings()
    jobs.report_progress(stage="loading", percent=5)
    with session_scope() as session:
        track = session.get(Track, track_pk)
        if track is None or track.deleted_at is not None:
            raise _give_up(f"track {track_pk} no longer exists")
        if not track.local_audio_path:
            raise _give_up(f"track {track_pk} has no local audio to analyse")
        try:
            rel = relative_to_audio_dir(settings.resolved_audio_dir, track.local_audio_path)
        except AudioPathError as exc:
            raise _give_up(str(exc)) from None
    jobs.report_progress(stage="analyzing", percent=20)
    try:
        with AnalysisClient(settings.essentia_api_url) as client:
            result = client.analyze_path(rel)
    except AnalysisServiceError as exc:
        if exc.is_client_error:
            reason = f"the file cannot be analysed: {exc.detail}"
            jobs.report_progress(stage="failed", percent=100, error=reason)
            raise _give_up(reason) from None
        jobs.report_progress(stage="retrying", percent=0, error=f"analysis service unavailable: {exc.detail}")
        raise  # 5xx / unreachable: RQ retries it (see enqueue_analysis)
    jobs.report_progress(stage="storing", percent=90)
    with session_scope() as session:
        track = session.get(Track, track_pk)
        if track is None:
            raise _give_up(f"track {track_pk} was removed during analysis")
        store_analysis(session=session, track=track, result=result)
        bpm, camelot = track.bpm, track.camelot  # in effect: the style's octave or the DJ's correction, if any
    jobs.report_progress(stage="done", percent=100)
    return {"track_pk": track_pk, "bpm": bpm, "camelot": camelot, "energy": result.energy}
