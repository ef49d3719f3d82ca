"""Getting a collection in: start a Discogs sync and follow it, import a CSV export, plan re-syncs.

The entry points the API, the browser UI and the CLI share; the sync itself is `sync.py`, its
background job `jobs.py`.
"""

from __future__ import annotations

from datetime import datetime
from typing import BinaryIO

from pydantic import BaseModel, Field
from redis.exceptions import RedisError
from sqlalchemy.orm import Session

from services.common.contracts.discogs import CsvImportResult, SyncJobStatus, SyncMode, SyncProgress
from services.common.models import Library, User
from services.common.settings import get_settings
from services.domain import jobs as queue
from services.domain.access import owned_library, owns, readable_library, writable_library
from services.domain.accounts.discogs_tokens import discogs_token_for
from services.domain.collection import jobs
from services.domain.collection.albums import library_counts
from services.domain.collection.csv_import import (
    CsvImportError,
    import_albums,
    parse_collection_csv,
)
from services.domain.collection.sync import ProgressCallback, SyncAlreadyRunning, SyncError, run_sync
from services.domain.errors import Conflict, Invalid, NotFound, Refused, Unavailable
from services.domain.libraries.service import follow_friend, update_settings
from services.domain.sources.base import SourceError
from services.domain.sources.discogs import DiscogsSource


class SyncState(BaseModel):
    library_id: int
    job: SyncJobStatus | None = Field(
        None, description="The latest sync job enqueued for this library (absent while Redis is down)"
    )
    last_run: SyncProgress | None = Field(None, description="The latest sync run, durable (survives restarts)")
    next_scheduled_sync: datetime | None = None
    counts: dict[str, int]

    @property
    def live(self) -> bool:
        return self.job is not None and self.job.job_status in queue.LIVE_STATUSES

    @property
    def progress(self) -> SyncProgress | None:
        """What to show: the live job's progress while it runs, else the last run."""
        if self.live and self.job.progress is not None:
            return self.job.progress
        return self.last_run


def sync_state(*, session: Session, library: Library) -> SyncState:
    """Where the library's sync stands. A Redis outage hides the live job but never fails the page."""
    job_status = next_at = None
    try:
        job = jobs.current_job(library.id)
        job_status = jobs.job_status(job) if job is not None else None
        next_at = jobs.scheduled_resync_at(library.id)
    except RedisError:
        pass
    return SyncState(library_id=library.id, job=job_status, last_run=jobs.latest_progress(session, library.id),
                     next_scheduled_sync=next_at, counts=library_counts(session=session, library=library))


def can_sync(*, user: User, library: Library) -> bool:
    return owns(user, library) and bool(library.discogs_username) and discogs_token_for(user) is not None


def _has_token() -> bool:
    return get_settings().discogs_user_token is not None


def start_sync(*, session: Session, user: User, library_id: int, mode: SyncMode = "full") -> SyncState:
    """Enqueue a Discogs sync (or find the one queued or running). `refresh` refetches every release;
    `tracklists` only fills missing tracklists (CSV imports). Owners only, friends' imports included."""
    library = owned_library(session=session, user=user, library_id=library_id)
    if discogs_token_for(user) is None:
        raise Refused(jobs.NEEDS_OWN_TOKEN if get_settings().discogs_user_token is not None else
                      "DISCOGS_USER_TOKEN is not set: set it (or your own token in Settings) to sync from Discogs, "
                      "or upload a CSV export", code="discogs_token_missing")
    if mode != "tracklists" and not library.discogs_username:
        raise Refused("library has no Discogs username: upload a CSV export, or sync mode=tracklists",
                      code="discogs_username_missing")
    with queue.queue_errors():
        jobs.enqueue_sync(library_id=library.id, mode=mode, user_id=user.id)
    return sync_state(session=session, library=library)


def sync_job(*, session: Session, user: User, job_id: str) -> SyncJobStatus:
    with queue.queue_errors():
        job = queue.fetch_job(job_id, kind="sync")
        if job is None:
            raise NotFound("job not found")
        readable_library(session=session, user=user, library_id=int(job.meta["library_id"]))
        return jobs.job_status(job)


def set_resync_interval(*, session: Session, user: User, library_id: int, hours: float | None) -> SyncState:
    """Re-sync from Discogs every `hours` (None or 0 turns it off)."""
    library = owned_library(session=session, user=user, library_id=library_id)
    if hours and not library.discogs_username:
        raise Refused("library has no Discogs username to re-sync", code="discogs_username_missing")
    update_settings(library=library, changes={jobs.RESYNC_SETTING: hours or None})
    session.commit()  # the scheduler reads the interval from the database
    with queue.queue_errors():
        jobs.schedule_resync(library_id=library.id)
    return sync_state(session=session, library=library)


def import_csv(
    *, session: Session, user: User, library_id: int, stream: BinaryIO, queue_tracklists: bool = True
) -> CsvImportResult:
    """Albums from a Discogs collection export, created at once (committed); with `queue_tracklists`,
    tracklists are then filled by a background sync (mode=tracklists) when a Discogs token is set."""
    library = writable_library(session=session, user=user, library_id=library_id)
    try:
        albums = parse_collection_csv(stream)  # read line by line, size and row caps enforced while reading
    except CsvImportError as exc:
        raise Invalid(str(exc), code="bad_csv") from None
    created, updated = import_albums(session.connection(), library.id, albums)
    session.commit()
    job_id = jobs.start_sync_after_import(library_id=library.id, mode="tracklists") if queue_tracklists else None
    return CsvImportResult(library_id=library.id, rows=len(albums), albums_created=created,
                           albums_updated=updated, sync_job_id=job_id)


def sync_now(*, library_id: int, mode: SyncMode, progress: ProgressCallback | None = None) -> SyncProgress:
    """Run a sync in this process (the CLI), reporting progress to `progress`."""
    if not _has_token():
        raise Refused("DISCOGS_USER_TOKEN is not set: set it to sync from Discogs (or use `djp import csv FILE`)",
                      code="discogs_token_missing")
    try:
        with DiscogsSource.from_settings() as source:
            return run_sync(library_id=library_id, source=source, mode=mode, progress=progress)
    except SyncAlreadyRunning as exc:
        raise Conflict(str(exc), code="sync_running") from None
    except SyncError as exc:
        raise Refused(str(exc)) from None
    except SourceError as exc:
        raise Unavailable(f"Discogs: {exc.reason}", code="discogs_error") from None


def follow_friend_and_sync(*, session: Session, user: User, username: str) -> tuple[Library, str | None]:
    """Follow a friend (committed) and start importing their collection in the background."""
    library = follow_friend(session=session, user=user, username=username)
    session.commit()
    return library, jobs.start_sync_after_import(library_id=library.id, mode="full")
