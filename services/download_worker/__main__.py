"""`python -m services.download_worker`: an RQ worker on every queue (see queues.py).

Pass queue names as arguments to listen on a subset, e.g. `python -m services.download_worker sync`.
"""

from __future__ import annotations

import logging
import sys

from rq import Queue, Worker

from services.common.db import get_redis
from services.common.embedded import ConfigurationError
from services.download_worker.queues import ALL_QUEUES, SYNC_QUEUE


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    names = (argv if argv is not None else sys.argv[1:]) or list(ALL_QUEUES)
    unknown = sorted(set(names) - set(ALL_QUEUES))
    if unknown:
        print(
            f"error: unknown queue(s) {', '.join(unknown)}; known: {', '.join(ALL_QUEUES)}", file=sys.stderr
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
    queues = [Queue(name, connection=connection) for name in names]
    if SYNC_QUEUE in names:
        # A worker killed mid-sync left a run in Postgres: finish it now rather than at the next sync.
        from services.web.collection.jobs import resume_interrupted_syncs

        resume_interrupted_syncs()
    # The scheduler runs scheduled/periodic jobs (e.g. library re-syncs) from this worker.
    Worker(queues, connection=connection).work(with_scheduler=True)


if __name__ == "__main__":
    main()
