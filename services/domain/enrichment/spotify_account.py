"""A user's Spotify account: connect it (authorization code + PKCE), keep it usable, export playlists to it.

Connecting (https://developer.spotify.com/documentation/web-api/tutorials/code-flow):
- `authorization_url(user=...)` sends the browser to `{accounts}/authorize` with the scopes playlists need,
  `SPOTIFY_REDIRECT_URI`, a `state` signed with the app's secret key that names the user and expires after
  `STATE_MAX_AGE` seconds (CSRF: the callback must come back to the same signed-in user), and a PKCE challenge.
  The PKCE verifier is an HMAC of the state's nonce with the secret key, so nothing is stored between the two
  requests and a stolen code is useless without the server's key.
- `complete_connection(...)` checks the state, exchanges the code at `{accounts}/api/token`
  (grant_type=authorization_code), reads who connected (`GET /v1/me`) and stores the refresh token encrypted
  (Fernet, key derived from SECRET_KEY with HKDF). Access tokens live only in the process token cache.
- Access tokens are refreshed (grant_type=refresh_token) a minute before they expire or when the API answers
  401; a rotated refresh token is stored. A refresh answered `invalid_grant` (the user removed the app at
  spotify.com/account/apps, or the grant expired) marks the connection broken with a message saying to
  connect again. Those writes happen in their own committed transaction (`session_factory`): a rotated
  token must not be lost when the request that triggered the refresh fails later.
- `disconnect(...)` deletes the stored token. Spotify has no endpoint to revoke an app's access: the user
  also removes the app at https://www.spotify.com/account/apps/ (the UI says so).

Exporting: `export_playlist(...)` creates a playlist on the connected account (`POST /v1/me/playlists`) and
adds the tracks that have a `spotify_url` (as `spotify:track:<id>` URIs, 100 per request); a re-export
replaces the items of the same Spotify playlist (`PUT /v1/playlists/{id}/tracks` with the first 100, then
POST the rest), or creates a new one when that playlist is gone or belongs to another Spotify account.
Tracks without a Spotify link are reported as skipped.

All HTTP goes through the shared `CatalogHttp` (timeouts, retries on 429/5xx honouring Retry-After,
bounded concurrency, secrets scrubbed from logs and errors).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

import httpx
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.common.db import session_scope
from services.common.models import Playlist, SpotifyConnection, SpotifyPlaylistExport, User
from services.common.settings import Settings, get_settings
from services.domain.accounts.keys import secret_key
from services.domain.enrichment.sources.base import (
    CatalogAuthError,
    CatalogError,
    CatalogMalformed,
    SourceNotConfigured,
)
from services.domain.enrichment.sources.http import CatalogHttp, HttpTuning, platform_message
from services.domain.enrichment.sources.spotify import RENEW_BEFORE_SECONDS, TokenGrant
from services.domain.enrichment.sources.tokens import TOKENS
from services.domain.errors import Conflict, Refused
from services.domain.playlists.service import get_playlist

SCOPES = "playlist-modify-private playlist-modify-public"
STATE_MAX_AGE = 600  # seconds between "connect" and Spotify's callback
STATE_SALT = "djp-spotify-connect-state"
BATCH = 100  # track URIs per playlist request (Spotify's limit)
NAME_MAX = 100
DESCRIPTION_MAX = 300
APPS_URL = "https://www.spotify.com/account/apps/"
REVOKE_HINT = ("Spotify has no way for an app to give up its access: also remove “DJ Playlist” at "
               f"{APPS_URL} to revoke it on Spotify's side.")
BROKEN_MESSAGE = ("Spotify no longer accepts this connection (the app was removed at spotify.com/account/apps, "
                  "or the authorization expired): connect your Spotify account again.")
UNREADABLE_MESSAGE = ("The stored Spotify token cannot be decrypted (the app's SECRET_KEY changed): "
                      "connect your Spotify account again.")
CONNECTED, BROKEN = "connected", "broken"

_TRACK_ID = re.compile(
    r"^(?:spotify:track:|https?://open\.spotify\.com/(?:intl-[A-Za-z-]+/)?(?:embed/)?track/)([A-Za-z0-9]{22})(?:[/?#]|$)")


# -- errors --------------------------------------------------------------------------------------------------

class SpotifyNotConnected(Conflict):
    code = "spotify_not_connected"


class SpotifyConnectionBroken(Conflict):
    code = "spotify_connection_broken"


class SpotifyStateInvalid(Refused):
    """The callback's state is missing, forged, expired or another user's (CSRF)."""

    code = "spotify_state_invalid"


class SpotifyAuthorizationRefused(Refused):
    """The user declined, or Spotify refused the authorization code."""

    code = "spotify_authorization_refused"


class _GrantRefused(Exception):
    """Spotify's token endpoint answered `invalid_grant` (a bad code, a revoked refresh token)."""

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


