"""`python -m services.web`: check the database, migrate, make sure an admin exists, serve on WEB_PORT
with WEB_WORKERS worker processes (default: one per core)."""

from __future__ import annotations

import logging
import os
import sys

import uvicorn

from services.common.embedded import ConfigurationError
from services.common.settings import get_settings
from services.domain.startup import admin_banner, prepare


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    settings = get_settings()
    try:
        created = prepare()
    except ConfigurationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    if created:
        print(admin_banner(created, f"http://localhost:{settings.web_port}"), flush=True)
    from services.common import db

    db.get_engine().dispose()  # the workers open their own pools; this process only supervises them
    # The worker processes are spawned: hand them the servers this process resolved (embedded ones included).
    os.environ.setdefault("DATABASE_URL", db.database_url())
    os.environ.setdefault("REDIS_URL", db.redis_url())
    # WEB_WORKERS processes (0 = one per core); uvicorn restarts a worker that dies.
    uvicorn.run("services.web.app:create_app", factory=True, workers=settings.resolved_web_workers,
                host=settings.bind_host, port=settings.web_port, log_level="info",
                access_log=settings.web_access_log)


if __name__ == "__main__":
    main()
