"""Local fakes of the catalogs the enrichment searches, speaking the real APIs' shapes, auth and failures.

- `FakeAppleCatalog`: the Apple Music API (api.music.apple.com) with developer-token auth: every request's
  `Authorization: Bearer <JWT>` is verified ES256 with the public key of the test's key pair, `kid` and
  `iss` checked, `exp` enforced; tokens can be revoked (the next request with them answers 401).
  `GET /v1/catalog/{sf}/search?term=&types=songs&limit=` (limit ≤ 25 as Apple's) and
  `GET /v1/catalog/{sf}/songs?filter[isrc]=`. Songs are `tests.fakes.apple_music.make_song` shapes.
- `FakeSpotify`: the accounts service (`POST /api/token`, basic auth, client-credentials grant, tokens that
  expire after `token_lifetime` or on `expire_tokens()`) and the Web API's `GET /v1/search?q=&type=track`
  (`isrc:`, `track:"..." artist:"..."` and free-text queries).
- `FakeSpotifyAccounts` (its own section at the end): FakeSpotify plus the authorization-code flow (authorize,
  code and refresh grants, PKCE, revocation) and the playlist endpoints a connected user calls.
- `FakeYouTube`: the Data API v3 `GET /search` and `GET /videos` with the key as `?key=` or
  `X-Goog-Api-Key`, a daily quota in units (search 100, videos 1) answered 403 quotaExceeded when spent,
  Google's error bodies (API_KEY_INVALID, forbidden).

Scripted faults per path (a queue, one per request): "429:<retry-after>" (empty = no header), "500", "502",
"503", "401", "hang:<seconds>" (then the normal answer), "malformed" (a truncated JSON 200), "html" (a 200
HTML page), "shape" (valid JSON of the wrong shape), "quota" / "ratelimit" (YouTube's 403s). `slow_seconds`
delays every answer (the concurrency test); `max_in_flight` is the most requests handled at once. Every request
is recorded with its headers.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.fakes.apple_music import make_song


@dataclass
class SeenRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-cased names
    body: bytes = b""

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None


class FakeCatalogServer:
    """A threaded local HTTP server with recorded requests and scripted faults."""

    def __init__(self) -> None:
        self.requests: list[SeenRequest] = []
        self.faults: dict[str, deque[str]] = {}
        self.slow_seconds = 0.0
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self.server: ThreadingHTTPServer | None = None

    # -- scripting ---------------------------------------------------------------------------------
    def fault(self, path: str, *actions: str) -> None:
        with self._lock:
            self.faults.setdefault(path, deque()).extend(actions)

    def seen(self, path: str) -> list[SeenRequest]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    # -- server ------------------------------------------------------------------------------------
    def start(self) -> str:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                fake._dispatch(self, "GET")

            def do_POST(self) -> None:
                fake._dispatch(self, "POST")

            def do_PUT(self) -> None:  # Spotify's playlist writes (FakeSpotifyAccounts)
                fake._dispatch(self, "PUT")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self.base_url

    @property
    def base_url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        if self.server:
            self.server.shutdown()
            self.server.server_close()

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- answering ---------------------------------------------------------------------------------
    def send(self, h: BaseHTTPRequestHandler, status: int, body: bytes, content_type: str = "application/json",
             headers: dict[str, str] | None = None) -> None:
        try:
            h.send_response(status)
            h.send_header("Content-Type", content_type)
            h.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                h.send_header(k, v)
            h.end_headers()
            h.wfile.write(body)
            h.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass

    def json(self, h: BaseHTTPRequestHandler, status: int, data: Any, headers: dict[str, str] | None = None) -> None:
        self.send(h, status, json.dumps(data).encode(), headers=headers)

    def _dispatch(self, h: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(h.path)
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        seen = SeenRequest(method, parts.path, parse_qs(parts.query), {k.lower(): v for k, v in h.headers.items()},
                           body)
        with self._lock:
            self.requests.append(seen)
            queue = self.faults.get(parts.path)
            action = queue.popleft() if queue else None
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.slow_seconds:
                time.sleep(self.slow_seconds)
            if action:
                kind, _, arg = action.partition(":")
                if kind == "hang":
                    time.sleep(float(arg or 5))
                elif self.scripted(h, kind, arg):
                    return
            self.handle(h, seen)
        finally:
            with self._lock:
                self.in_flight -= 1

    def scripted(self, h: BaseHTTPRequestHandler, kind: str, arg: str) -> bool:
        """Answer a scripted fault in the platform's own error shape; False = not a fault kind."""
        if kind == "429":
            self.json(h, 429, self.error_body(429, "Too Many Requests"), headers={"Retry-After": arg} if arg else {})
        elif kind in ("401", "500", "502", "503"):
            self.json(h, int(kind), self.error_body(int(kind), {"401": "Unauthorized"}.get(kind, "Server error")))
        elif kind == "malformed":
            self.send(h, 200, b'{"results": {"songs": {"data": [{"id": "1", "attr')
        elif kind == "shape":
            self.json(h, 200, {"unexpected": True})
        elif kind == "html":
            self.send(h, 200, b"<html><body>Gateway says hello</body></html>", "text/html")
        else:
            return False
        return True

    def error_body(self, status: int, message: str) -> Any:
        return {"error": {"status": status, "message": message}}

    def handle(self, h: BaseHTTPRequestHandler, seen: SeenRequest) -> None:  # pragma: no cover - overridden
        self.json(h, 404, self.error_body(404, "Not found"))


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def _matches(text: str, haystack: str) -> bool:
    wanted, have = _words(text), set(_words(haystack))
    return bool(wanted) and all(w in have for w in wanted)


