"""The web app: REST API under /api, browser UI (Jinja2 + htmx), OpenAPI docs at /docs."""

from __future__ import annotations

import logging
from pathlib import Path

from fastapi import Depends, FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from services.common.http import install_error_handling
from services.web.api.deps import get_current_user
from services.web.api.admission import install_admission_control
from services.web.api.errors import install_domain_errors
from services.web.api.limits import install_request_limits
from services.web.api.query_params import reject_unknown_query
from services.web.api.security import docs_response, install_browser_security
from services.web.api.routes import (
    admin,
    albums,
    analysis,
    assist,
    audio_files,
    auth,
    backups,
    downloads,
    enrichment,
    friends,
    health,
    jobs,
    libraries,
    new_releases,
    playlist_files,
    playlists,
    recommendations,
    search,
    setbuilder,
    spins,
    spotify,
    sync,
    tracks,
    users,
)
from services.web.ui import backups_page as ui_backups
from services.web.ui import collection_forms as ui_collection_forms
from services.web.ui import enrichment as ui_enrichment
from services.web.ui import jobs as ui_jobs
from services.web.ui import libraries as ui_libraries
from services.web.ui import pages as ui_pages
from services.web.ui import palette as ui_palette
from services.web.ui import playlist_edit as ui_playlist_edit
from services.web.ui import playlists as ui_playlists
from services.web.ui import search as ui_search
from services.web.ui import spotify as ui_spotify
from services.web.ui import settings_page as ui_settings
from services.web.ui import shares_page as ui_shares
from services.web.ui import similar as ui_similar
from services.web.ui import suggestions as ui_suggestions
from services.web.ui import tracks as ui_tracks

log = logging.getLogger(__name__)

WEB_DIR = Path(__file__).resolve().parent
# The most requested reads first: a request is matched against the routes in this order (each miss costs
# a regex match). search before tracks: /api/tracks/search must win over /api/tracks/{track_pk}.
# tests/web/test_routes.py checks that no path two routes could both answer depends on any other order.
API_ROUTERS = (health, search, tracks, albums, playlist_files, playlists, auth, users, admin, backups, jobs, libraries,
               setbuilder, sync, downloads, friends, spins, analysis, audio_files, assist, spotify, enrichment,
               recommendations, new_releases)
# /tracks (the browser) before /tracks/{track_pk}; playlist_edit (/playlists/options) before playlists
UI_ROUTERS = (ui_palette, ui_backups, ui_search, ui_tracks, ui_pages, ui_libraries, ui_playlist_edit, ui_playlists,
              ui_jobs, ui_collection_forms, ui_settings, ui_suggestions, ui_spotify, ui_enrichment, ui_similar,
              ui_shares)


def create_app() -> FastAPI:
    app = FastAPI(
        title="DJ Playlist",
        version="0.1.0",
        description="Self-hosted DJ library: Discogs import, analysis, search and set building. "
        "Authenticate with the session cookie (POST /api/auth/login) or `Authorization: Bearer <token>`. "
        'Errors are `{"detail": "...", "code": "..."}`.',
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    install_error_handling(app, log=log)
    install_domain_errors(app)
    install_request_limits(app)

    install_browser_security(app)  # CSRF (Origin/Referer) and security headers: services/web/api/security.py

    for module in API_ROUTERS:
        app.include_router(module.router, dependencies=[Depends(reject_unknown_query)])
    for module in UI_ROUTERS:
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=WEB_DIR / "static"), name="static")

    @app.get("/openapi.json", include_in_schema=False, dependencies=[Depends(get_current_user)])
    def openapi_schema() -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/docs", include_in_schema=False, dependencies=[Depends(get_current_user)])
    def docs():
        return docs_response(get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="DJ Playlist API",
            swagger_js_url="/static/vendor/swagger-ui-bundle.js",
            swagger_css_url="/static/vendor/swagger-ui.css",
            swagger_favicon_url="/static/favicon.svg",
        ))

    install_admission_control(app)  # last: the outermost of the app's middleware
    return app
