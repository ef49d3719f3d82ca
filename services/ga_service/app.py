"""HTTP API of the set builder: GET /health, POST /generate (see services/common/contracts/setbuilder.py)."""

from __future__ import annotations

import math
from contextlib import asynccontextmanager

from fastapi import FastAPI, HTTPException, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from services.common.contracts.setbuilder import GenerateRequest, GenerateResponse
from services.common.service_auth import require_service_token
from services.common.settings import get_settings
from services.ga_service.pool import PoolManager
from services.ga_service.service import SetBuilderError, generate_set


def _finite(value):
    """NaN/inf are not valid JSON: echoing a NaN bpm back in the error would turn a 422 into a 500."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


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

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(status_code=422, content={"detail": _finite(jsonable_encoder(exc.errors()))})

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
        try:
            return generate_set(
                request=request,
                executor=pool.executor,
                max_tracks=settings.ga_max_tracks,
                on_broken_pool=pool.mark_broken,
            )
        except SetBuilderError as exc:
            raise HTTPException(status_code=422, detail=str(exc)) from exc

    return app
