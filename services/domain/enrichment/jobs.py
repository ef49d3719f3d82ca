"""The auto-match job (kind "enrichment"): queued by `service.start_enrichment`, run by the worker
through `service.run_enrichment`, with stage, percent, processed/total and the source in job.meta and the
per-source counts as its result. It talks to outside catalogs for a long time, like a Discogs sync, so it
runs on the sync queue (the stack's network-bound worker), never holding up downloads or analyses."""

from __future__ import annotations

import logging
from contextlib import ExitStack

from rq.job import Job

from services.common.db import get_redis
from services.common.settings import get_settings
from services.domain import jobs
from services.domain.enrichment import service
from services.domain.enrichment.sources import base
from services.domain.enrichment.sources.base import SourceNotConfigured

log = logging.getLogger(__name__)

QUEUE = jobs.ENRICHMENT_QUEUE
KIND = "enrichment"
JOB_TIMEOUT = 12 * 3600  # thousands of tracks on three platforms, a few requests each
_CURRENT_KEY = "djp:enrich:library:{}"


def enrich_library_job(library_id: int, sources: list[str], user_id: int | None = None) -> dict:
    """Run by the worker: match the library's tracks on `sources`. A source whose credentials went
    missing since the job was queued is reported as stopped, the others still run."""
    jobs.start_attempt()
    settings = get_settings()
    unavailable: dict[str, str] = {}
    with ExitStack() as stack, jobs.heartbeat():
        clients = {}
        for name in sources:
            try:
                clients[name] = stack.enter_context(base.source(name, settings=settings))
            except SourceNotConfigured as exc:
                unavailable[name] = exc.detail
        result = service.run_enrichment(
            library_id=library_id, clients=clients, job_id=jobs.current_job_id(), unavailable=unavailable,
            progress=lambda p: jobs.report_progress(**p),
        )
    return result.model_dump(mode="json")


def current_job(library_id: int) -> Job | None:
    with jobs.queue_errors():
        job_id = get_redis().get(_CURRENT_KEY.format(library_id))
        return jobs.fetch_job(job_id.decode(), kind=KIND) if job_id else None


def status_of(job: Job) -> str:
    return jobs.status_of(job)


def enqueue_enrichment(*, library_id: int, sources: list[str], user_id: int | None = None) -> tuple[Job, bool]:
    """Queue the auto-match unless a job for the library covering these sources is queued or running.
    Returns (job, created). Two jobs at once are harmless (each write re-checks the track), only wasteful."""
    with jobs.queue_errors():
        job = current_job(library_id)
        if job is not None and jobs.status_of(job) in jobs.LIVE_STATUSES \
                and set(sources) <= set((job.meta or {}).get("sources") or []):
            return job, False
        labels = ", ".join(base.source_class(n).label for n in sources)
        job = jobs.enqueue(
            QUEUE, enrich_library_job, library_id, list(sources), user_id, kind=KIND, library_id=library_id,
            user_id=user_id, meta={"sources": list(sources), "heartbeat": True},
            job_timeout=JOB_TIMEOUT, result_ttl=7 * 86400, failure_ttl=7 * 86400,
            description=f"Match links on {labels} for library {library_id}",
        )
        get_redis().set(_CURRENT_KEY.format(library_id), job.id, ex=8 * 86400)
    return job, True
