"""`python -m services.web`: check the database, migrate, make sure an admin exists, serve on WEB_PORT."""

from __future__ import annotations

import logging
import sys

import uvicorn

from services.common.db import get_engine, session_scope
from services.common.embedded import ConfigurationError
from services.common.settings import get_settings
from services.web.core.bootstrap import admin_banner, ensure_admin, migrate


def prepare() -> None:
    """Everything the web app needs before serving; safe to run on every start."""
    settings = get_settings()
    from services.common.db import check_database

    engine = get_engine()
    check_database(engine)
    migrate(engine)
    with session_scope() as session:
        created = ensure_admin(session, settings)
    from services.web.collection.libraries import collection_startup

    with session_scope() as session:
        collection_startup(session, settings)  # the DISCOGS_USERNAME library; scheduled re-syncs
    if created:
        print(admin_banner(created, f"http://localhost:{settings.web_port}"), flush=True)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    settings = get_settings()
    try:
        prepare()
    except ConfigurationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    from services.web.app import create_app

    uvicorn.run(create_app(), host=settings.bind_host, port=settings.web_port, log_level="info")


if __name__ == "__main__":
    main()
