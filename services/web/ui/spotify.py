"""Spotify in the browser: the Connections page (connect / connected as X / disconnect) and the playlist page's
"Export to Spotify" panel. Both partials load themselves when included without their data:

- `{% include "_spotify_connect.html" %}` on any page (the settings page) renders a placeholder that fetches
  `GET /settings/connections/spotify`;
- `{% include "_spotify_export.html" %}` on the playlist page (needs `playlist`) fetches
  `GET /playlists/{id}/spotify`.

Errors (not connected, broken connection, Spotify down) are domain exceptions: htmx requests get the JSON
envelope and the global handler in static/app.js shows it in the form's `data-errors` element.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse

from services.domain.enrichment import spotify_account as spotify
from services.domain.playlists.service import get_playlist
from services.web.api.deps import CurrentUser, SessionDep
from services.web.ui.templates import templates

router = APIRouter(include_in_schema=False)

# ?spotify=<key> after the OAuth callback: fixed messages only (never text taken from the URL)
MESSAGES = {
    "connected": "Spotify is connected: you can export playlists to it from a playlist's page.",
    "denied": "Spotify was not connected: access was not allowed on Spotify's page.",
}


def _connect_context(session, user, *, notice: str | None = None) -> dict:
    return {"user": user, "spotify": spotify.connection_status(session=session, user=user), "notice": notice,
            "apps_url": spotify.APPS_URL}


@router.get("/settings/connections", response_class=HTMLResponse)
def connections_page(request: Request, user: CurrentUser, session: SessionDep) -> HTMLResponse:
    notice = MESSAGES.get(request.query_params.get("spotify") or "")
    return templates.TemplateResponse(request, "settings_connections.html",
                                      _connect_context(session, user, notice=notice))


@router.get("/settings/connections/spotify", response_class=HTMLResponse)
def connect_section(request: Request, user: CurrentUser, session: SessionDep) -> HTMLResponse:
    return templates.TemplateResponse(request, "_spotify_connect.html", _connect_context(session, user))


@router.post("/settings/connections/spotify/disconnect", response_class=HTMLResponse)
def disconnect(request: Request, user: CurrentUser, session: SessionDep) -> HTMLResponse:
    done = spotify.disconnect(session=session, user=user)
    notice = ("Spotify disconnected: the stored token is deleted." if done else
              "No Spotify account was connected.")
    return templates.TemplateResponse(request, "_spotify_connect.html",
                                      _connect_context(session, user, notice=notice))


def _export_context(session, user, playlist_id: int, *, result=None) -> dict:
    playlist = get_playlist(session=session, user=user, playlist_id=playlist_id)
    return {"user": user, "playlist": playlist, "result": result,
            "spotify_export": {"status": spotify.connection_status(session=session, user=user),
                               "last": spotify.export_info(session=session, user=user, playlist_id=playlist.id),
                               "linked": sum(1 for item in playlist.items
                                             if spotify.spotify_track_uri(item.track.spotify_url))}}


@router.get("/playlists/{playlist_id}/spotify", response_class=HTMLResponse)
def export_panel(request: Request, playlist_id: int, user: CurrentUser, session: SessionDep) -> HTMLResponse:
    return templates.TemplateResponse(request, "_spotify_export.html", _export_context(session, user, playlist_id))


@router.post("/playlists/{playlist_id}/spotify", response_class=HTMLResponse)
def export(request: Request, playlist_id: int, user: CurrentUser, session: SessionDep,
           name: Annotated[str | None, Form(max_length=100)] = None,
           public: Annotated[bool, Form()] = False) -> HTMLResponse:
    result = spotify.export_playlist(session=session, user=user, playlist_id=playlist_id,
                                     name=(name or "").strip() or None, public=public)
    return templates.TemplateResponse(request, "_spotify_export.html",
                                      _export_context(session, user, playlist_id, result=result))
