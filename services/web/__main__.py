"""`python -m services.web`: check the database, migrate, make sure an admin exists, serve on WEB_PORT."""

from __future__ import annotations

import logging
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
    from services.web.app import create_app

    uvicorn.run(create_app(), host=settings.bind_host, port=settings.web_port, log_level="info")


if __name__ == "__main__":
    main()
