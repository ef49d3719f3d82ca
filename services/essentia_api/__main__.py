"""`python -m services.essentia_api`: serve the analysis API on BIND_HOST:ESSENTIA_PORT."""

from __future__ import annotations

import logging

import uvicorn

from services.common.settings import get_settings
from services.essentia_api.app import create_app


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    settings = get_settings()
    uvicorn.run(
        create_app(settings=settings), host=settings.bind_host, port=settings.essentia_port, log_level="info"
    )


if __name__ == "__main__":
    main()