# -------------------------------------------------------------------------------------------------
# Apple Music

def make_apple_key() -> tuple[ec.EllipticCurvePrivateKey, bytes]:
    """A P-256 key pair like a MusicKit key, and its private key as the PEM (PKCS#8) a .p8 file holds."""
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    return key, pem


def _apple_errors(status: int, title: str, detail: str, code: str) -> dict[str, Any]:
    return {"errors": [{"id": secrets.token_hex(8).upper(), "title": title, "detail": detail, "status": str(status),
                        "code": code}]}


class FakeAppleCatalog(FakeCatalogServer):
    def __init__(self, *, public_key: ec.EllipticCurvePublicKey, team_id: str, key_id: str,
                 storefront: str = "us") -> None:
        super().__init__()
        self.public_key = public_key
        self.team_id = team_id
        self.key_id = key_id
        self.storefront = storefront
        self.songs: list[dict[str, Any]] = []
        self.revoked: set[str] = set()
        self.tokens_seen: list[str] = []
        self.claims_seen: list[tuple[dict[str, Any], dict[str, Any]]] = []  # (header, payload) of valid tokens

    def add_song(self, song_id: str, *, name: str, artist: str, album: str = "An Album", duration_ms: int = 240_000,
                 isrc: str | None = None, preview: bool = True) -> dict[str, Any]:
        song = make_song(song_id, name=name, artist=artist, album=album, album_id=str(int(song_id) - 5),
                         duration_ms=duration_ms, storefront=self.storefront)
        song["attributes"]["isrc"] = isrc or f"US{song_id[-10:]:0>10}"
        if not preview:
            song["attributes"]["previews"] = []
        self.songs.append(song)
        return song

    def error_body(self, status: int, message: str) -> Any:
        return _apple_errors(status, message, message, f"{status}00")

    def _auth_problem(self, seen: SeenRequest) -> str | None:
        header = seen.headers.get("authorization", "")
        if not header.startswith("Bearer "):
            return "Authentication not provided"
        token = header.removeprefix("Bearer ")
        self.tokens_seen.append(token)
        if token in self.revoked:
            return "Developer token has been revoked"
        try:
            jwt_header = jwt.get_unverified_header(token)
            payload = jwt.decode(token, self.public_key, algorithms=["ES256"], issuer=self.team_id,
                                 options={"require": ["iss", "iat", "exp"]})
        except jwt.PyJWTError as exc:
            return f"Invalid developer token ({type(exc).__name__})"
        if jwt_header.get("kid") != self.key_id:
            return "Unknown key id"
        self.claims_seen.append((jwt_header, payload))
        return None

    def handle(self, h: BaseHTTPRequestHandler, seen: SeenRequest) -> None:
        problem = self._auth_problem(seen)
        if problem:
            return self.json(h, 401, _apple_errors(401, "Unauthenticated", problem, "40100"))
        m = re.fullmatch(r"/v1/catalog/([a-z]{2})/(search|songs)", seen.path)
        if not m:
            return self.json(h, 404, _apple_errors(404, "Resource Not Found", "No such resource", "40400"))
        if m.group(1) != self.storefront:
            return self.json(h, 400, _apple_errors(400, "Invalid Storefront", "Storefront is not valid", "40004"))
        if m.group(2) == "songs":
            isrc = seen.param("filter[isrc]")
            if not isrc:
                return self.json(h, 400, _apple_errors(400, "Missing Parameter", "ids or filter is required",
                                                       "40003"))
            return self.json(h, 200, {"data": [s for s in self.songs if s["attributes"]["isrc"] == isrc]})
        term, limit = seen.param("term"), seen.param("limit") or "5"
        if not term:
            return self.json(h, 400, _apple_errors(400, "Missing Parameter", "term is required", "40003"))
        if not limit.isdigit() or not 1 <= int(limit) <= 25:
            return self.json(h, 400, _apple_errors(400, "Invalid Parameter Value",
                                                   "Value must be an integer less than or equal to 25", "40005"))
        hits = [s for s in self.songs
                if _matches(term, f"{s['attributes']['artistName']} {s['attributes']['name']}")][:int(limit)]
        if not hits:
            return self.json(h, 200, {"results": {}, "meta": {"results": {"order": [], "rawOrder": []}}})
        self.json(h, 200, {
            "results": {"songs": {"href": f"/v1/catalog/{self.storefront}/search?limit={limit}&term={term}&types=songs",
                                  "data": hits}},
            "meta": {"results": {"order": ["songs"], "rawOrder": ["songs"]}},
        })