# -- configuration -------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SpotifyConfig:
    client_id: str
    client_secret: str = field(repr=False)
    redirect_uri: str
    accounts_url: str
    api_url: str
    tuning: HttpTuning


def configured(settings: Settings | None = None) -> tuple[bool, str]:
    """(usable, explanation) for connecting accounts: the app credentials and the redirect URI."""
    s = settings or get_settings()
    secret = s.spotify_client_secret.get_secret_value() if s.spotify_client_secret else ""
    missing = [name for name, value in (("SPOTIFY_CLIENT_ID", s.spotify_client_id),
                                        ("SPOTIFY_CLIENT_SECRET", secret),
                                        ("SPOTIFY_REDIRECT_URI", s.spotify_redirect_uri)) if not value]
    if missing:
        return False, (f"Connecting a Spotify account is not configured: set {', '.join(missing)} (an app from "
                       "https://developer.spotify.com/dashboard whose redirect URI is this server's "
                       "/api/spotify/callback).")
    return True, "Connect your Spotify account to export playlists to it."


def require_config(settings: Settings | None = None) -> SpotifyConfig:
    s = settings or get_settings()
    ok, reason = configured(s)
    if not ok:
        raise SourceNotConfigured(reason)
    return SpotifyConfig(client_id=s.spotify_client_id or "", client_secret=s.spotify_client_secret.get_secret_value(),
                         redirect_uri=s.spotify_redirect_uri or "", accounts_url=s.spotify_accounts_url.rstrip("/"),
                         api_url=s.spotify_api_url.rstrip("/"), tuning=HttpTuning.from_settings(s))


# -- the refresh token at rest ---------------------------------------------------------------------------------

def _fernet() -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"djp spotify refresh token",
               info=b"fernet key v1").derive(secret_key().encode())
    return Fernet(base64.urlsafe_b64encode(key))


def encrypt_token(token: str) -> str:
    return _fernet().encrypt(token.encode()).decode()


def decrypt_token(ciphertext: str) -> str:
    """The token; InvalidToken when it was encrypted with another SECRET_KEY or was altered."""
    return _fernet().decrypt(ciphertext.encode()).decode()


# -- state and PKCE ----------------------------------------------------------------------------------------------

def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(secret_key(), salt=STATE_SALT)


