"""A local fake of the Apple Music hosts gamdl talks to, speaking the shapes gamdl reads (tests).

One server stands in for all four hosts (their paths do not overlap):
- music.apple.com: `GET /` (web player page naming `/assets/index~<hash>.js`), `GET /assets/index~<hash>.js`
  (holds the developer token, a JWT-looking string)
- amp-api.music.apple.com: `GET /v1/me/account?meta=subscription` (needs `Authorization: Bearer <token>` and
  `Cookie: media-user-token=<valid>`), `GET /v1/catalog/{storefront}/songs/{id}` (AMP `data`/`errors`
  bodies), `GET /v1/me/library/songs/{id}`
- play.itunes.apple.com: `POST /WebObjects/MZPlay.woa/wa/webPlayback` (`songList` with assets, or a
  `dialog`), `POST /WebObjects/MZPlay.woa/wa/acquireWebPlaybackLicense` (always refuses: a fake cannot sign
  a Widevine license, so a catalog song stops there, as it would offline)
- itunes.apple.com: `GET /lookup`
- the stream files Apple's answers point to: `/itunes-assets/...m3u8` (Widevine-keyed HLS) and
  `/library-assets/{id}.m4a` (a DRM-free library upload, bytes set by the test)
Scripted faults per path: "429:<retry-after>", "500", "503", "401", "403", "404", "hang:<seconds>",
"dialog", "malformed". Every request is recorded with its headers and body.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

GOOD_MEDIA_USER_TOKEN = "fake-media-user-token-0123456789"
SONG_ID = "1440857786"
ALBUM_ID = "1440857781"
LIBRARY_SONG_ID = "i.KoBXgDEcVQ7GbM"
INDEX_JS = "/assets/index~8f3c2a1b7d.js"
WEBPLAYBACK = "/WebObjects/MZPlay.woa/wa/webPlayback"
LICENSE = "/WebObjects/MZPlay.woa/wa/acquireWebPlaybackLicense"
WIDEVINE = "urn:uuid:edef8ba9-79d6-4ace-a3c8-27dcd51d21ed"
# the placeholder key every Apple playlist carries (gamdl skips it), then the track's own key id
DEFAULT_WIDEVINE_URI = ("data:text/plain;base64,AAAAOHBzc2gAAAAA7e+LqXnWSs6jyCfc1R0h7QAAABgSEAAAAAAAAAAAczEvZTEgICBI"
                        "88aJmwY=")


def _b64url(data: dict[str, Any] | bytes) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def make_developer_token() -> str:
    header = {"alg": "ES256", "typ": "JWT", "kid": "WebPlayKid"}
    payload = {"iss": "AMPWebPlay", "iat": 1_700_000_000, "exp": 1_900_000_000, "root_https_origin": ["apple.com"]}
    return f"{_b64url(header)}.{_b64url(payload)}.{_b64url(b'fake-signature-not-verified-by-anyone')}"


def make_song(song_id: str = SONG_ID, *, name: str = "Midnight City", artist: str = "M83",
              album: str = "Hurry Up, We're Dreaming", album_id: str = ALBUM_ID, duration_ms: int = 243_960,
              storefront: str = "us", streamable: bool = True) -> dict[str, Any]:
    """A catalog song as `GET /v1/catalog/{sf}/songs/{id}?extend=extendedAssetUrls&include=lyrics,albums`."""
    attributes: dict[str, Any] = {
        "albumName": album, "artistName": artist, "composerName": "Anthony Gonzalez",
        "genreNames": ["Electronic", "Music"], "trackNumber": 2, "discNumber": 1, "durationInMillis": duration_ms,
        "releaseDate": "2011-08-16", "isrc": "FR6V81141062", "hasLyrics": False, "hasTimeSyncedLyrics": False,
        "isAppleDigitalMaster": False, "isMasteredForItunes": False, "isVocalAttenuationAllowed": False,
        "audioLocale": "en-US", "audioTraits": ["lossless", "lossy-stereo"], "name": name,
        "url": f"https://music.apple.com/{storefront}/album/{album_id}?i={song_id}",
        "artwork": {"width": 3000, "height": 3000, "bgColor": "1a1a2e", "textColor1": "f2f2f2",
                    "url": "https://is1-ssl.mzstatic.com/image/thumb/Music115/v4/aa/bb/cc/aabbcc/"
                           "00602527862340.rgb.jpg/{w}x{h}bb.jpg"},
        "previews": [{"url": "https://audio-ssl.itunes.apple.com/itunes-assets/AudioPreview/preview.m4a"}],
        "extendedAssetUrls": {"plus": "https://aod-ssl.itunes.apple.com/itunes-assets/HLSMusic/plus.m3u8",
                              "enhancedHls": "https://aod-ssl.itunes.apple.com/itunes-assets/HLSMusic/P1_default.m3u8"},
    }
    if streamable:
        attributes["playParams"] = {"id": song_id, "kind": "song"}
    return {
        "id": song_id, "type": "songs", "href": f"/v1/catalog/{storefront}/songs/{song_id}?l=en-US",
        "attributes": attributes,
        "relationships": {
            "albums": {"href": f"/v1/catalog/{storefront}/songs/{song_id}/albums?l=en-US",
                       "data": [{"id": album_id, "type": "albums",
                                 "href": f"/v1/catalog/{storefront}/albums/{album_id}?l=en-US"}]},
            "lyrics": {"href": f"/v1/catalog/{storefront}/songs/{song_id}/lyrics?l=en-US", "data": []},
        },
    }


def make_library_song(library_id: str = LIBRARY_SONG_ID, *, name: str = "Basement Demo",
                      duration_ms: int = 1_000) -> dict[str, Any]:
    """An uploaded song in the user's library (no catalog match), as `GET /v1/me/library/songs/{id}`."""
    return {
        "id": library_id, "type": "library-songs", "href": f"/v1/me/library/songs/{library_id}",
        "attributes": {
            "albumName": "Home Recordings", "artistName": "The Uploaders", "discNumber": 1, "trackNumber": 1,
            "genreNames": ["Rock"], "durationInMillis": duration_ms, "releaseDate": "2020-01-01", "hasLyrics": False,
            "name": name, "artwork": {"width": 1200, "height": 1200,
                                      "url": "https://is1-ssl.mzstatic.com/image/thumb/upload/{w}x{h}bb.jpg"},
            "playParams": {"id": library_id, "kind": "song", "isLibrary": True, "reporting": False},
        },
        "relationships": {"catalog": {"href": f"/v1/me/library/songs/{library_id}/catalog", "data": []}},
    }


