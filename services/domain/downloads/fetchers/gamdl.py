"""gamdl: one Apple Music song (a `/song/<id>` URL, an album URL with `?i=<id>`, or a library upload).

gamdl (async) is driven through its own classes (`AppleMusicApi`, `ItunesApi`, the interfaces and
`AppleMusicDownloader`), built here instead of with their `create*()` helpers: those open private HTTP
clients on hard-coded Apple hosts, while here every request goes through one client whose transport
sends the Apple hosts to configurable base URLs (the real ones by default, a local fake in tests).
Needs a Netscape cookies.txt holding the `media-user-token` of an account with an active subscription.

Overrides (to be moved into settings): APPLE_MUSIC_API_URL (amp-api.music.apple.com),
APPLE_MUSIC_WEB_URL (music.apple.com), APPLE_MUSIC_PLAY_URL (play.itunes.apple.com, webplayback and
DRM license), ITUNES_API_URL (itunes.apple.com, lookups). Stream and cover URLs come from Apple's
answers and are fetched as given.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import warnings
from http.cookiejar import LoadError, MozillaCookieJar
from pathlib import Path
from typing import Any

import httpx
import structlog
from async_lru import AlruCacheLoopResetWarning
from gamdl.api import AppleMusicApi, GamdlApiResponseError, ItunesApi
from gamdl.api.constants import (
    APPLE_MUSIC_ACCOUNT_INFO_API_URI,
    APPLE_MUSIC_AMP_API_URL,
    APPLE_MUSIC_HOMEPAGE_URL,
    APPLE_MUSIC_LICENSE_API_URL,
    ITUNES_LOOKUP_API_URL,
)
from gamdl.downloader import (
    AppleMusicBaseDownloader,
    AppleMusicDownloader,
    AppleMusicMusicVideoDownloader,
    AppleMusicSongDownloader,
    AppleMusicUploadedVideoDownloader,
    DownloadItem,
    DownloadMode,
)
from gamdl.interface import (
    AppleMusicBaseInterface,
    AppleMusicInterface,
    AppleMusicMusicVideoInterface,
    AppleMusicSongInterface,
    AppleMusicUploadedVideoInterface,
    CoverFormat,
    DrmBackend,
    GamdlInterfaceDecryptionNotAvailableError,
    GamdlInterfaceFormatNotAvailableError,
    GamdlInterfaceMediaNotStreamableError,
    SongCodec,
)
from httpx_retries import Retry, RetryTransport

from services.common.settings import get_settings
from services.domain.downloads.fetchers.base import Fetched, FetchError, Fetcher, FetchOptions, Progress, register

NO_COOKIES = "Apple Music downloads need a gamdl cookies file: upload one with PUT /api/admin/cookies/gamdl"
FRESH_COOKIES = "export fresh cookies from music.apple.com while logged in and upload them with PUT /api/admin/cookies/gamdl"

# The hosts gamdl talks to (its constants) -> (setting that overrides it, real base URL)
_ENV_URLS = {
    "api": ("apple_music_api_url", APPLE_MUSIC_AMP_API_URL),
    "web": ("apple_music_web_url", APPLE_MUSIC_HOMEPAGE_URL),
    "play": ("apple_music_play_url", f"https://{httpx.URL(APPLE_MUSIC_LICENSE_API_URL).host}"),
    "itunes": ("itunes_api_url", f"https://{httpx.URL(ITUNES_LOOKUP_API_URL).host}"),
}
# gamdl 2.x names (our settings' default) -> gamdl 3 codecs
_LEGACY_CODECS = {"aac-legacy": "aac-web", "aac-he-legacy": "aac-he-web"}
# rough bit rates, only to turn bytes on disk into a download percentage
_KBPS = {"aac-he": 64, "alac": 1400, "atmos": 768, "ac3": 640}
_MESSAGE_LIMIT = 300

# gamdl's alru caches notice each fetch's new event loop (asyncio.run) and reset themselves, as wanted
warnings.filterwarnings("ignore", category=AlruCacheLoopResetWarning)


def apple_music_urls() -> dict[str, str]:
    """Base URLs for gamdl's hosts: each from its setting (APPLE_MUSIC_API_URL, ...), else Apple's."""
    settings = get_settings()
    return {key: (getattr(settings, field) or default).rstrip("/") for key, (field, default) in _ENV_URLS.items()}


class _AppleRouter(httpx.AsyncBaseTransport):
    """Sends requests for Apple's hosts to the configured base URLs (path prefix kept), the rest as is."""

    def __init__(self, routes: dict[str, str], inner: httpx.AsyncBaseTransport) -> None:
        self._routes = {host: httpx.URL(base) for host, base in routes.items()}
        self._inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        base = self._routes.get(request.url.host) if request.url.scheme == "https" else None
        if base is not None:
            request.url = request.url.copy_with(scheme=base.scheme, host=base.host, port=base.port,
                                                raw_path=base.raw_path.rstrip(b"/") + request.url.raw_path)
            request.headers["host"] = base.netloc.decode("ascii")
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


