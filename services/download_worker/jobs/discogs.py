"""Discogs sync jobs (queue "sync"): progress in job.meta, durable state in sync_runs.

Enqueued by `services.web.collection.jobs.enqueue_sync`; a killed job is resumed by the next one
for the same library (see services.web.collection.sync).
"""

from __future__ import annotations

import logging

from rq import get_current_job

from services.common.contracts.discogs import SyncProgress
from services.web.collection.sync import SyncAlreadyRunning, run_sync

log = logging.getLogger(__name__)
logging.getLogger("httpx").setLevel(logging.WARNING)  # one INFO line per request is noise here


def _save_progress(progress: SyncProgress) -> None:
    job = get_current_job()
    if job is None:
        return
    job.meta.update(progress.model_dump(mode="json"))
    job.save_meta()


def sync_library_job(library_id: int, mode: str = "full", scheduled: bool = False) -> dict:
    """Sync one library from Discogs; schedules its next periodic re-sync when the library has one."""
    from services.web.collection.jobs import schedule_resync
    from services.web.sources.discogs import DiscogsSource

    job = get_current_job()
    try:
        with DiscogsSource.from_settings() as source:
            result = run_sync(
                library_id=library_id,
                source=source,
                mode=mode,  # type: ignore[arg-type]
                job_id=job.id if job else None,
                progress=_save_progress,
            )
    except SyncAlreadyRunning as exc:
        log.info("%s", exc)
        return {"library_id": library_id, "skipped": str(exc)}
    finally:
        if scheduled or mode == "full":
            try:
                schedule_resync(library_id=library_id)
            except Exception:  # never fail the sync because the next one could not be planned
                log.exception("could not schedule the next re-sync of library %s", library_id)
    return result.model_dump(mode="json")
