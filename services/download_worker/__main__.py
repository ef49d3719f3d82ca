"""`python -m services.download_worker [queue ...]`: an RQ worker for the background jobs.

It runs every job of the domain (Discogs syncs, downloads, analyses, search index syncs),
listening on the queues in `services.domain.jobs.ALL_QUEUES` priority order, or on the ones named.
Several workers, on this machine or others, can share one Redis.
"""

from __future__ import annotations

import logging
import sys
import threading

from rq import Worker

from services.common.db import get_redis
from services.common.embedded import ConfigurationError
from services.domain import jobs
from services.domain.backups.jobs import schedule_backups
from services.domain.collection.jobs import resume_interrupted_syncs
from services.domain.downloads.jobs import keep_recovering, recover_downloads
from services.domain.maintenance.jobs import schedule_repair
from services.domain.new_releases.jobs import schedule_checks
from services.domain.search.jobs import schedule_index_sync


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    # httpx logs one INFO line per request: a Discogs sync makes thousands (set here, not in a job: a job
    # run in another process, a test, must not change that process's logging)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    names = (argv if argv is not None else sys.argv[1:]) or list(jobs.ALL_QUEUES)
    unknown = sorted(set(names) - set(jobs.ALL_QUEUES))
    if unknown:
        print(
            f"error: unknown queue(s) {', '.join(unknown)}; known: {', '.join(jobs.ALL_QUEUES)}", file=sys.stderr
        )
        raise SystemExit(2)
    try:
        connection = get_redis()
        connection.ping()
    except ConfigurationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    except Exception as exc:
        print(f"error: cannot reach Redis ({type(exc).__name__}): check REDIS_URL", file=sys.stderr)
        raise SystemExit(2) from None
    if jobs.SYNC_QUEUE in names:
        # A worker killed mid-sync left a run in Postgres: finish it now rather than at the next sync.
        resume_interrupted_syncs()
    # A worker killed on this machine may still hold the scheduler locks: take them over now.
    jobs.release_dead_scheduler_locks(names)
    if jobs.DOWNLOAD_QUEUE in names:
        # Downloads of a worker that was killed are retried (and their work folders swept), now and
        # every few seconds from a watchdog thread.
        recover_downloads()
        threading.Thread(target=keep_recovering, args=(threading.Event(),), name="download-recovery",
                         daemon=True).start()
    if jobs.SEARCH_QUEUE in names:
        schedule_index_sync()  # MeiliSearch only: keeps the index in step with Postgres
    if jobs.EMBEDDINGS_QUEUE in names:
        from services.domain.embeddings.jobs import catch_up

        catch_up()  # tracks missing vectors of the active model (a switched provider): backfill them
    if jobs.SYNC_QUEUE in names:
        schedule_backups()  # BACKUP_INTERVAL_HOURS > 0: plans the next scheduled backup
        schedule_repair()  # REPAIR_INTERVAL_HOURS > 0: embeddings and search drift repair
        schedule_checks()  # DISCOGS_NEW_RELEASES_INTERVAL_HOURS > 0: new releases of the libraries' artists
    # The scheduler runs scheduled/periodic jobs (e.g. library re-syncs) from this worker.
    Worker([jobs.queue(name) for name in names], connection=connection).work(with_scheduler=True)


if __name__ == "__main__":
    main()