# -------------------------------------------------------------------------------------------------
# Spotify

def make_spotify_track(track_id: str, *, name: str, artists: list[str], album: str = "An Album",
                       duration_ms: int = 240_000, isrc: str = "GBAAA0000001",
                       preview_url: str | None = None) -> dict[str, Any]:
    """A track object as in `GET /v1/search?type=track` (simplified album and artists, full track)."""
    artist_objs = [{"external_urls": {"spotify": f"https://open.spotify.com/artist/ar{i}{track_id[:8]}"},
                    "href": f"https://api.spotify.com/v1/artists/ar{i}{track_id[:8]}", "id": f"ar{i}{track_id[:8]}",
                    "name": a, "type": "artist", "uri": f"spotify:artist:ar{i}{track_id[:8]}"}
                   for i, a in enumerate(artists)]
    return {
        "album": {"album_type": "album", "total_tracks": 10, "available_markets": ["US", "GB"],
                  "external_urls": {"spotify": f"https://open.spotify.com/album/al{track_id}"},
                  "href": f"https://api.spotify.com/v1/albums/al{track_id}", "id": f"al{track_id}",
                  "images": [{"url": "https://i.scdn.co/image/ab67616d0000b273", "height": 640, "width": 640}],
                  "name": album, "release_date": "1999-03-01", "release_date_precision": "day",
                  "type": "album", "uri": f"spotify:album:al{track_id}", "artists": artist_objs[:1]},
        "artists": artist_objs, "available_markets": ["US", "GB"], "disc_number": 1, "duration_ms": duration_ms,
        "explicit": False, "external_ids": {"isrc": isrc},
        "external_urls": {"spotify": f"https://open.spotify.com/track/{track_id}"},
        "href": f"https://api.spotify.com/v1/tracks/{track_id}", "id": track_id, "is_local": False,
        "name": name, "popularity": 55, "preview_url": preview_url, "track_number": 1, "type": "track",
        "uri": f"spotify:track:{track_id}",
    }