class _BaseInterface(AppleMusicBaseInterface):
    """gamdl's base interface, with cover art fetched only when it is to be embedded."""

    embed_cover = False

    async def get_cover_bytes(self, cover_url: str) -> bytes | None:
        if not self.embed_cover or not cover_url:
            return None
        return await super().get_cover_bytes(cover_url)


def _quiet_gamdl_logs() -> None:
    """gamdl logs every API answer through structlog at debug; unconfigured, that goes to stdout."""
    if not structlog.is_configured():
        structlog.configure(
            processors=[structlog.processors.KeyValueRenderer(key_order=["event"])],
            wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
            logger_factory=structlog.stdlib.LoggerFactory(),
        )


def song_codecs(value: str) -> list[SongCodec]:
    """`options.gamdl_codec` ("aac-legacy", "aac-web", "alac", or a comma-separated priority list)."""
    codecs = []
    for name in (part.strip().lower() for part in value.split(",")):
        try:
            codec = SongCodec(_LEGACY_CODECS.get(name, name))
        except ValueError:
            codec = SongCodec.ASK
        if codec is SongCodec.ASK:
            valid = ", ".join([*_LEGACY_CODECS, *(c.value for c in SongCodec if c is not SongCodec.ASK)])
            raise FetchError(f"unknown gamdl codec {name!r}: use one of {valid}", permanent=True)
        codecs.append(codec)
    return codecs


def song_id(url: str) -> tuple[str, bool]:
    """(media id, is a library upload) of a song URL; anything else is refused."""
    info = AppleMusicInterface.get_url_info(url.strip())
    if info is None:
        raise FetchError(f"not an Apple Music URL gamdl understands: {url[:200]}", permanent=True)
    if info.sub_id:
        return info.sub_id, False
    if info.type == "song" and info.id:
        return info.id, False
    if info.library_type == "songs" and info.library_id:
        return info.library_id, True
    kind = info.type or f"library {info.library_type}"
    raise FetchError(f"only single Apple Music songs can be downloaded, not a whole {kind} "
                     "(use the song's link, or the album link with ?i=<song id>)", permanent=True)


def media_user_token(cookies_file: Path | None) -> str:
    """The `media-user-token` cookie of music.apple.com in a Netscape cookies.txt (never logged)."""
    if cookies_file is None or not cookies_file.is_file():
        raise FetchError(NO_COOKIES, permanent=True)
    jar = MozillaCookieJar(str(cookies_file))
    try:
        jar.load(ignore_discard=True, ignore_expires=True)
    except (LoadError, OSError, UnicodeDecodeError):
        # LoadError quotes the offending line, which may hold a cookie value: not repeated here
        raise FetchError(f"the gamdl cookies file is not a Netscape cookies.txt: {FRESH_COOKIES}", permanent=True) from None
    for cookie in jar:
        domain = (cookie.domain or "").lstrip(".")
        if cookie.name == "media-user-token" and cookie.value and domain.endswith("music.apple.com"):
            return cookie.value
    raise FetchError('the gamdl cookies file has no "media-user-token" cookie for music.apple.com (log in with an '
                     f"Apple Music subscription first): {FRESH_COOKIES}", permanent=True)


