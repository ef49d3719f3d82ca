"""Health check: reports the database and Redis honestly (503 when one is down)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from services.common.db import get_health_engine, get_redis

router = APIRouter(tags=["health"])


def dependency_status() -> dict[str, str]:
    checks: dict[str, str] = {}
    try:
        with get_health_engine().connect() as conn:
            conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # any failure means "down"; the reason is reported, not raised
        checks["database"] = f"down: {type(exc).__name__}"
    try:
        get_redis().ping()
        checks["redis"] = "ok"
    except Exception as exc:
        checks["redis"] = f"down: {type(exc).__name__}"
    return checks


@router.get("/health")
def health() -> JSONResponse:
    checks = dependency_status()
    healthy = all(value == "ok" for value in checks.values())
    return JSONResponse(
        {"status": "ok" if healthy else "unavailable", "service": "web", "checks": checks},
        status_code=200 if healthy else 503,
    )