class FakeSpotify(FakeCatalogServer):
    def __init__(self, *, client_id: str, client_secret: str, token_lifetime: int = 3600) -> None:
        super().__init__()
        self.client_id = client_id
        self.client_secret = client_secret
        self.token_lifetime = token_lifetime
        self.tracks: list[dict[str, Any]] = []
        self.tokens: dict[str, float] = {}  # access token -> expires at (epoch)

    def add_track(self, track_id: str, **kwargs: Any) -> dict[str, Any]:
        track = make_spotify_track(track_id, **kwargs)
        self.tracks.append(track)
        return track

    def expire_tokens(self) -> None:
        with self._lock:
            self.tokens = {t: 0.0 for t in self.tokens}

    def handle(self, h: BaseHTTPRequestHandler, seen: SeenRequest) -> None:
        if seen.method == "POST" and seen.path == "/api/token":
            return self._token(h, seen)
        if seen.method == "GET" and seen.path == "/v1/search":
            return self._search(h, seen)
        self.json(h, 404, self.error_body(404, "Service not found"))

    def _token(self, h: BaseHTTPRequestHandler, seen: SeenRequest) -> None:
        expected = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        if seen.headers.get("authorization") != f"Basic {expected}":
            return self.json(h, 400, {"error": "invalid_client", "error_description": "Invalid client"})
        form = parse_qs(seen.body.decode())
        if form.get("grant_type") != ["client_credentials"]:
            return self.json(h, 400, {"error": "unsupported_grant_type",
                                      "error_description": "grant_type parameter is missing"})
        token = "BQ" + secrets.token_urlsafe(40)
        with self._lock:
            self.tokens[token] = time.time() + self.token_lifetime
        self.json(h, 200, {"access_token": token, "token_type": "Bearer", "expires_in": self.token_lifetime})

    def _search(self, h: BaseHTTPRequestHandler, seen: SeenRequest) -> None:
        header = seen.headers.get("authorization", "")
        if not header.startswith("Bearer "):
            return self.json(h, 401, self.error_body(401, "No token provided"))
        expires = self.tokens.get(header.removeprefix("Bearer "))
        if expires is None:
            return self.json(h, 401, self.error_body(401, "Invalid access token"))
        if expires <= time.time():
            return self.json(h, 401, self.error_body(401, "The access token expired"))
        q, kind, limit = seen.param("q") or "", seen.param("type"), seen.param("limit") or "20"
        if not q or kind != "track":
            return self.json(h, 400, self.error_body(400, "No search query" if not q else "Bad search type field"))
        if not limit.isdigit() or not 0 <= int(limit) <= 50:
            return self.json(h, 400, self.error_body(400, "Invalid limit"))
        hits = [t for t in self.tracks if self._match(q, t)][:int(limit)]
        self.json(h, 200, {"tracks": {
            "href": f"https://api.spotify.com/v1/search?offset=0&limit={limit}&query={q}&type=track",
            "items": hits, "limit": int(limit), "next": None, "offset": 0, "previous": None, "total": len(hits)}})

    @staticmethod
    def _match(q: str, track: dict[str, Any]) -> bool:
        artists = " ".join(a["name"] for a in track["artists"])
        m = re.fullmatch(r"isrc:(\S+)", q.strip())
        if m:
            return track["external_ids"]["isrc"].upper() == m.group(1).upper()
        fields = dict(re.findall(r'(track|artist|album):"([^"]*)"', q))
        if fields:
            return (_matches(fields.get("track", ""), track["name"]) if "track" in fields else True) and \
                (_matches(fields["artist"], artists) if "artist" in fields else True)
        return _matches(q, f"{artists} {track['name']}")


# -------------------------------------------------------------------------------------------------
# YouTube

def _google_error(status: int, message: str, reason: str, *, domain: str = "global",
                  detail_reason: str | None = None, state: str = "PERMISSION_DENIED") -> dict[str, Any]:
    body: dict[str, Any] = {"error": {"code": status, "message": message,
                                      "errors": [{"message": message, "domain": domain, "reason": reason}],
                                      "status": state}}
    if detail_reason:
        body["error"]["details"] = [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": detail_reason,
                                     "domain": "googleapis.com", "metadata": {"service": "youtube.googleapis.com"}}]
    return body


QUOTA_MESSAGE = ('The request cannot be completed because you have exceeded your '
                 '<a href="/youtube/v3/getting-started#quota">quota</a>.')