def _apple_detail(content: Any) -> str:
    """A short reason from an Apple error body (AMP `errors`, webplayback `dialog`, license JSON)."""
    if isinstance(content, str):
        try:
            content = json.loads(content)
        except ValueError:
            return content.strip()[:_MESSAGE_LIMIT]
    if isinstance(content, dict) and isinstance(content.get("errors"), list):
        content = content["errors"]
    if isinstance(content, list) and content and isinstance(content[0], dict):
        first = content[0]
        return " - ".join(str(first[k]) for k in ("title", "detail") if first.get(k))[:_MESSAGE_LIMIT]
    if isinstance(content, dict):
        for key in ("message", "explanation", "customerMessage", "failureType", "status", "errorCode"):
            if content.get(key) not in (None, ""):
                return f"{key} {content[key]}" if key in ("status", "errorCode", "failureType") else str(content[key])
    return ""


def _status_of(exc: GamdlApiResponseError) -> int | None:
    if exc.status_code and exc.status_code != 200:
        return exc.status_code
    content = exc.content
    if isinstance(content, list) and content and isinstance(content[0], dict):  # AMP `errors` in a 200
        with contextlib.suppress(TypeError, ValueError):
            return int(content[0].get("status"))
    return None


def _http_error(status: int | None, what: str, detail: str = "") -> FetchError:
    """What an Apple HTTP status means for a retry. `status` None: no answer (network)."""
    why = f": {detail}" if detail else ""
    if status is None:
        return FetchError(f"Apple Music could not be reached for {what}{why}", permanent=False)
    if status in (401, 403):
        return FetchError(f"Apple Music refused {what} (HTTP {status}){why}: the media-user-token in the gamdl "
                          f"cookies file is expired or invalid, or the account lacks access; {FRESH_COOKIES}",
                          permanent=True)
    if status == 404:
        return FetchError(f"Apple Music has no {what} (HTTP 404){why}", permanent=True)
    if status in (408, 429) or status >= 500:
        return FetchError(f"Apple Music failed on {what} (HTTP {status}){why}; try again later", permanent=False)
    return FetchError(f"Apple Music rejected {what} (HTTP {status}){why}", permanent=True)


def _gamdl_error(exc: BaseException, media_id: str, storefront: str | None = None) -> FetchError:
    """A gamdl failure (raised, or left in `media.error` by its interface) as a FetchError."""
    if isinstance(exc, FetchError):
        return exc
    if isinstance(exc, GamdlApiResponseError):
        status, detail = _status_of(exc), _apple_detail(exc.content)
        if exc.message.startswith("Error fetching license"):
            if status is None or status in (401, 403, 404):
                return FetchError(
                    f"Apple Music refused the DRM license for song {media_id}"
                    f"{f' ({detail})' if detail else ''}: decrypting needs Apple's license server to accept "
                    "gamdl's Widevine device for a subscribed account (the device may be revoked, or the "
                    "account cannot play this song)", permanent=True)
            return _http_error(status, f"the DRM license of song {media_id}", detail)
        if exc.message.startswith("Error fetching webplayback"):
            if status is None and exc.content is not None:  # a `dialog`: Apple says this account can't play it
                return FetchError(f"Apple Music will not stream song {media_id} to this account: "
                                  f"{detail or 'playback refused'}", permanent=True)
            return _http_error(status, f"the stream of song {media_id} (webplayback)", detail)
        where = f" in storefront {storefront!r}" if storefront else ""
        return _http_error(status, f"song {media_id}{where}", detail)
    if isinstance(exc, GamdlInterfaceMediaNotStreamableError):
        return FetchError(f"song {media_id} cannot be streamed{f' in storefront {storefront!r}' if storefront else ''}",
                          permanent=True)
    if isinstance(exc, GamdlInterfaceFormatNotAvailableError):
        return FetchError(f"{exc} (change the gamdl codec setting)", permanent=True)
    if isinstance(exc, GamdlInterfaceDecryptionNotAvailableError):
        return FetchError(f"song {media_id} has no Widevine key gamdl can use", permanent=True)
    if isinstance(exc, httpx.HTTPStatusError):
        return _http_error(exc.response.status_code, f"a stream file of song {media_id}")
    if isinstance(exc, httpx.TransportError):
        return FetchError(f"Apple Music could not be reached ({type(exc).__name__})", permanent=False)
    return FetchError(f"gamdl failed on song {media_id}: {type(exc).__name__}: {str(exc)[:_MESSAGE_LIMIT]}",
                      permanent=False)


