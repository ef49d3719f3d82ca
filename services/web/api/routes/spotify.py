"""The current user's Spotify account: connect (authorization code + PKCE), status, disconnect, and
exporting a playlist to it. Logic in services/domain/enrichment/spotify_account.py.

`/api/spotify/connect` and `/api/spotify/callback` are browser navigations (to Spotify and back): their
errors are HTML pages for a browser and the JSON envelope for anything else.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Body, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from services.domain.enrichment import spotify_account as spotify
from services.domain.errors import DomainError
from services.web.api.deps import CurrentUser, SessionDep
from services.web.api.errors import error_page, status_of
from services.web.api.query_params import EXTRA_QUERY

router = APIRouter(tags=["spotify"])
CONNECTIONS_PAGE = "/settings/connections"


class ConnectionOut(BaseModel):
    configured: bool = Field(description="SPOTIFY_CLIENT_ID, SPOTIFY_CLIENT_SECRET and SPOTIFY_REDIRECT_URI are set")
    reason: str
    connected: bool = Field(description="a connection is stored (see status: it may be broken)")
    status: str | None = Field(None, description='"connected" or "broken" (connect again)')
    spotify_user_id: str | None = None
    display_name: str | None = None
    error: str | None = None
    connected_at: datetime | None = None
    revoke_hint: str


class DisconnectOut(BaseModel):
    disconnected: bool = Field(description="False when no account was connected")
    detail: str


class ExportIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(None, min_length=1, max_length=100,
                             description="Name of a new Spotify playlist (default: the playlist's name)")
    public: bool = False


class SkippedOut(BaseModel):
    position: int
    track_pk: int
    artist: str | None
    title: str
    reason: str


class ExportOut(BaseModel):
    spotify_playlist_id: str
    url: str | None
    name: str | None
    created: bool = Field(description="False when the playlist exported before was updated (items replaced)")
    added: int
    skipped_count: int
    skipped: list[SkippedOut]


def _browser_error(request: Request, exc: DomainError) -> Response:
    """An HTML error page for a browser navigating here; the JSON envelope otherwise (re-raised)."""
    if "text/html" in request.headers.get("accept", ""):
        return error_page(request, status_of(exc), exc.detail)
    raise exc


@router.get("/api/spotify/connect", status_code=303, response_class=RedirectResponse,
            responses={303: {"description": "to Spotify's consent page"},
                       409: {"description": "not configured (source_not_configured)"}})
def connect(request: Request, user: CurrentUser) -> Response:
    """Start connecting the user's Spotify account: redirects to Spotify, which comes back to the callback."""
    try:
        return RedirectResponse(spotify.authorization_url(user=user), status_code=303)
    except DomainError as exc:
        return _browser_error(request, exc)


@router.get("/api/spotify/callback", status_code=303, response_class=RedirectResponse,
            openapi_extra={EXTRA_QUERY: "allowed"},  # Spotify's redirect may add parameters of its own
            responses={303: {"description": f"to {CONNECTIONS_PAGE} with a message"},
                       400: {"description": "state missing, forged, expired or another user's; code refused"}})
def callback(request: Request, user: CurrentUser, session: SessionDep, code: str | None = None,
             state: str | None = None, error: str | None = None) -> Response:
    """Spotify's redirect back (SPOTIFY_REDIRECT_URI): checks the state, stores the connection."""
    try:
        spotify.complete_connection(session=session, user=user, code=code, state=state, error=error)
    except spotify.SpotifyAuthorizationRefused as exc:
        if error == "access_denied":
            return RedirectResponse(f"{CONNECTIONS_PAGE}?spotify=denied", status_code=303)
        return _browser_error(request, exc)
    except DomainError as exc:
        return _browser_error(request, exc)
    return RedirectResponse(f"{CONNECTIONS_PAGE}?spotify=connected", status_code=303)


@router.get("/api/spotify/connection", response_model=ConnectionOut)
def connection(user: CurrentUser, session: SessionDep) -> ConnectionOut:
    """Whether Spotify can be connected, and the user's connection (who, and whether it still works)."""
    return ConnectionOut(**vars(spotify.connection_status(session=session, user=user)))


@router.delete("/api/spotify/connection", response_model=DisconnectOut)
def disconnect(user: CurrentUser, session: SessionDep) -> DisconnectOut:
    """Forget the stored Spotify token. Spotify has no revoke endpoint: also remove the app at
    https://www.spotify.com/account/apps/."""
    done = spotify.disconnect(session=session, user=user)
    detail = ("Spotify disconnected: the stored token is deleted. " if done else "No Spotify account was connected. ")
    return DisconnectOut(disconnected=done, detail=detail + spotify.REVOKE_HINT)


@router.post("/api/playlists/{playlist_id}/spotify", response_model=ExportOut,
             responses={409: {"description": "Spotify not connected (spotify_not_connected), connection broken "
                                             "(spotify_connection_broken) or not configured (source_not_configured)"}})
def export_playlist(playlist_id: int, user: CurrentUser, session: SessionDep,
                    body: ExportIn | None = Body(None)) -> ExportOut:
    """Export the playlist to the connected Spotify account (tracks with a Spotify link; the rest are reported).
    Exporting again replaces the items of the same Spotify playlist."""
    body = body or ExportIn()
    result = spotify.export_playlist(session=session, user=user, playlist_id=playlist_id, name=body.name,
                                     public=body.public)
    return ExportOut(spotify_playlist_id=result.spotify_playlist_id, url=result.url, name=result.name,
                     created=result.created, added=result.added, skipped_count=len(result.skipped),
                     skipped=[SkippedOut(**vars(s)) for s in result.skipped])
