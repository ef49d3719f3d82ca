"""`python -m services.ga_service`: serve the set builder on BIND_HOST:GA_PORT."""

from __future__ import annotations

import logging

import uvicorn

from services.common.settings import get_settings
from services.ga_service.app import create_app


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    settings = get_settings()
    uvicorn.run(create_app(), host=settings.bind_host, port=settings.ga_port, log_level="info")


if __name__ == "__main__":
    main()
