"""Analysis jobs: queued by the web app, run by the worker (services.download_worker.jobs.analysis)."""

from __future__ import annotations

from typing import Any

from rq import Queue, Retry
from rq.exceptions import NoSuchJobError
from rq.job import Job

from services.common.db import get_redis
from services.common.models import Track
from services.download_worker.queues import ANALYSIS_QUEUE

JOB_FUNC = "services.download_worker.jobs.analysis.analyze_track_job"
JOB_TIMEOUT = 15 * 60


def enqueue_analysis(*, track: Track) -> Job:
    return Queue(ANALYSIS_QUEUE, connection=get_redis()).enqueue(
        JOB_FUNC,
        track.id,
        job_timeout=JOB_TIMEOUT,
        result_ttl=86400,
        failure_ttl=7 * 86400,
        retry=Retry(max=2, interval=[15, 60]),  # only transient failures raise past the job's own checks
        meta={
            "kind": "analysis",
            "track_pk": track.id,
            "library_id": track.library_id,
            "stage": "queued",
            "percent": 0,
        },
        description=f"Analyse track {track.id}",
    )


def fetch_analysis_job(job_id: str) -> Job | None:
    try:
        job = Job.fetch(job_id, connection=get_redis())
    except (NoSuchJobError, ValueError):  # ValueError: not a valid RQ job id at all
        return None
    return job if (job.meta or {}).get("kind") == "analysis" else None


def analysis_job_state(job: Job) -> dict[str, Any]:
    job.refresh()
    meta = dict(job.meta or {})
    status = job.get_status()
    status = str(getattr(status, "value", status))
    error = meta.get("error")
    if status == "failed" and not error:
        result = job.latest_result()
        error = (
            (result.exc_string or "").strip().splitlines()[-1] if result and result.exc_string else "failed"
        )
    return {
        "job_id": job.id,
        "status": status,
        "stage": meta.get("stage"),
        "percent": 100 if status == "finished" else meta.get("percent", 0),
        "track_id": meta.get("track_pk"),
        "error": error,
    }