class FakeYouTube(FakeCatalogServer):
    def __init__(self, *, api_key: str, quota: int = 10_000) -> None:
        super().__init__()
        self.api_key = api_key
        self.quota = quota
        self.videos: list[dict[str, Any]] = []

    def add_video(self, video_id: str, *, title: str, channel: str, duration: str = "PT4M0S",
                  category: str = "10") -> None:
        self.videos.append({"id": video_id, "title": title, "channel": channel, "duration": duration,
                            "category": category})

    def error_body(self, status: int, message: str) -> Any:
        return _google_error(status, message, "backendError" if status >= 500 else "unknown", state="UNAVAILABLE")

    def scripted(self, h: BaseHTTPRequestHandler, kind: str, arg: str) -> bool:
        if kind == "quota":
            self.json(h, 403, _google_error(403, QUOTA_MESSAGE, "quotaExceeded", domain="youtube.quota"))
            return True
        if kind == "ratelimit":
            self.json(h, 403, _google_error(403, "Rate Limit Exceeded", "rateLimitExceeded",
                                            domain="usageLimits"))
            return True
        return super().scripted(h, kind, arg)

    def _spend(self, units: int) -> bool:
        with self._lock:
            if self.quota < units:
                return False
            self.quota -= units
            return True

    def handle(self, h: BaseHTTPRequestHandler, seen: SeenRequest) -> None:
        key = seen.param("key") or seen.headers.get("x-goog-api-key")
        if not key:
            return self.json(h, 403, _google_error(
                403, "Method doesn't allow unregistered callers (callers without established identity). Please use "
                "API Key or other form of API consumer identity to call this API.", "forbidden"))
        if key != self.api_key:
            return self.json(h, 400, _google_error(400, "API key not valid. Please pass a valid API key.",
                                                   "badRequest", detail_reason="API_KEY_INVALID",
                                                   state="INVALID_ARGUMENT"))
        if seen.path == "/search":
            if not self._spend(100):
                return self.json(h, 403, _google_error(403, QUOTA_MESSAGE, "quotaExceeded", domain="youtube.quota"))
            return self._search(h, seen)
        if seen.path == "/videos":
            if not self._spend(1):
                return self.json(h, 403, _google_error(403, QUOTA_MESSAGE, "quotaExceeded", domain="youtube.quota"))
            return self._videos(h, seen)
        self.json(h, 404, _google_error(404, "Not Found", "notFound", state="NOT_FOUND"))

    def _search(self, h: BaseHTTPRequestHandler, seen: SeenRequest) -> None:
        if seen.param("part") != "snippet":
            return self.json(h, 400, _google_error(400, "Required parameter: part", "required",
                                                   state="INVALID_ARGUMENT"))
        q = seen.param("q") or ""
        category, limit = seen.param("videoCategoryId"), int(seen.param("maxResults") or 5)
        if category and seen.param("type") != "video":
            return self.json(h, 400, _google_error(
                400, "Request contains an invalid argument.", "invalidSearchFilter", state="INVALID_ARGUMENT"))
        hits = [v for v in self.videos if _matches(q, f"{v['channel']} {v['title']}")
                and (not category or v["category"] == category)][:limit]
        items = [{"kind": "youtube#searchResult", "etag": secrets.token_hex(6),
                  "id": {"kind": "youtube#video", "videoId": v["id"]},
                  "snippet": {"publishedAt": "2012-06-01T07:00:01Z", "channelId": "UC" + v["id"] * 2,
                              "title": html.escape(v["title"]), "description": "Provided to YouTube",
                              "thumbnails": {"default": {"url": f"https://i.ytimg.com/vi/{v['id']}/default.jpg",
                                                         "width": 120, "height": 90}},
                              "channelTitle": html.escape(v["channel"]), "liveBroadcastContent": "none",
                              "publishTime": "2012-06-01T07:00:01Z"}} for v in hits]
        self.json(h, 200, {"kind": "youtube#searchListResponse", "etag": secrets.token_hex(6),
                           "nextPageToken": "CAUQAA", "regionCode": "US",
                           "pageInfo": {"totalResults": len(hits), "resultsPerPage": limit}, "items": items})

    def _videos(self, h: BaseHTTPRequestHandler, seen: SeenRequest) -> None:
        ids = (seen.param("id") or "").split(",")
        items = [{"kind": "youtube#video", "etag": secrets.token_hex(6), "id": v["id"],
                  "contentDetails": {"duration": v["duration"], "dimension": "2d", "definition": "hd",
                                     "caption": "false", "licensedContent": True, "contentRating": {},
                                     "projection": "rectangular"}} for v in self.videos if v["id"] in ids]
        self.json(h, 200, {"kind": "youtube#videoListResponse", "etag": secrets.token_hex(6), "items": items,
                           "pageInfo": {"totalResults": len(items), "resultsPerPage": len(items)}})