def _errors(status: int, title: str, detail: str, code: str) -> bytes:
    return json.dumps({"errors": [{"id": "FAKE" + code, "title": title, "detail": detail, "status": str(status),
                                   "code": code}]}).encode()


@dataclass
class SeenRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-cased names
    body: Any = None  # parsed JSON for POSTs


@dataclass
class FakeAppleMusic:
    storefront: str = "us"
    subscription_active: bool = True
    media_user_tokens: set[str] = field(default_factory=lambda: {GOOD_MEDIA_USER_TOKEN})
    developer_token: str = field(default_factory=make_developer_token)
    license_status: int = -1021

    def __post_init__(self) -> None:
        self.songs: dict[str, dict[str, Any]] = {}
        self.library_songs: dict[str, dict[str, Any]] = {}
        self.library_audio: dict[str, bytes] = {}
        self.faults: dict[str, deque[str]] = {}
        self.requests: list[SeenRequest] = []
        self._lock = threading.Lock()
        self.server: ThreadingHTTPServer | None = None
        self.add_song(make_song())

    # -- data --------------------------------------------------------------------------------------
    def add_song(self, song: dict[str, Any]) -> None:
        self.songs[song["id"]] = song

    def add_library_song(self, song: dict[str, Any], audio: bytes) -> None:
        self.library_songs[song["id"]] = song
        self.library_audio[song["id"]] = audio

    def fault(self, path: str, *actions: str) -> None:
        self.faults.setdefault(path, deque()).extend(actions)

    def seen(self, path: str) -> list[SeenRequest]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    @property
    def paths(self) -> list[str]:
        with self._lock:
            return [r.path for r in self.requests]

    # -- server ------------------------------------------------------------------------------------
    def start(self, port: int = 0) -> str:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                fake._handle(self, "GET")

            def do_POST(self) -> None:
                fake._handle(self, "POST")

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
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

    # -- handling ----------------------------------------------------------------------------------
    def _send(self, h: BaseHTTPRequestHandler, status: int, body: bytes, content_type: str = "application/json",
              headers: dict[str, str] | None = None) -> None:
        try:
            h.send_response(status)
            h.send_header("Content-Type", content_type)
            h.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                h.send_header(k, v)
            h.end_headers()
            if h.command != "HEAD":
                h.wfile.write(body)
            h.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _json(self, h: BaseHTTPRequestHandler, status: int, data: Any) -> None:
        self._send(h, status, json.dumps(data).encode())

    def _user_token(self, h: BaseHTTPRequestHandler) -> str | None:
        match = re.search(r"(?:^|;\s*)media-user-token=([^;]*)", h.headers.get("Cookie", ""))
        return match.group(1) if match else None

    def _handle(self, h: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(h.path)
        path = parts.path
        body: Any = None
        length = int(h.headers.get("Content-Length") or 0)
        if length:
            raw = h.rfile.read(length)
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw
        with self._lock:
            self.requests.append(SeenRequest(method, path, parse_qs(parts.query),
                                             {k.lower(): v for k, v in h.headers.items()}, body))
            queue = self.faults.get(path)
            action = queue.popleft() if queue else None
        if action:
            kind, _, arg = action.partition(":")
            if kind == "429":
                return self._send(h, 429, _errors(429, "Too Many Requests", "Rate limit exceeded", "42900"),
                                  headers={"Retry-After": arg or "1"})
            if kind in ("500", "503"):
                return self._send(h, int(kind), _errors(int(kind), "Upstream Service Error",
                                                        "The server encountered an error", kind + "00"))
            if kind in ("401", "403", "404"):
                return self._send(h, int(kind), _errors(int(kind), {"401": "Unauthorized", "403": "Forbidden",
                                                                    "404": "Resource Not Found"}[kind],
                                                        "Scripted fault", kind + "00"))
            if kind == "malformed":
                return self._send(h, 200, b'{"data": [{"id": "1", "attr')
            if kind == "hang":
                time.sleep(float(arg or 5))
            if kind == "dialog":
                return self._json(h, 200, self._dialog())

        if method == "GET" and path == "/":
            return self._send(h, 200, self._home_page(), "text/html; charset=utf-8")
        if method == "GET" and path == INDEX_JS:
            js = (f'const e={{}};var Hx="{self.developer_token}",Jx={{storefront:"us"}};'
                  'export{Hx as t,Jx as c};').encode()
            return self._send(h, 200, js, "application/javascript")
        if path.startswith("/v1/"):
            return self._amp(h, path, parse_qs(parts.query))
        if method == "POST" and path == WEBPLAYBACK:
            return self._webplayback(h, body)
        if method == "POST" and path == LICENSE:
            if not self._authorized(h):
                return self._json(h, 401, {"status": -1004, "errorCode": -1004})
            return self._json(h, 200, {"status": self.license_status, "errorCode": self.license_status})
        if method == "GET" and path == "/lookup":
            return self._lookup(h, parse_qs(parts.query))
        m = re.fullmatch(r"/itunes-assets/HLSMusic/(\d+)/P(\d+)_(\w+)\.m3u8", path)
        if m and m.group(2) in self.songs:
            return self._send(h, 200, self._media_playlist(m.group(2)), "application/vnd.apple.mpegurl")
        m = re.fullmatch(r"/library-assets/([\w.]+)\.m4a", path)
        if m and m.group(1) in self.library_audio:
            return self._send(h, 200, self.library_audio[m.group(1)], "audio/mp4")
        return self._send(h, 404, b"Not Found", "text/plain")

    def _authorized(self, h: BaseHTTPRequestHandler) -> bool:
        return (h.headers.get("Authorization") == f"Bearer {self.developer_token}"
                and self._user_token(h) in self.media_user_tokens)

    def _home_page(self) -> bytes:
        return ('<!DOCTYPE html><html dir="ltr" lang="en-US"><head><meta charset="utf-8"><title>Apple Music</title>'
                f'<script type="module" crossorigin src="{INDEX_JS}"></script>'
                '<link rel="stylesheet" href="/assets/index~1a2b3c.css"></head>'
                '<body><div id="root"></div></body></html>').encode()

    def _amp(self, h: BaseHTTPRequestHandler, path: str, query: dict[str, list[str]]) -> None:
        if h.headers.get("Authorization") != f"Bearer {self.developer_token}":
            return self._send(h, 401, _errors(401, "Unauthorized", "Developer token is missing or invalid", "40100"))
        user_token = self._user_token(h)
        if path == "/v1/me/account":
            if user_token not in self.media_user_tokens:
                return self._send(h, 401, _errors(401, "Unauthorized", "Media user token is invalid or expired",
                                                  "40100"))
            return self._json(h, 200, {
                "meta": {"subscription": {"active": self.subscription_active, "storefront": self.storefront}},
                "data": [{"id": "fake-account", "type": "accounts", "attributes": {"restrictions": {}}}],
            })
        m = re.fullmatch(r"/v1/catalog/([a-z]{2})/songs/(\d+)", path)
        if m:
            song = self.songs.get(m.group(2))
            if m.group(1) != self.storefront or song is None:
                return self._send(h, 404, _errors(404, "Resource Not Found",
                                                  "Resource with requested id was not found", "40400"))
            return self._json(h, 200, {"data": [song]})
        m = re.fullmatch(r"/v1/me/library/songs/([\w.]+)", path)
        if m:
            if user_token not in self.media_user_tokens:
                return self._send(h, 403, _errors(403, "Forbidden", "Invalid authentication", "40300"))
            song = self.library_songs.get(m.group(1))
            if song is None:
                return self._send(h, 404, _errors(404, "Resource Not Found",
                                                  "Resource with requested id was not found", "40400"))
            return self._json(h, 200, {"data": [song]})
        return self._send(h, 404, _errors(404, "Resource Not Found", "No such resource", "40400"))

    def _dialog(self) -> dict[str, Any]:
        return {"failureType": "3076", "customerMessage": "Subscription required",
                "dialog": {"message": "Subscription required",
                           "explanation": "An Apple Music subscription is required to play this song.",
                           "defaultButton": "ok", "okButtonString": "OK", "initialCheckboxValue": True}}

    def _asset_metadata(self, song: dict[str, Any], item_id: int) -> dict[str, Any]:
        a = song["attributes"]
        return {
            "artistId": "12345", "artistName": a["artistName"], "bitRate": 256, "compilation": False,
            "composerName": a.get("composerName"), "copyright": "℗ 2011 Naïve", "discCount": 1,
            "discNumber": a.get("discNumber", 1), "duration": a["durationInMillis"], "explicit": 0,
            "fileExtension": "m4p", "genre": a["genreNames"][0], "genreId": "7", "itemId": str(item_id),
            "itemName": a["name"], "kind": "song", "playlistArtistName": a["artistName"],
            "playlistId": ALBUM_ID, "playlistName": a["albumName"], "rank": a.get("trackNumber", 1),
            "releaseDate": "2011-08-16T12:00:00Z", "s": "143441", "sort-album": a["albumName"],
            "sort-artist": a["artistName"], "sort-name": a["name"], "trackCount": 22,
            "trackNumber": a.get("trackNumber", 1), "vendorId": 3_002, "xid": "Naive:isrc:FR6V81141062",
            "year": "2011",
        }

    def _webplayback(self, h: BaseHTTPRequestHandler, body: Any) -> None:
        if not self._authorized(h):
            return self._json(h, 200, self._dialog() | {"failureType": "2002",
                                                        "customerMessage": "Please sign in"})
        body = body if isinstance(body, dict) else {}
        if body.get("universalLibraryId") in self.library_songs:
            library_id = body["universalLibraryId"]
            song = self.library_songs[library_id]
            assets = [{"flavor": "30:cbcp256", "URL": f"{self.base_url}/library-assets/{library_id}.m4a",
                       "downloadKey": "", "artworkURL": "", "file-size": len(self.library_audio[library_id]),
                       "md5": "", "metadata": self._asset_metadata(song, 987654321)}]
            return self._json(h, 200, {"songList": [{"songId": library_id, "assets": assets}], "status": 0})
        song_id = body.get("salableAdamId")
        if song_id not in self.songs:
            return self._json(h, 200, {"failureType": "3077", "customerMessage": "This item is not available.",
                                       "dialog": {"message": "This item is not available."}})
        song = self.songs[song_id]
        assets = []
        for flavor, rate in (("28:ctrp256", 256), ("32:ctrp64", 64)):
            assets.append({
                "flavor": flavor, "downloadKey": "", "artworkURL": song["attributes"]["artwork"]["url"],
                "URL": f"{self.base_url}/itunes-assets/HLSMusic/{rate}/P{song_id}_{flavor.split(':')[1]}.m3u8",
                "file-size": song["attributes"]["durationInMillis"] * rate // 8, "md5": "",
                "chunks": {"chunkSize": 0, "hashes": []}, "metadata": self._asset_metadata(song, int(song_id)),
            })
        play_base = "https://play.itunes.apple.com/WebObjects/MZPlay.woa"
        self._json(h, 200, {"songList": [{
            "songId": song_id, "assets": assets, "hls-key-cert-url": f"{play_base}/wa/fpsCert",
            "hls-key-server-url": f"{play_base}/music/fps", "widevine-cert-url": f"{play_base}/wa/widevineCert",
        }], "status": 0})

    def _media_playlist(self, song_id: str) -> bytes:
        kid = base64.b64encode(int(song_id).to_bytes(16, "big")).decode()
        segments = "".join(f"#EXTINF:9.984,\nP{song_id}_seg{i}.mp4\n" for i in range(3))
        return ("#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXT-X-VERSION:7\n#EXT-X-MEDIA-SEQUENCE:0\n"
                "#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-INDEPENDENT-SEGMENTS\n"
                f'#EXT-X-KEY:METHOD=SAMPLE-AES-CTR,URI="{DEFAULT_WIDEVINE_URI}",KEYFORMAT="{WIDEVINE}",'
                'KEYFORMATVERSIONS="1"\n'
                f'#EXT-X-KEY:METHOD=SAMPLE-AES-CTR,URI="data:text/plain;base64,{kid}",KEYFORMAT="{WIDEVINE}",'
                'KEYFORMATVERSIONS="1"\n'
                f'#EXT-X-MAP:URI="P{song_id}_init.mp4"\n{segments}#EXT-X-ENDLIST\n').encode()

    def _lookup(self, h: BaseHTTPRequestHandler, query: dict[str, list[str]]) -> None:
        wanted = (query.get("id") or [""])[0]
        results = []
        for song in self.songs.values():
            a = song["attributes"]
            album_id = song["relationships"]["albums"]["data"][0]["id"]
            if wanted in (song["id"], album_id):
                results.append({"wrapperType": "collection", "collectionType": "Album", "collectionId": int(album_id),
                                "artistName": a["artistName"], "collectionName": a["albumName"], "trackCount": 22,
                                "copyright": "℗ 2011 Naïve", "releaseDate": "2011-10-14T07:00:00Z",
                                "primaryGenreName": "Electronic", "country": "USA"})
                results.append({"wrapperType": "track", "kind": "song", "trackId": int(song["id"]),
                                "trackName": a["name"], "discCount": 1, "discNumber": 1, "trackCount": 22,
                                "trackNumber": a.get("trackNumber", 1)})
                break
        self._json(h, 200, {"resultCount": len(results), "results": results})
