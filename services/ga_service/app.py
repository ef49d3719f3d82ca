"""HTTP API of the set builder: GET /health, POST /generate (see services/common/contracts/setbuilder.py)."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from services.common.contracts.setbuilder import GenerateRequest, GenerateResponse
from services.common.http import error_response, install_error_handling, require_service_token
from services.common.settings import get_settings
from services.ga_service.pool import PoolManager
from services.ga_service.service import SetBuilderError, generate_set

log = logging.getLogger(__name__)


def create_app(*, workers: int | None = None, start_pool: bool = True) -> FastAPI:
    """`start_pool=False` (or a TestClient used without `with`) runs islands in-process."""
    settings = get_settings()
    pool = PoolManager(settings.ga_workers if workers is None else workers)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if start_pool:
            pool.start()
        yield
        pool.shutdown()

    app = FastAPI(title="DJ Playlist set builder", version="0.1.0", lifespan=lifespan)
    app.state.pool = pool

    require_service_token(app, settings)
    install_error_handling(app, log=log)

    @app.exception_handler(SetBuilderError)
    async def _set_builder_error(_request: Request, exc: SetBuilderError) -> JSONResponse:
        return error_response(422, str(exc), "invalid")

    @app.get("/health")
    def health() -> dict:
        return {
            "status": "ok",
            "service": "ga_service",
            "max_tracks": settings.ga_max_tracks,
            "pool": pool.state(),
        }

    # A plain `def`: FastAPI runs it in its threadpool, so the event loop stays free while we compute.
    @app.post("/generate", response_model=GenerateResponse)
    def generate(request: GenerateRequest) -> GenerateResponse:
        return generate_set(
            request=request,
            executor=pool.executor,
            max_tracks=settings.ga_max_tracks,
            on_broken_pool=pool.mark_broken,
        )

    return app