def _bytes_of(folder: Path, prefix: str) -> int:
    """Bytes in the files under `folder` whose names start with `prefix` (yt-dlp's .part, fragments)."""
    total = 0
    for path in folder.rglob(f"{prefix}*"):
        with contextlib.suppress(OSError):
            total += path.stat().st_size
    return total


@register
class GamdlFetcher(Fetcher):
    name = "gamdl"

    def __init__(self, *, api_base_url: str | None = None, web_base_url: str | None = None,
                 play_base_url: str | None = None, itunes_base_url: str | None = None,
                 language: str = "en-US", retries: int = 2, poll_seconds: float = 0.25) -> None:
        urls = apple_music_urls()
        self.api_base_url = (api_base_url or urls["api"]).rstrip("/")
        self.web_base_url = (web_base_url or urls["web"]).rstrip("/")
        self.play_base_url = (play_base_url or urls["play"]).rstrip("/")
        self.itunes_base_url = (itunes_base_url or urls["itunes"]).rstrip("/")
        self.language = language
        self.retries = retries
        self.poll_seconds = poll_seconds

    # -- entry point (sync) ------------------------------------------------------------------------
    def fetch(self, *, url: str, workdir: Path, options: FetchOptions, progress: Progress) -> Fetched:
        _quiet_gamdl_logs()
        if options.check_url is not None:
            options.check_url(url)
        media_id, _ = song_id(url)
        codecs = song_codecs(options.gamdl_codec)
        token = media_user_token(options.cookies_file)
        try:
            return asyncio.run(self._fetch(url=url, media_id=media_id, codecs=codecs,
                                           user_token=token, workdir=workdir, options=options, progress=progress))
        except FetchError:
            raise
        except Exception as exc:  # anything gamdl or httpx raised outside a media item
            raise _gamdl_error(exc, media_id) from exc

    # -- the parts ---------------------------------------------------------------------------------
    def _client(self, options: FetchOptions, **kwargs: Any) -> httpx.AsyncClient:
        hosts = {
            httpx.URL(APPLE_MUSIC_AMP_API_URL).host: self.api_base_url,
            httpx.URL(APPLE_MUSIC_HOMEPAGE_URL).host: self.web_base_url,
            httpx.URL(APPLE_MUSIC_LICENSE_API_URL).host: self.play_base_url,
            httpx.URL(ITUNES_LOOKUP_API_URL).host: self.itunes_base_url,
        }
        retry = Retry(total=self.retries, backoff_factor=0.5, max_backoff_wait=10, total_timeout=30,
                      status_forcelist=[429, 500, 502, 503, 504])
        transport = RetryTransport(transport=_AppleRouter(hosts, httpx.AsyncHTTPTransport()), retry=retry)
        return httpx.AsyncClient(transport=transport, timeout=httpx.Timeout(options.timeout_seconds), **kwargs)

    async def _page(self, client: httpx.AsyncClient, path: str, what: str) -> str:
        try:
            response = await client.get(f"{APPLE_MUSIC_HOMEPAGE_URL}/{path}", follow_redirects=True)
        except httpx.TransportError as exc:
            raise FetchError(f"Apple Music could not be reached for {what} ({type(exc).__name__})",
                             permanent=False) from exc
        if response.status_code == 429 or response.status_code >= 500:
            raise _http_error(response.status_code, what)
        if response.status_code != 200:
            raise FetchError(f"Apple Music answered HTTP {response.status_code} for {what}: the web player "
                             "changed, gamdl may need an update", permanent=True)
        return response.text

    async def _developer_token(self, client: httpx.AsyncClient) -> str:
        """The web player's developer token, scraped as gamdl's `AppleMusicApi.get_token` does."""
        home = await self._page(client, "", "the Apple Music web player")
        script = re.search(r"/(assets/index[~-][^/\"]+\.js)", home)
        if not script:
            raise FetchError("no index.js in the Apple Music web player page: the web player changed, gamdl may "
                             "need an update", permanent=True)
        source = await self._page(client, script.group(1), "the web player's script")
        token = re.search(r'"(eyJ[A-Za-z0-9\-_]+\.eyJ[A-Za-z0-9\-_]+\.[A-Za-z0-9\-_]+)"', source)
        if not token:
            raise FetchError("no developer token in the Apple Music web player's script: the web player changed, "
                             "gamdl may need an update", permanent=True)
        return token.group(1)

    async def _account(self, client: httpx.AsyncClient, token: str, user_token: str) -> dict[str, Any]:
        """`/v1/me/account?meta=subscription`, as gamdl's `AppleMusicApi.get_account_info` asks it."""
        what = "the account of the gamdl cookies file"
        try:
            response = await client.get(
                APPLE_MUSIC_AMP_API_URL + APPLE_MUSIC_ACCOUNT_INFO_API_URI, params={"meta": "subscription"},
                headers={"authorization": f"Bearer {token}", "origin": APPLE_MUSIC_HOMEPAGE_URL,
                         "cookie": f"media-user-token={user_token}"})
        except httpx.TransportError as exc:
            raise FetchError(f"Apple Music could not be reached for {what} ({type(exc).__name__})",
                             permanent=False) from exc
        if response.status_code != 200:
            raise _http_error(response.status_code, what, _apple_detail(response.text))
        try:
            account = response.json()
            account["meta"]["subscription"]["storefront"]
        except (ValueError, KeyError, TypeError):
            raise FetchError(f"unexpected answer from Apple Music for {what}", permanent=False) from None
        return account

    def _downloader(self, api: AppleMusicApi, itunes: ItunesApi, codecs: list[SongCodec], workdir: Path,
                    options: FetchOptions) -> AppleMusicDownloader:
        base = _BaseInterface(apple_music_api=api, itunes_api=itunes, wrapper_api=None,
                              cover_format=CoverFormat.JPG, cover_size=1200,
                              cdm=AppleMusicBaseInterface.create_cdm(drm_backend=DrmBackend.WIDEVINE),
                              drm_backend=DrmBackend.WIDEVINE)
        base.embed_cover = options.gamdl_cover
        interface = AppleMusicInterface(
            song=AppleMusicSongInterface(base=base, codec_priority=codecs),
            music_video=AppleMusicMusicVideoInterface(base=base),
            uploaded_video=AppleMusicUploadedVideoInterface(base=base),
        )
        files = AppleMusicBaseDownloader(interface=interface, output_path=str(workdir), temp_path=str(workdir),
                                         download_mode=DownloadMode.YTDLP, silent=True)
        return AppleMusicDownloader(
            song=AppleMusicSongDownloader(base=files),
            music_video=AppleMusicMusicVideoDownloader(base=files),
            uploaded_video=AppleMusicUploadedVideoDownloader(base=files),
            save_cover=False, no_synced_lyrics=True,
        )

    async def _fetch(self, *, url: str, media_id: str, codecs: list[SongCodec], user_token: str,
                     workdir: Path, options: FetchOptions, progress: Progress) -> Fetched:
        async with self._client(options) as client, self._client(options, follow_redirects=True) as lookups:
            progress(0)
            token = await self._developer_token(client)
            account = await self._account(client, token, user_token)
            storefront = account["meta"]["subscription"]["storefront"]
            # what AppleMusicApi.create() sets on its own client
            client.headers.update({"authorization": f"Bearer {token}", "origin": APPLE_MUSIC_HOMEPAGE_URL,
                                   "cookie": f"media-user-token={user_token}"})
            api = AppleMusicApi(client=client, token=token, storefront=storefront, language=self.language,
                                media_user_token=user_token, account_info=account)
            if not api.active_subscription:
                raise FetchError("the Apple Music account of the gamdl cookies file has no active subscription: "
                                 f"{FRESH_COOKIES}", permanent=True)
            # storefront_id only serves music-video pages, never asked for here
            itunes = ItunesApi(client=lookups, storefront=storefront, language=self.language, storefront_id=143441)
            downloader = self._downloader(api, itunes, codecs, workdir, options)
            progress(5)

            item: DownloadItem | None = None
            title: str | None = None
            duration: float | None = None
            async with contextlib.aclosing(downloader.get_download_item_from_url(url)) as items:
                async for candidate in items:
                    media = candidate.media
                    if media.error is not None:
                        raise _gamdl_error(media.error, media_id, storefront) from media.error
                    attributes = (media.media_metadata or {}).get("attributes", {})
                    title = attributes.get("name") or title
                    if attributes.get("durationInMillis"):
                        duration = attributes["durationInMillis"] / 1000
                    if media.partial:  # metadata only: check it before asking for the stream
                        limit = options.max_duration_seconds
                        if limit and duration and duration > limit:
                            raise FetchError(f"the song is {duration / 60:.1f} min long, over the "
                                             f"{limit / 60:.1f} min limit", permanent=True)
                        progress(10)
                        continue
                    item = candidate
                    break
            if item is None or item.media.stream_info is None:
                raise FetchError(f"gamdl found no stream for song {media_id}", permanent=False)
            progress(15)
            return await self._download(downloader, item, url=url, title=title, duration=duration, workdir=workdir,
                                        options=options, progress=progress)

    async def _download(self, downloader: AppleMusicDownloader, item: DownloadItem, *, url: str, title: str | None,
                        duration: float | None, workdir: Path, options: FetchOptions, progress: Progress) -> Fetched:
        # Fixed names: nothing from Apple's metadata becomes a path
        item.final_path = str(workdir / "source.m4a")
        item.cover_path = item.synced_lyrics_path = item.playlist_file_path = None
        audio = item.media.stream_info.audio_track
        target = Path(item.staged_path if audio.drm_free else downloader.base.get_temp_path(
            item.media.media_metadata["id"], item.uuid_, "encrypted", ".m4a")).name
        codec = downloader.base.interface.song.codec_priority[0].value
        kbps = next((rate for key, rate in _KBPS.items() if codec.startswith(key)), 256)
        expected = duration * kbps * 125 if duration else None

        task = asyncio.ensure_future(downloader.download(item))
        last = 15
        try:
            while not task.done():
                await asyncio.wait({task}, timeout=self.poll_seconds)
                size = _bytes_of(workdir, target)
                if size > options.max_bytes:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await task
                    raise FetchError(f"the download passed the {options.max_bytes} bytes limit", permanent=True)
                if expected:
                    percent = 15 + int(80 * min(1.0, size / expected))
                    if percent > last:
                        last = percent
                        progress(percent)
            exc = task.exception()
            if exc is not None:
                raise _gamdl_error(exc, item.media.media_id) from exc
        finally:
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

        path = Path(item.final_path)
        if not path.is_file():
            raise FetchError(f"gamdl wrote no file for song {item.media.media_id}", permanent=False)
        if path.stat().st_size > options.max_bytes:
            path.unlink()
            raise FetchError(f"the download passed the {options.max_bytes} bytes limit", permanent=True)
        progress(100)
        return Fetched(path=path, url=url, title=title, duration_seconds=duration)