def _verifier(nonce: str) -> str:
    """The PKCE code verifier for a state's nonce: 43 URL-safe characters only this server can compute."""
    digest = hmac.new(secret_key().encode(), f"spotify-pkce:{nonce}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _challenge(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def make_state(*, user: User, clock: Callable[[], float] = time.time) -> str:
    return _serializer().dumps({"u": user.id, "n": secrets.token_urlsafe(16), "e": int(clock()) + STATE_MAX_AGE})


def read_state(state: str | None, *, user: User, clock: Callable[[], float] = time.time) -> str:
    """The nonce of a state this server signed for `user` that has not expired; SpotifyStateInvalid otherwise."""
    if not state:
        raise SpotifyStateInvalid("the answer from Spotify has no state: start connecting again from this site")
    try:
        data = _serializer().loads(state)
    except BadSignature:
        raise SpotifyStateInvalid("the answer from Spotify does not match a connection started here (state "
                                  "mismatch): start connecting again from this site") from None
    if not isinstance(data, dict) or not isinstance(data.get("n"), str) or not isinstance(data.get("e"), int):
        raise SpotifyStateInvalid("the state in the answer from Spotify is not one of ours")
    if data.get("u") != user.id:
        raise SpotifyStateInvalid("this Spotify connection was started while signed in as another user: sign in "
                                  "as that user, or start connecting again")
    if data["e"] < clock():
        raise SpotifyStateInvalid(f"the Spotify sign-in took longer than {STATE_MAX_AGE // 60} minutes: start "
                                  "connecting again")
    return data["n"]


# -- the HTTP client for user calls -------------------------------------------------------------------------------

class SpotifyUserClient:
    """The accounts service's authorization-code and refresh grants, and Web API calls with a user token."""

    def __init__(self, *, client_id: str, client_secret: str, accounts_url: str, api_url: str,
                 tuning: HttpTuning | None = None, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.time, transport: httpx.BaseTransport | None = None) -> None:
        self.client_id = client_id
        self._client_secret = client_secret
        self.accounts_url = accounts_url.rstrip("/")
        self.api_url = api_url.rstrip("/")
        self.clock = clock
        self.http = CatalogHttp(source="spotify", label="Spotify", tuning=tuning, sleep=sleep, transport=transport)
        self.http.add_secret(client_secret)

    @classmethod
    def from_config(cls, config: SpotifyConfig, **kwargs: Any) -> SpotifyUserClient:
        return cls(client_id=config.client_id, client_secret=config.client_secret, accounts_url=config.accounts_url,
                   api_url=config.api_url, tuning=config.tuning, **kwargs)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> SpotifyUserClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def grant(self, form: dict[str, str]) -> TokenGrant:
        """POST /api/token; `invalid_grant` -> _GrantRefused, refused app credentials -> CatalogAuthError."""
        for value in form.values():
            if len(value) >= 16:  # codes, refresh tokens, verifiers
                self.http.add_secret(value)

        def classify(response: httpx.Response) -> Exception | None:
            if response.status_code not in (400, 401):
                return None
            try:
                body = response.json()
            except ValueError:
                body = {}
            error = body.get("error") if isinstance(body, dict) else None
            if error == "invalid_grant":
                return _GrantRefused(self.http.redact(str(body.get("error_description") or "invalid_grant")))
            return self.http.error(
                CatalogAuthError, f"Spotify refused the app credentials ({response.status_code}: "
                f"{platform_message(response) or 'no reason given'}): check SPOTIFY_CLIENT_ID, "
                "SPOTIFY_CLIENT_SECRET and SPOTIFY_REDIRECT_URI", status=response.status_code)

        started = self.clock()
        body = self.http.request_json("POST", f"{self.accounts_url}/api/token", data=form,
                                      auth=(self.client_id, self._client_secret), error_hook=classify)
        token, expires_in = body.get("access_token"), body.get("expires_in")
        if not isinstance(token, str) or not token or not isinstance(expires_in, int | float):
            raise self.http.error(CatalogMalformed, "Spotify: the token answer has no access_token / expires_in")
        self.http.add_secret(token)
        refresh = body.get("refresh_token")
        if isinstance(refresh, str) and refresh:
            self.http.add_secret(refresh)
        else:
            refresh = None
        scope = body.get("scope")
        return TokenGrant(access_token=token, expires_at=started + float(expires_in), refresh_token=refresh,
                          scope=scope if isinstance(scope, str) else None)

    def call(self, method: str, path: str, *, token: str, json: Any = None,
             params: dict[str, Any] | None = None) -> dict[str, Any]:
        self.http.add_secret(token)
        return self.http.request_json(method, f"{self.api_url}{path}", params=params, json=json,
                                      headers={"Authorization": f"Bearer {token}"})


# -- connections ---------------------------------------------------------------------------------------------------

SessionFactory = Callable[[], AbstractContextManager[Session]]


@dataclass(frozen=True)
class ConnectionStatus:
    configured: bool
    reason: str
    connected: bool  # a connection is stored (it may be broken)
    status: str | None = None  # "connected" | "broken"
    spotify_user_id: str | None = None
    display_name: str | None = None
    error: str | None = None
    connected_at: datetime | None = None
    revoke_hint: str = REVOKE_HINT


def _connection(session: Session, user: User) -> SpotifyConnection | None:
    return session.scalar(select(SpotifyConnection).where(SpotifyConnection.user_id == user.id))


def connection_status(*, session: Session, user: User, settings: Settings | None = None) -> ConnectionStatus:
    ok, reason = configured(settings)
    conn = _connection(session, user)
    if conn is None:
        return ConnectionStatus(configured=ok, reason=reason, connected=False)
    return ConnectionStatus(configured=ok, reason=reason, connected=True, status=conn.status,
                            spotify_user_id=conn.spotify_user_id, display_name=conn.display_name, error=conn.error,
                            connected_at=conn.updated_at)


def authorization_url(*, user: User, settings: Settings | None = None,
                      clock: Callable[[], float] = time.time) -> str:
    """Where to send the browser to connect: Spotify's consent page, coming back to SPOTIFY_REDIRECT_URI."""
    config = require_config(settings)
    state = make_state(user=user, clock=clock)
    nonce = _serializer().loads(state)["n"]
    query = urlencode({"client_id": config.client_id, "response_type": "code", "redirect_uri": config.redirect_uri,
                       "scope": SCOPES, "state": state, "code_challenge_method": "S256",
                       "code_challenge": _challenge(_verifier(nonce))})
    return f"{config.accounts_url}/authorize?{query}"


def _token_key(config: SpotifyConfig, connection_id: int) -> tuple:
    # A connection row is replaced (new id) on every connect, so a cached token never outlives its grant.
    return ("spotify-user", config.accounts_url, config.client_id, connection_id)


def complete_connection(*, session: Session, user: User, code: str | None, state: str | None,
                        error: str | None = None, settings: Settings | None = None,
                        client: SpotifyUserClient | None = None,
                        clock: Callable[[], float] = time.time) -> SpotifyConnection:
    """The callback: check the state, exchange the code, store who connected and the encrypted refresh token."""
    config = require_config(settings)
    nonce = read_state(state, user=user, clock=clock)
    if error:
        reason = "you did not allow access" if error == "access_denied" else f"Spotify said {error[:100]!r}"
        raise SpotifyAuthorizationRefused(f"Spotify was not connected: {reason}.")
    if not code:
        raise SpotifyAuthorizationRefused("the answer from Spotify has no authorization code: connect again")
    api = client or SpotifyUserClient.from_config(config, clock=clock)
    try:
        try:
            grant = api.grant({"grant_type": "authorization_code", "code": code, "redirect_uri": config.redirect_uri,
                               "code_verifier": _verifier(nonce)})
        except _GrantRefused as exc:
            raise SpotifyAuthorizationRefused(f"Spotify refused the authorization code ({exc.description}): it may "
                                              "have expired or been used already; connect again") from None
        if not grant.refresh_token:
            raise api.http.error(CatalogMalformed, "Spotify: the token answer has no refresh_token")
        me = api.call("GET", "/v1/me", token=grant.access_token)
    finally:
        if client is None:
            api.close()
    spotify_id = me.get("id")
    if not isinstance(spotify_id, str) or not spotify_id:
        raise CatalogMalformed("Spotify: the profile answer (/v1/me) has no id", source="spotify")
    name = me.get("display_name")
    old = _connection(session, user)
    if old is not None:
        session.delete(old)
        session.flush()
    conn = SpotifyConnection(user_id=user.id, spotify_user_id=spotify_id[:200],
                             display_name=name[:300] if isinstance(name, str) and name else None,
                             refresh_token_encrypted=encrypt_token(grant.refresh_token), scope=grant.scope,
                             status=CONNECTED, error=None)
    session.add(conn)
    session.flush()
    TOKENS.get(_token_key(config, conn.id), lambda: (grant.access_token, grant.expires_at),
               margin=RENEW_BEFORE_SECONDS, clock=clock)
    return conn


def disconnect(*, session: Session, user: User) -> bool:
    """Forget the user's Spotify connection (the stored token); False when there was none."""
    conn = _connection(session, user)
    if conn is None:
        return False
    session.delete(conn)
    session.flush()
    return True


class UserSession:
    """Web API calls for one connection, refreshing its access token when needed."""

    def __init__(self, *, config: SpotifyConfig, connection_id: int, client: SpotifyUserClient,
                 session_factory: SessionFactory, clock: Callable[[], float]) -> None:
        self.config = config
        self.connection_id = connection_id
        self.client = client
        self.session_factory = session_factory
        self.clock = clock
        self.key = _token_key(config, connection_id)

    def _refresh(self) -> tuple[str, float]:
        broken: str | None = None
        grant: TokenGrant | None = None
        with self.session_factory() as s:
            conn = s.get(SpotifyConnection, self.connection_id, with_for_update=True)
            if conn is None:
                raise SpotifyNotConnected("your Spotify account is not connected any more: connect it again")
            if conn.status == BROKEN:
                raise SpotifyConnectionBroken(conn.error or BROKEN_MESSAGE)
            try:
                refresh = decrypt_token(conn.refresh_token_encrypted)
            except InvalidToken:
                broken = UNREADABLE_MESSAGE
            else:
                self.client.http.add_secret(refresh)
                try:
                    grant = self.client.grant({"grant_type": "refresh_token", "refresh_token": refresh})
                except _GrantRefused:
                    broken = BROKEN_MESSAGE
            if broken:
                conn.status, conn.error = BROKEN, broken
            elif grant is not None and grant.refresh_token and grant.refresh_token != refresh:
                conn.refresh_token_encrypted = encrypt_token(grant.refresh_token)  # rotated
        if broken or grant is None:
            raise SpotifyConnectionBroken(broken or BROKEN_MESSAGE)
        return grant.access_token, grant.expires_at

    def token(self) -> str:
        return TOKENS.get(self.key, self._refresh, margin=RENEW_BEFORE_SECONDS, clock=self.clock)

    def call(self, method: str, path: str, *, json: Any = None, params: dict[str, Any] | None = None) -> dict:
        for attempt in (1, 2):
            token = self.token()
            try:
                return self.client.call(method, path, token=token, json=json, params=params)
            except CatalogAuthError as exc:
                if exc.status == 401 and attempt == 1:
                    TOKENS.invalidate(self.key, token)  # expired or revoked early: refresh once
                    continue
                if exc.status == 403:
                    raise self.client.http.error(
                        CatalogAuthError, f"Spotify refused the request ({exc.detail}): connect your account again "
                        "so it grants the playlist permissions", status=403) from None
                raise
        raise AssertionError("unreachable")  # pragma: no cover


# -- export ------------------------------------------------------------------------------------------------------

def spotify_track_uri(url: str | None) -> str | None:
    """`spotify:track:<id>` from an open.spotify.com track link or a track URI; None for anything else."""
    if not url:
        return None
    m = _TRACK_ID.match(url.strip())
    return f"spotify:track:{m.group(1)}" if m else None


@dataclass(frozen=True)
class SkippedTrack:
    position: int
    track_pk: int
    artist: str | None
    title: str
    reason: str


@dataclass(frozen=True)
class ExportResult:
    spotify_playlist_id: str
    url: str | None
    name: str | None  # of a new Spotify playlist; None when an earlier export was updated (name kept)
    created: bool
    added: int
    skipped: list[SkippedTrack]


def playlist_uris(playlist: Playlist) -> tuple[list[str], list[SkippedTrack]]:
    uris, skipped = [], []
    for item in playlist.items:
        track = item.track
        uri = spotify_track_uri(track.spotify_url)
        if uri:
            uris.append(uri)
        else:
            skipped.append(SkippedTrack(
                position=item.position, track_pk=track.id, artist=track.artist, title=track.title,
                reason="no Spotify link" if not track.spotify_url else "the Spotify link is not a track link"))
    return uris, skipped


def _batches(uris: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(uris), BATCH):
        yield uris[start:start + BATCH]


def _usable_connection(session: Session, user: User) -> SpotifyConnection:
    conn = _connection(session, user)
    if conn is None:
        raise SpotifyNotConnected("connect your Spotify account first (Settings → Connections)")
    if conn.status == BROKEN:
        raise SpotifyConnectionBroken(conn.error or BROKEN_MESSAGE)
    return conn


def export_info(*, session: Session, user: User, playlist_id: int) -> SpotifyPlaylistExport | None:
    """The last export of this playlist by this user, if any."""
    return session.scalar(select(SpotifyPlaylistExport).where(SpotifyPlaylistExport.playlist_id == playlist_id,
                                                              SpotifyPlaylistExport.user_id == user.id))


def _description(playlist: Playlist) -> str:
    text = " ".join((playlist.description or "").split())
    return (text or "Exported from DJ Playlist")[:DESCRIPTION_MAX]


def export_playlist(*, session: Session, user: User, playlist_id: int, name: str | None = None,
                    public: bool = False, settings: Settings | None = None, client: SpotifyUserClient | None = None,
                    session_factory: SessionFactory = session_scope,
                    clock: Callable[[], float] = time.time) -> ExportResult:
    """Create (or update) the playlist on the user's Spotify account; report what was added and skipped."""
    config = require_config(settings)
    playlist = get_playlist(session=session, user=user, playlist_id=playlist_id)
    conn = _usable_connection(session, user)
    title = " ".join((name if name is not None else playlist.name).split())[:NAME_MAX] or playlist.name[:NAME_MAX]
    uris, skipped = playlist_uris(playlist)
    previous = export_info(session=session, user=user, playlist_id=playlist.id)
    api = client or SpotifyUserClient.from_config(config, clock=clock)
    spotify = UserSession(config=config, connection_id=conn.id, client=api, session_factory=session_factory,
                          clock=clock)
    try:
        target: str | None = None
        url: str | None = None
        batches = list(_batches(uris))
        if previous is not None and previous.spotify_user_id == conn.spotify_user_id:
            try:
                spotify.call("PUT", f"/v1/playlists/{previous.spotify_playlist_id}/tracks",
                             json={"uris": batches[0] if batches else []})
                target, url = previous.spotify_playlist_id, previous.spotify_url
                batches = batches[1:]
                # Name, visibility and description follow the playlist too (Spotify answers 200, no body).
                spotify.call("PUT", f"/v1/playlists/{target}",
                             json={"name": title, "public": bool(public), "description": _description(playlist)})
            except CatalogError as exc:
                if exc.status not in (403, 404):  # gone, or no longer ours: make a new one below
                    raise
        created = target is None
        if created:
            body = spotify.call("POST", "/v1/me/playlists",
                                json={"name": title, "public": bool(public), "description": _description(playlist)})
            target = body.get("id")
            if not isinstance(target, str) or not target:
                raise api.http.error(CatalogMalformed, "Spotify: the new playlist has no id")
            url = (body.get("external_urls") or {}).get("spotify") or f"https://open.spotify.com/playlist/{target}"
        for batch in batches:
            spotify.call("POST", f"/v1/playlists/{target}/tracks", json={"uris": batch})
    finally:
        if client is None:
            api.close()
    if previous is None:
        previous = SpotifyPlaylistExport(playlist_id=playlist.id, user_id=user.id)
        session.add(previous)
    previous.spotify_user_id = conn.spotify_user_id
    previous.spotify_playlist_id = target
    previous.spotify_url = url
    previous.track_count = len(uris)
    previous.exported_at = datetime.now().astimezone()
    session.flush()
    return ExportResult(spotify_playlist_id=target, url=url, name=title,
                        created=created, added=len(uris), skipped=skipped)