# -------------------------------------------------------------------------------------------------
# Spotify user accounts (issue 14: connect an account, export playlists) — FakeSpotifyAccounts
#
# FakeSpotify plus the authorization-code flow and the Web API calls a connected user makes:
# - `GET /authorize?client_id&response_type=code&redirect_uri&scope&state[&code_challenge_method=S256
#   &code_challenge]`: the consent page, answered as if `login_as` clicked "Agree" (or declined when `deny`):
#   303 to the redirect URI with `code` (or `error=access_denied`) and the state. The redirect URI must be one
#   of `redirect_uris` (Spotify's "INVALID_CLIENT: Invalid redirect URI" page otherwise).
# - `POST /api/token` grant_type=authorization_code (the code once, the same redirect URI, the PKCE verifier)
#   and grant_type=refresh_token (a new access token; a new refresh token too when `rotate_refresh`);
#   a revoked or unknown refresh token answers 400 `invalid_grant` "Refresh token revoked".
# - `revoke_app(user)`: what removing the app at spotify.com/account/apps does (refresh and access tokens die).
# - `GET /v1/me`, `POST /v1/me/playlists`, `POST /v1/users/{id}/playlists`, `PUT|POST /v1/playlists/{id}/tracks`
#   (JSON `{"uris": [...]}`, at most 100, `spotify:track:<22 chars>` only, owner only). `playlists[id]` holds
#   name, public, description, owner and `uris` for the tests to inspect.

