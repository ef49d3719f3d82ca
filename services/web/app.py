"""The web app: REST API under /api, browser UI (Jinja2 + htmx), OpenAPI docs at /docs."""

from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import DataError, IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.web.api.deps import get_current_user
from services.web.api.routes import (
    albums,
    analysis,
    auth,
    friends,
    health,
    libraries,
    playlists,
    setbuilder,
    spins,
    sync,
    tracks,
    users,
)
from services.web.collection import views as collection_views
from services.web.ui import tracks as ui_tracks
from services.web.ui import views as ui_views

log = logging.getLogger(__name__)

WEB_DIR = Path(__file__).resolve().parent
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


def _plain_errors(exc: RequestValidationError) -> list[dict]:
    """Validation errors as JSON: drop the echoed input, stringify exception objects in `ctx`."""
    plain = []
    for err in exc.errors():
        item = {k: v for k, v in err.items() if k not in ("input", "ctx", "url")}
        if "ctx" in err:
            item["ctx"] = {k: str(v) for k, v in err["ctx"].items()}
        plain.append(item)
    return plain


def _wants_html(request: Request) -> bool:
    return not request.url.path.startswith("/api") and "text/html" in request.headers.get("accept", "")


def create_app() -> FastAPI:
    app = FastAPI(
        title="DJ Playlist",
        version="0.1.0",
        description="Self-hosted DJ library: Discogs import, analysis, search and set building. "
        "Authenticate with the session cookie (POST /api/auth/login) or `Authorization: Bearer <token>`.",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(
            {"detail": _plain_errors(exc), "message": _validation_message(exc)}, status_code=422
        )

    @app.exception_handler(DataError)
    @app.exception_handler(psycopg.DataError)
    async def data_error(request: Request, exc: Exception) -> JSONResponse:
        # Postgres refused a value the schema let through (an id past bigint, a number out of range).
        message = "a value in the request is out of range or malformed (e.g. an id too large, a NUL character)"
        return JSONResponse({"detail": message, "message": message}, status_code=422)

    @app.exception_handler(IntegrityError)
    async def integrity_error(request: Request, exc: IntegrityError) -> JSONResponse:
        # Routes check what they can; a constraint that still trips means the data conflicts.
        message = "the change conflicts with existing data or leaves a required field empty"
        return JSONResponse({"detail": message, "message": message}, status_code=409)

    @app.exception_handler(Exception)
    async def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse({"detail": "internal error", "message": "internal error"}, status_code=500)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        if exc.status_code == 401 and _wants_html(request):
            return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
        return JSONResponse(
            {"detail": exc.detail, "message": str(exc.detail)},
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @app.middleware("http")
    async def same_origin_for_cookie_writes(request: Request, call_next):
        # Cookie-authenticated writes must come from our own pages (CSRF); token clients send no cookie.
        if (
            request.method not in SAFE_METHODS
            and "authorization" not in request.headers
            and (origin := request.headers.get("origin"))
            and urlsplit(origin).netloc != request.headers.get("host")
        ):
            return JSONResponse(
                {"detail": "cross-origin request refused", "message": "cross-origin request refused"}, 403
            )
        return await call_next(request)

    for router in (
        health.router,
        auth.router,
        users.router,
        libraries.router,
        playlists.router,
        setbuilder.router,
        sync.router,
        albums.router,
        tracks.router,
        friends.router,
        spins.router,
        analysis.router,
    ):
        app.include_router(router)
    app.include_router(ui_tracks.router)
    app.include_router(ui_views.router)
    app.include_router(collection_views.router)
    app.mount("/static", StaticFiles(directory=WEB_DIR / "static"), name="static")

    @app.get("/openapi.json", include_in_schema=False, dependencies=[Depends(get_current_user)])
    def openapi_schema() -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/docs", include_in_schema=False, dependencies=[Depends(get_current_user)])
    def docs():
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="DJ Playlist API",
            swagger_js_url="/static/vendor/swagger-ui-bundle.js",
            swagger_css_url="/static/vendor/swagger-ui.css",
            swagger_favicon_url="/static/favicon.svg",
        )

    return app
