"""Apple Music catalog search: fills `apple_music_url`, the music.apple.com link gamdl downloads from.

Auth is a MusicKit developer token: a JWT signed ES256 with the private key (.p8) at
APPLE_MUSIC_PRIVATE_KEY_PATH, `kid` = APPLE_MUSIC_KEY_ID, `iss` = APPLE_MUSIC_TEAM_ID. It is signed for
12 hours and re-signed 10 minutes before it expires (shared by every client in the process); a 401 drops it
and signs a new one once, a second 401 is a `CatalogAuthError` naming the settings to check.

Endpoints (https://developer.apple.com/documentation/applemusicapi):
- `GET /v1/catalog/{storefront}/songs?filter[isrc]=...` when the track's ISRC is known;
- `GET /v1/catalog/{storefront}/search?term=...&types=songs&limit=...` otherwise (or when the ISRC finds nothing).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

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

API_URL = "https://api.music.apple.com"
TOKEN_LIFETIME_SECONDS = 12 * 3600
RENEW_BEFORE_SECONDS = 10 * 60
MAX_LIMIT = 25  # Apple's maximum page size for catalog search


class KeyProblem(ValueError):
    """The private key file is missing, unreadable, or not a P-256 key (the message names the setting)."""


def load_private_key(path: Path) -> tuple[ec.EllipticCurvePrivateKey, str]:
    """The MusicKit key at `path` and a fingerprint of it; KeyProblem says what is wrong (never the key)."""
    try:
        data = Path(path).expanduser().read_bytes()
    except FileNotFoundError:
        raise KeyProblem(f"APPLE_MUSIC_PRIVATE_KEY_PATH: there is no file at {path}") from None
    except OSError as exc:
        raise KeyProblem(f"APPLE_MUSIC_PRIVATE_KEY_PATH: {path} cannot be read ({type(exc).__name__})") from None
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        raise KeyProblem(f"APPLE_MUSIC_PRIVATE_KEY_PATH: {path} is not a PEM private key (the .p8 file from "
                         "Apple's developer account)") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise KeyProblem(f"APPLE_MUSIC_PRIVATE_KEY_PATH: {path} is not a P-256 (ES256) key")
    return key, fingerprint(data)


@register
class AppleMusicSource(CatalogSource):
    name = "apple"
    label = "Apple Music"
    url_field = "apple_music_url"

    def __init__(
        self,
        *,
        team_id: str,
        key_id: str,
        private_key: ec.EllipticCurvePrivateKey,
        key_fingerprint: str,
        storefront: str = "us",
        api_url: str | None = None,
        tuning: HttpTuning | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.team_id = team_id
        self.key_id = key_id
        self._private_key = private_key
        self.storefront = storefront
        self.api_url = (api_url or API_URL).rstrip("/")
        self.clock = clock
        self._token_key = ("apple", team_id, key_id, key_fingerprint)
        self.http = CatalogHttp(source=self.name, label=self.label, tuning=tuning, sleep=sleep, transport=transport)

    @classmethod
    def configured(cls, settings: Settings) -> tuple[bool, str]:
        missing = [name for name, value in (("APPLE_MUSIC_TEAM_ID", settings.apple_music_team_id),
                                            ("APPLE_MUSIC_KEY_ID", settings.apple_music_key_id),
                                            ("APPLE_MUSIC_PRIVATE_KEY_PATH", settings.apple_music_private_key_path))
                   if not value]
        if missing:
            return False, (f"Apple Music is not configured: set {', '.join(missing)} (a MusicKit key from the "
                           "Apple Developer account).")
        try:
            load_private_key(settings.apple_music_private_key_path)
        except KeyProblem as exc:
            return False, f"Apple Music is not configured: {exc}."
        return True, f"Apple Music catalog search in the '{settings.apple_music_storefront}' storefront."

    @classmethod
    def from_settings(cls, settings: Settings, **kwargs: Any) -> AppleMusicSource:
        key, key_fingerprint = load_private_key(settings.apple_music_private_key_path)
        return cls(team_id=settings.apple_music_team_id, key_id=settings.apple_music_key_id, private_key=key,
                   key_fingerprint=key_fingerprint, storefront=settings.apple_music_storefront,
                   api_url=settings.apple_music_api_url, tuning=HttpTuning.from_settings(settings), **kwargs)

    def close(self) -> None:
        self.http.close()

    # -- auth --------------------------------------------------------------------------------------

    def _sign(self) -> tuple[str, float]:
        now = int(self.clock())
        expires = now + TOKEN_LIFETIME_SECONDS
        token = jwt.encode({"iss": self.team_id, "iat": now, "exp": expires}, self._private_key,
                           algorithm="ES256", headers={"kid": self.key_id})
        return token, float(expires)

    def developer_token(self) -> str:
        token = TOKENS.get(self._token_key, self._sign, margin=RENEW_BEFORE_SECONDS, clock=self.clock)
        self.http.add_secret(token)
        return token

    def _get(self, path: str, params: dict[str, Any]) -> dict[str, Any]:
        for attempt in (1, 2):
            token = self.developer_token()
            try:
                return self.http.request_json("GET", f"{self.api_url}{path}", params=params,
                                              headers={"Authorization": f"Bearer {token}"})
            except CatalogAuthError as exc:
                if exc.status == 401 and attempt == 1:
                    TOKENS.invalidate(self._token_key, token)  # expired or revoked: sign a new one, once
                    continue
                raise self.http.error(
                    CatalogAuthError,
                    f"Apple Music refused the developer token ({exc.status}): check APPLE_MUSIC_TEAM_ID, "
                    "APPLE_MUSIC_KEY_ID and the key at APPLE_MUSIC_PRIVATE_KEY_PATH", status=exc.status) from None
        raise AssertionError("unreachable")  # pragma: no cover

    # -- search ------------------------------------------------------------------------------------

    def search(self, query: TrackQuery, *, limit: int = DEFAULT_LIMIT) -> list[Candidate]:
        limit = max(1, min(int(limit), MAX_LIMIT))
        sf = self.storefront
        if query.isrc:
            body = self._get(f"/v1/catalog/{sf}/songs", {"filter[isrc]": query.isrc.strip().upper()})
            data = body.get("data")
            if not isinstance(data, list):
                raise self.http.error(CatalogMalformed, "Apple Music: the ISRC lookup answer has no 'data' list")
            found = self._candidates(data)
            if found:
                return found[:limit]
        term = " ".join(part for part in (query.artist, query.title) if part).strip()
        if not term:
            return []
        body = self._get(f"/v1/catalog/{sf}/search", {"term": term, "types": "songs", "limit": limit})
        results = body.get("results")
        if not isinstance(results, dict):
            raise self.http.error(CatalogMalformed, "Apple Music: the search answer has no 'results' object")
        if "songs" not in results:
            return []  # Apple leaves out a type with no results: `{"results": {}}`
        songs = results["songs"]
        data = songs.get("data") if isinstance(songs, dict) else None
        if not isinstance(data, list):
            raise self.http.error(CatalogMalformed, "Apple Music: the search answer's songs have no 'data' list")
        return self._candidates(data)[:limit]

    def _candidates(self, data: list[Any]) -> list[Candidate]:
        out = []
        for song in data:
            attrs = song.get("attributes") if isinstance(song, dict) else None
            if not isinstance(attrs, dict) or not attrs.get("url") or not attrs.get("name"):
                continue  # a song without a link or a name is no candidate
            millis = attrs.get("durationInMillis")
            previews = attrs.get("previews") or []
            preview = previews[0].get("url") if previews and isinstance(previews[0], dict) else None
            out.append(Candidate(
                source=self.name, url=str(attrs["url"]), external_id=str(song.get("id") or ""),
                artist=str(attrs.get("artistName") or ""), title=str(attrs["name"]),
                album=attrs.get("albumName") or None,
                duration_seconds=millis / 1000 if isinstance(millis, int | float) else None,
                isrc=attrs.get("isrc") or None, preview_url=preview,
            ))
        return out
