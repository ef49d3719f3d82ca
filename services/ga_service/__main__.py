"""`python -m services.ga_service`: serve the set builder on BIND_HOST:GA_PORT."""

from __future__ import annotations

import uvicorn

from services.common.settings import get_settings
from services.ga_service.app import create_app


def main() -> None:
    settings = get_settings()
    uvicorn.run(create_app(), host=settings.bind_host, port=settings.ga_port, log_level="info")


if __name__ == "__main__":
    main()
