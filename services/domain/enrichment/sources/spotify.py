"""Spotify catalog search with an app (client-credentials) token: fills `spotify_url`.

- `SpotifyAccounts` talks to the accounts service (`POST /api/token`, HTTP basic auth with the client id
  and secret). It does the client-credentials grant today; the authorization-code and refresh-token grants
  of the "connect your account" flow post to the same endpoint with other form fields (`token(...)`).
- The app token is cached for the process until a minute before `expires_in`, and dropped and fetched
  again once when the API answers 401 (expired or revoked); a second 401 is a `CatalogAuthError`.
- Search (https://developer.spotify.com/documentation/web-api/reference/search): `isrc:XXX` when the ISRC
  is known, else `track:"title" artist:"artist"`, and a plain `artist title` query when the precise one
  finds nothing.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from services.common.settings import Settings
from services.domain.enrichment.models import Candidate, TrackQuery
from services.domain.enrichment.sources.base import (
    DEFAULT_LIMIT,
    CatalogAuthError,
    CatalogMalformed,
    CatalogSource,
    register,
)
from services.domain.enrichment.sources.http import CatalogHttp, HttpTuning
from services.domain.enrichment.sources.tokens import TOKENS, fingerprint

ACCOUNTS_URL = "https://accounts.spotify.com"
API_URL = "https://api.spotify.com"
RENEW_BEFORE_SECONDS = 60
MAX_LIMIT = 50


@dataclass(frozen=True, slots=True)
class TokenGrant:
    access_token: str
    expires_at: float  # epoch seconds
    refresh_token: str | None = None  # authorization-code grants only
    scope: str | None = None


class SpotifyAccounts:
    """The accounts service: tokens for the app (client credentials) and, later, for a user."""

    def __init__(self, *, http: CatalogHttp, accounts_url: str, client_id: str, client_secret: str,
                 clock: Callable[[], float] = time.time) -> None:
        self.http = http
        self.accounts_url = accounts_url.rstrip("/")
        self.client_id = client_id
        self._client_secret = client_secret
        self.clock = clock
        http.add_secret(client_secret)

    def token(self, form: dict[str, str]) -> TokenGrant:
        """POST /api/token with `form` (grant_type and its fields); credentials refused -> CatalogAuthError."""

        def refused(response: httpx.Response) -> Exception | None:
            if response.status_code in (400, 401):  # invalid_client / invalid_grant
                return self.http.error(
                    CatalogAuthError, f"Spotify refused the app credentials ({response.status_code}): check "
                    "SPOTIFY_CLIENT_ID and SPOTIFY_CLIENT_SECRET", status=response.status_code)
            return None

        started = self.clock()
        body = self.http.request_json("POST", f"{self.accounts_url}/api/token", data=form,
                                      auth=(self.client_id, self._client_secret), error_hook=refused)
        token, expires_in = body.get("access_token"), body.get("expires_in")
        if not isinstance(token, str) or not token or not isinstance(expires_in, int | float):
            raise self.http.error(CatalogMalformed, "Spotify: the token answer has no access_token / expires_in")
        self.http.add_secret(token)
        refresh = body.get("refresh_token")
        if isinstance(refresh, str):
            self.http.add_secret(refresh)
        return TokenGrant(access_token=token, expires_at=started + float(expires_in),
                          refresh_token=refresh if isinstance(refresh, str) else None, scope=body.get("scope"))

    def client_credentials(self) -> TokenGrant:
        return self.token({"grant_type": "client_credentials"})


def _quoted(value: str) -> str:
    return re.sub(r'["\s]+', " ", value).strip()


@register
class SpotifySource(CatalogSource):
    name = "spotify"
    label = "Spotify"
    url_field = "spotify_url"

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        accounts_url: str = ACCOUNTS_URL,
        api_url: str = API_URL,
        tuning: HttpTuning | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.clock = clock
        self.http = CatalogHttp(source=self.name, label=self.label, tuning=tuning, sleep=sleep, transport=transport)
        self.accounts = SpotifyAccounts(http=self.http, accounts_url=accounts_url, client_id=client_id,
                                        client_secret=client_secret, clock=clock)
        self._token_key = ("spotify", self.accounts.accounts_url, client_id, fingerprint(client_secret))

    @classmethod
    def configured(cls, settings: Settings) -> tuple[bool, str]:
        missing = [name for name, value in (("SPOTIFY_CLIENT_ID", settings.spotify_client_id),
                                            ("SPOTIFY_CLIENT_SECRET", settings.spotify_client_secret))
                   if not value or (hasattr(value, "get_secret_value") and not value.get_secret_value())]
        if missing:
            return False, (f"Spotify is not configured: set {', '.join(missing)} (an app from "
                           "https://developer.spotify.com/dashboard).")
        return True, "Spotify catalog search with the app's client credentials."

    @classmethod
    def from_settings(cls, settings: Settings, **kwargs: Any) -> SpotifySource:
        return cls(client_id=settings.spotify_client_id,
                   client_secret=settings.spotify_client_secret.get_secret_value(),
                   accounts_url=settings.spotify_accounts_url, api_url=settings.spotify_api_url,
                   tuning=HttpTuning.from_settings(settings), **kwargs)

    def close(self) -> None:
        self.http.close()

    def _app_token(self) -> str:
        def fetch() -> tuple[str, float]:
            grant = self.accounts.client_credentials()
            return grant.access_token, grant.expires_at

        token = TOKENS.get(self._token_key, fetch, margin=RENEW_BEFORE_SECONDS, clock=self.clock)
        self.http.add_secret(token)
        return token

    def _get(self, path: str, params: dict[str, Any]) -> dict[str, Any]:
        for attempt in (1, 2):
            token = self._app_token()
            try:
                return self.http.request_json("GET", f"{self.api_url}{path}", params=params,
                                              headers={"Authorization": f"Bearer {token}"})
            except CatalogAuthError as exc:
                if exc.status == 401 and attempt == 1:
                    TOKENS.invalidate(self._token_key, token)  # expired or revoked: fetch a new one, once
                    continue
                raise self.http.error(CatalogAuthError, f"Spotify refused the app token ({exc.status}): check "
                                      "SPOTIFY_CLIENT_ID and SPOTIFY_CLIENT_SECRET", status=exc.status) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _search(self, q: str, limit: int) -> list[Candidate]:
        body = self._get("/v1/search", {"q": q, "type": "track", "limit": limit})
        tracks = body.get("tracks")
        items = tracks.get("items") if isinstance(tracks, dict) else None
        if not isinstance(items, list):
            raise self.http.error(CatalogMalformed, "Spotify: the search answer has no 'tracks.items' list")
        return self._candidates(items)

    def search(self, query: TrackQuery, *, limit: int = DEFAULT_LIMIT) -> list[Candidate]:
        limit = max(1, min(int(limit), MAX_LIMIT))
        if query.isrc:
            found = self._search(f"isrc:{_quoted(query.isrc).replace(' ', '').upper()}", limit)
            if found:
                return found
        title, artist = _quoted(query.title or ""), _quoted(query.artist or "")
        if not title:
            return []
        precise = f'track:"{title}"' + (f' artist:"{artist}"' if artist else "")
        found = self._search(precise, limit)
        if not found:
            found = self._search(f"{artist} {title}".strip(), limit)
        return found

    def _candidates(self, items: list[Any]) -> list[Candidate]:
        out = []
        for item in items:
            if not isinstance(item, dict):
                continue  # Spotify sends null for tracks unavailable in the market
            url = (item.get("external_urls") or {}).get("spotify")
            if not url or not item.get("name"):
                continue
            artists = [a.get("name") for a in item.get("artists") or [] if isinstance(a, dict) and a.get("name")]
            millis = item.get("duration_ms")
            album = item.get("album") if isinstance(item.get("album"), dict) else {}
            out.append(Candidate(
                source=self.name, url=str(url), external_id=str(item.get("id") or ""),
                artist=", ".join(artists), title=str(item["name"]), album=album.get("name") or None,
                duration_seconds=millis / 1000 if isinstance(millis, int | float) else None,
                isrc=(item.get("external_ids") or {}).get("isrc") or None,
                preview_url=item.get("preview_url") or None,
            ))
        return out