class FakeSpotifyAccounts(FakeSpotify):
    MAX_URIS = 100

    def __init__(self, *, client_id: str, client_secret: str, redirect_uris: list[str],
                 token_lifetime: int = 3600, login_as: str = "djuser", display_name: str = "DJ User") -> None:
        super().__init__(client_id=client_id, client_secret=client_secret, token_lifetime=token_lifetime)
        self.redirect_uris = list(redirect_uris)
        self.users: dict[str, dict[str, Any]] = {}
        self.add_user(login_as, display_name)
        self.login_as = login_as
        self.deny = False
        self.rotate_refresh = False
        self.codes: dict[str, dict[str, Any]] = {}
        self.refresh_tokens: dict[str, str] = {}  # refresh token -> user id
        self.user_tokens: dict[str, tuple[str, float, str]] = {}  # access token -> (user id, expires at, scope)
        self.playlists: dict[str, dict[str, Any]] = {}

    def add_user(self, user_id: str, display_name: str | None = None) -> None:
        self.users[user_id] = {"id": user_id, "display_name": display_name}

    def expire_tokens(self) -> None:
        super().expire_tokens()
        with self._lock:
            self.user_tokens = {t: (u, 0.0, s) for t, (u, _e, s) in self.user_tokens.items()}

    def revoke_app(self, user_id: str) -> None:
        with self._lock:
            self.refresh_tokens = {r: u for r, u in self.refresh_tokens.items() if u != user_id}
            self.user_tokens = {t: v for t, v in self.user_tokens.items() if v[0] != user_id}

    # -- dispatch ----------------------------------------------------------------------------------
    def handle(self, h: BaseHTTPRequestHandler, seen: SeenRequest) -> None:
        if seen.method == "GET" and seen.path == "/authorize":
            return self._authorize(h, seen)
        if seen.method == "POST" and seen.path == "/api/token":
            grant = parse_qs(seen.body.decode()).get("grant_type", [""])[0]
            if grant in ("authorization_code", "refresh_token"):
                return self._user_token(h, seen, grant)
            return super().handle(h, seen)
        if seen.path.startswith("/v1/") and seen.path != "/v1/search":
            return self._user_api(h, seen)
        return super().handle(h, seen)

    # -- accounts ----------------------------------------------------------------------------------
    def _authorize(self, h: BaseHTTPRequestHandler, seen: SeenRequest) -> None:
        def page(status: int, text: str) -> None:
            self.send(h, status, f"<html><body><h1>{html.escape(text)}</h1></body></html>".encode(), "text/html")

        if seen.param("client_id") != self.client_id:
            return page(400, "INVALID_CLIENT: Invalid client")
        redirect_uri = seen.param("redirect_uri") or ""
        if redirect_uri not in self.redirect_uris:
            return page(400, "INVALID_CLIENT: Invalid redirect URI")
        if seen.param("response_type") != "code":
            return page(400, "unsupported_response_type")
        method, challenge = seen.param("code_challenge_method"), seen.param("code_challenge")
        if challenge and method != "S256":
            return page(400, "INVALID_REQUEST: code_challenge_method must be S256")
        state = seen.param("state")
        params: dict[str, str] = {"state": state} if state is not None else {}
        if self.deny:
            params = {"error": "access_denied", **params}
        else:
            code = "AQ" + secrets.token_urlsafe(60)
            with self._lock:
                self.codes[code] = {"redirect_uri": redirect_uri, "challenge": challenge,
                                    "scope": seen.param("scope") or "", "user": self.login_as}
            params = {"code": code, **params}
        sep = "&" if "?" in redirect_uri else "?"
        self.send(h, 303, b"", "text/html", headers={"Location": f"{redirect_uri}{sep}{urlencode(params)}"})

    def _issue(self, user_id: str, scope: str) -> str:
        token = "BQ" + secrets.token_urlsafe(60)
        with self._lock:
            self.user_tokens[token] = (user_id, time.time() + self.token_lifetime, scope)
        return token

    def _user_token(self, h: BaseHTTPRequestHandler, seen: SeenRequest, grant: str) -> None:
        expected = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        if seen.headers.get("authorization") != f"Basic {expected}":
            return self.json(h, 400, {"error": "invalid_client", "error_description": "Invalid client"})
        form = {k: v[0] for k, v in parse_qs(seen.body.decode()).items()}
        if grant == "authorization_code":
            with self._lock:
                issued = self.codes.pop(form.get("code", ""), None)
            if issued is None:
                return self.json(h, 400, {"error": "invalid_grant", "error_description": "Invalid authorization code"})
            if form.get("redirect_uri") != issued["redirect_uri"]:
                return self.json(h, 400, {"error": "invalid_grant", "error_description": "Invalid redirect URI"})
            if issued["challenge"]:
                verifier = form.get("code_verifier", "")
                digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
                if digest != issued["challenge"]:
                    return self.json(h, 400, {"error": "invalid_grant",
                                              "error_description": "code_verifier was incorrect"})
            refresh = "AQ" + secrets.token_urlsafe(90)
            with self._lock:
                self.refresh_tokens[refresh] = issued["user"]
            return self.json(h, 200, {"access_token": self._issue(issued["user"], issued["scope"]),
                                      "token_type": "Bearer", "scope": issued["scope"],
                                      "expires_in": self.token_lifetime, "refresh_token": refresh})
        refresh = form.get("refresh_token", "")
        with self._lock:
            user_id = self.refresh_tokens.get(refresh)
        if user_id is None:
            return self.json(h, 400, {"error": "invalid_grant", "error_description": "Refresh token revoked"})
        body = {"access_token": self._issue(user_id, SPOTIFY_PLAYLIST_SCOPES), "token_type": "Bearer",
                "scope": SPOTIFY_PLAYLIST_SCOPES, "expires_in": self.token_lifetime}
        if self.rotate_refresh:
            new = "AQ" + secrets.token_urlsafe(90)
            with self._lock:
                del self.refresh_tokens[refresh]
                self.refresh_tokens[new] = user_id
            body["refresh_token"] = new
        self.json(h, 200, body)

    # -- Web API with a user token ------------------------------------------------------------------
    def _user_api(self, h: BaseHTTPRequestHandler, seen: SeenRequest) -> None:
        header = seen.headers.get("authorization", "")
        if not header.startswith("Bearer "):
            return self.json(h, 401, self.error_body(401, "No token provided"))
        found = self.user_tokens.get(header.removeprefix("Bearer "))
        if found is None:
            if header.removeprefix("Bearer ") in self.tokens:  # an app token: no user behind it
                return self.json(h, 401, self.error_body(401, "Only valid bearer authentication supported"))
            return self.json(h, 401, self.error_body(401, "Invalid access token"))
        user_id, expires, scope = found
        if expires <= time.time():
            return self.json(h, 401, self.error_body(401, "The access token expired"))
        user = self.users[user_id]
        if seen.method == "GET" and seen.path == "/v1/me":
            return self.json(h, 200, {
                "id": user_id, "display_name": user["display_name"], "type": "user", "uri": f"spotify:user:{user_id}",
                "href": f"https://api.spotify.com/v1/users/{user_id}", "followers": {"href": None, "total": 3},
                "external_urls": {"spotify": f"https://open.spotify.com/user/{user_id}"}, "images": []})
        m = re.fullmatch(r"/v1/(?:me|users/([^/]+))/playlists", seen.path)
        if seen.method == "POST" and m:
            if m.group(1) and m.group(1) != user_id:
                return self.json(h, 403, self.error_body(403, "You cannot create a playlist for another user"))
            return self._create_playlist(h, seen, user_id, scope)
        m = re.fullmatch(r"/v1/playlists/([A-Za-z0-9]+)/tracks", seen.path)
        if m and seen.method in ("PUT", "POST"):
            return self._playlist_items(h, seen, m.group(1), user_id)
        m = re.fullmatch(r"/v1/playlists/([A-Za-z0-9]+)", seen.path)
        if m and seen.method == "PUT":
            return self._change_details(h, seen, m.group(1), user_id)
        self.json(h, 404, self.error_body(404, "Service not found"))

    def _change_details(self, h: BaseHTTPRequestHandler, seen: SeenRequest, playlist_id: str, user_id: str) -> None:
        """`PUT /v1/playlists/{id}`: name, public, description; Spotify answers 200 with an empty body."""
        playlist = self.playlists.get(playlist_id)
        if playlist is None:
            return self.json(h, 404, self.error_body(404, "Resource not found"))
        if playlist["owner"] != user_id:
            return self.json(h, 403, self.error_body(403, "You cannot change a playlist you don't own."))
        body = self._body(seen)
        if not isinstance(body, dict):
            return self.json(h, 400, self.error_body(400, "Error parsing JSON."))
        with self._lock:
            for key in ("name", "public", "description"):
                if key in body:
                    playlist[key] = body[key]
        h.send_response(200)
        h.send_header("Content-Length", "0")
        h.end_headers()

    def _body(self, seen: SeenRequest) -> Any:
        if "application/json" not in seen.headers.get("content-type", ""):
            return None
        try:
            return json.loads(seen.body or b"null")
        except ValueError:
            return None

    def _create_playlist(self, h: BaseHTTPRequestHandler, seen: SeenRequest, user_id: str, scope: str) -> None:
        body = self._body(seen)
        if not isinstance(body, dict) or not isinstance(body.get("name"), str) or not body["name"]:
            return self.json(h, 400, self.error_body(400, "Missing required field: name"))
        public = body.get("public", True)
        needed = "playlist-modify-public" if public else "playlist-modify-private"
        if needed not in scope.split():
            return self.json(h, 403, self.error_body(403, "Insufficient client scope"))
        playlist_id = "".join(secrets.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
                              for _ in range(22))
        with self._lock:
            self.playlists[playlist_id] = {"name": body["name"], "public": bool(public),
                                           "description": body.get("description"), "owner": user_id, "uris": []}
        self.json(h, 201, {
            "collaborative": False, "description": body.get("description") or "",
            "external_urls": {"spotify": f"https://open.spotify.com/playlist/{playlist_id}"}, "followers":
            {"href": None, "total": 0}, "href": f"https://api.spotify.com/v1/playlists/{playlist_id}",
            "id": playlist_id, "images": [], "name": body["name"], "public": bool(public),
            "owner": {"id": user_id, "display_name": self.users[user_id]["display_name"], "type": "user"},
            "snapshot_id": secrets.token_urlsafe(24), "type": "playlist", "uri": f"spotify:playlist:{playlist_id}",
            "tracks": {"href": f"https://api.spotify.com/v1/playlists/{playlist_id}/tracks", "items": [],
                       "limit": 100, "next": None, "offset": 0, "previous": None, "total": 0}})

    def _playlist_items(self, h: BaseHTTPRequestHandler, seen: SeenRequest, playlist_id: str, user_id: str) -> None:
        playlist = self.playlists.get(playlist_id)
        if playlist is None:
            return self.json(h, 404, self.error_body(404, "Resource not found"))
        if playlist["owner"] != user_id:
            return self.json(h, 403, self.error_body(403, "You cannot add tracks to a playlist you don't own."))
        body = self._body(seen)
        uris = body.get("uris") if isinstance(body, dict) else None
        if not isinstance(uris, list):
            return self.json(h, 400, self.error_body(400, "Missing uris"))
        if len(uris) > self.MAX_URIS:
            return self.json(h, 400, self.error_body(400, "You can add a maximum of 100 tracks per request."))
        bad = [u for u in uris if not isinstance(u, str) or not re.fullmatch(r"spotify:track:[A-Za-z0-9]{22}", u)]
        if bad:
            return self.json(h, 400, self.error_body(400, f"Invalid track uri: {bad[0]}"))
        with self._lock:
            if seen.method == "PUT":
                playlist["uris"] = list(uris)
            else:
                playlist["uris"].extend(uris)
        self.json(h, 200 if seen.method == "PUT" else 201, {"snapshot_id": secrets.token_urlsafe(24)})


SPOTIFY_PLAYLIST_SCOPES = "playlist-modify-private playlist-modify-public"
