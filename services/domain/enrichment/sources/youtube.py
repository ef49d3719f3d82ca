"""YouTube search: fills `youtube_url` (https://www.youtube.com/watch?v=ID).

With YOUTUBE_API_KEY, the Data API v3 (https://developers.google.com/youtube/v3/docs):
`GET /search?part=snippet&type=video&videoCategoryId=10&q=...&maxResults=` (100 quota units) then
`GET /videos?part=contentDetails&id=...` (1 unit) for the ISO-8601 durations. The key travels in the
`X-Goog-Api-Key` header, which Google's APIs accept in place of `?key=`, so it never appears in a URL
(httpx logs URLs). 403 quotaExceeded / dailyLimitExceeded is a `CatalogQuotaExceeded` saying when it
resets; 403 rateLimitExceeded is retried; an invalid key is a `CatalogAuthError`.

Without a key, yt-dlp's own search (`ytsearchN:`, flat, nothing downloaded: the same function the
download worker's YouTube search uses, `downloads/fetchers/ytdlp.search`).

YouTube has no artist field: a title "Artist - Title" is split, else the channel ("... - Topic" for
YouTube Music's auto-generated channels) is taken as the artist. ISRCs are not searchable here.
"""

from __future__ import annotations

import html
import importlib.util
import re
import time
from collections.abc import Callable
from typing import Any

import httpx

from services.common.settings import Settings
from services.domain.enrichment.models import Candidate, TrackQuery
from services.domain.enrichment.sources.base import (
    DEFAULT_LIMIT,
    CatalogAuthError,
    CatalogError,
    CatalogMalformed,
    CatalogQuotaExceeded,
    CatalogSource,
    register,
)
from services.domain.enrichment.sources.http import CatalogHttp, HttpTuning, Transient, platform_message

API_URL = "https://www.googleapis.com/youtube/v3"
MUSIC_CATEGORY = "10"
MAX_LIMIT = 50
WATCH_URL = "https://www.youtube.com/watch?v={}"

_ISO_DURATION = re.compile(
    r"^P(?:(?P<w>\d+)W)?(?:(?P<d>\d+)D)?(?:T(?:(?P<h>\d+)H)?(?:(?P<m>\d+)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?$")
_DASH = re.compile(r"\s+[-–—]\s+")

# yt-dlp's search: (text, count, timeout seconds) -> flat entries
YtSearch = Callable[[str, int, float], list[dict[str, Any]]]


def iso8601_seconds(value: str | None) -> float | None:
    """"PT4M13S" -> 253.0; "P0D" (a live stream) and unreadable values -> None."""
    match = _ISO_DURATION.match(value or "")
    if not match or value in ("P", "PT"):
        return None
    parts = {k: float(v) if v else 0.0 for k, v in match.groupdict().items()}
    seconds = parts["w"] * 604800 + parts["d"] * 86400 + parts["h"] * 3600 + parts["m"] * 60 + parts["s"]
    return seconds or None


def split_title(title: str, channel: str | None) -> tuple[str, str]:
    """(artist, title) from a video title and its channel."""
    pieces = _DASH.split(title, maxsplit=1)
    if len(pieces) == 2 and pieces[0].strip() and pieces[1].strip():
        return pieces[0].strip(), pieces[1].strip()
    artist = re.sub(r"\s*-\s*Topic$", "", channel or "").strip()
    return artist, title.strip()


def _ytdlp_search(text: str, count: int, timeout_seconds: float) -> list[dict[str, Any]]:
    from services.domain.downloads.fetchers.base import FetchError, FetchOptions
    from services.domain.downloads.fetchers.ytdlp import search

    options = FetchOptions(max_bytes=1, max_duration_seconds=0, timeout_seconds=timeout_seconds)
    try:
        return search(text, count=count, options=options)
    except FetchError as exc:
        raise CatalogError(f"YouTube search with yt-dlp failed: {exc}", source="youtube") from None


@register
class YouTubeSource(CatalogSource):
    name = "youtube"
    label = "YouTube"
    url_field = "youtube_url"

    def __init__(
        self,
        *,
        api_key: str | None,
        api_url: str = API_URL,
        tuning: HttpTuning | None = None,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
        ytsearch: YtSearch | None = None,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self._api_key = api_key or None
        self.http = CatalogHttp(source=self.name, label=self.label, tuning=tuning, sleep=sleep, transport=transport)
        self.http.add_secret(self._api_key)
        self.ytsearch = ytsearch or _ytdlp_search

    @property
    def mode(self) -> str:
        return "api" if self._api_key else "yt-dlp"

    @classmethod
    def configured(cls, settings: Settings) -> tuple[bool, str]:
        key = settings.youtube_api_key.get_secret_value() if settings.youtube_api_key else ""
        if key:
            return True, "YouTube Data API v3 search with YOUTUBE_API_KEY."
        if importlib.util.find_spec("yt_dlp") is not None:
            return True, "YOUTUBE_API_KEY is not set: searching YouTube with yt-dlp instead (slower, no quota)."
        return False, ("YouTube is not configured: set YOUTUBE_API_KEY (a YouTube Data API v3 key), or install "
                       "yt-dlp (the worker's extra) to search without one.")

    @classmethod
    def from_settings(cls, settings: Settings, **kwargs: Any) -> YouTubeSource:
        key = settings.youtube_api_key.get_secret_value() if settings.youtube_api_key else None
        return cls(api_key=key, api_url=settings.youtube_api_url, tuning=HttpTuning.from_settings(settings),
                   **kwargs)

    def close(self) -> None:
        self.http.close()

    def search(self, query: TrackQuery, *, limit: int = DEFAULT_LIMIT) -> list[Candidate]:
        limit = max(1, min(int(limit), MAX_LIMIT))
        text = " ".join(part for part in (query.artist, query.title) if part).strip()
        if not text:
            return []
        if self._api_key:
            return self._api_search(text, limit)
        with self.http.semaphore:
            entries = self.ytsearch(text, limit, self.http.tuning.timeout_seconds)
        return self._from_ytdlp(entries)[:limit]

    # -- Data API ----------------------------------------------------------------------------------

    def _google_errors(self, response: httpx.Response) -> Exception | None:
        try:
            body = response.json()
        except (ValueError, UnicodeDecodeError):
            return None
        error = body.get("error") if isinstance(body, dict) else None
        if not isinstance(error, dict):
            return None
        reasons = {e.get("reason") for e in error.get("errors") or [] if isinstance(e, dict)}
        reasons |= {d.get("reason") for d in error.get("details") or [] if isinstance(d, dict)}
        status = response.status_code
        if reasons & {"quotaExceeded", "dailyLimitExceeded"}:
            return self.http.error(CatalogQuotaExceeded, "YouTube Data API quota is used up for today (quotaExceeded); "
                                   "searches work again after the daily reset at midnight Pacific time",
                                   status=status)
        if reasons & {"rateLimitExceeded", "userRateLimitExceeded"}:
            return Transient(f"rate limited ({status} rateLimitExceeded)", status=status)
        if reasons & {"keyInvalid", "API_KEY_INVALID", "keyExpired", "API_KEY_EXPIRED"}:
            message = platform_message(response)
            return self.http.error(CatalogAuthError, f"YouTube refused the API key ({status}): check YOUTUBE_API_KEY"
                                   + (f" ({self.http.redact(message)})" if message else ""), status=status)
        return None

    def _api_get(self, path: str, params: dict[str, Any]) -> dict[str, Any]:
        return self.http.request_json("GET", f"{self.api_url}{path}", params=params,
                                      headers={"X-Goog-Api-Key": self._api_key or ""},
                                      error_hook=self._google_errors)

    def _api_search(self, text: str, limit: int) -> list[Candidate]:
        body = self._api_get("/search", {"part": "snippet", "type": "video", "videoCategoryId": MUSIC_CATEGORY,
                                         "q": text, "maxResults": limit})
        items = body.get("items")
        if not isinstance(items, list):
            raise self.http.error(CatalogMalformed, "YouTube: the search answer has no 'items' list")
        found: list[tuple[str, dict[str, Any]]] = []
        for item in items:
            video_id = ((item.get("id") or {}) if isinstance(item, dict) else {}).get("videoId")
            snippet = item.get("snippet") if isinstance(item, dict) else None
            if isinstance(video_id, str) and video_id and isinstance(snippet, dict) and snippet.get("title"):
                found.append((video_id, snippet))
        if not found:
            return []
        details = self._api_get("/videos", {"part": "contentDetails", "id": ",".join(v for v, _ in found),
                                            "maxResults": len(found)})
        videos = details.get("items")
        if not isinstance(videos, list):
            raise self.http.error(CatalogMalformed, "YouTube: the videos answer has no 'items' list")
        durations = {v.get("id"): iso8601_seconds((v.get("contentDetails") or {}).get("duration"))
                     for v in videos if isinstance(v, dict)}
        out = []
        for video_id, snippet in found[:limit]:
            artist, title = split_title(html.unescape(str(snippet["title"])),
                                        html.unescape(str(snippet.get("channelTitle") or "")))
            out.append(Candidate(source=self.name, url=WATCH_URL.format(video_id), external_id=video_id,
                                 artist=artist, title=title, duration_seconds=durations.get(video_id)))
        return out

    # -- yt-dlp ------------------------------------------------------------------------------------

    def _from_ytdlp(self, entries: list[dict[str, Any]]) -> list[Candidate]:
        out = []
        for entry in entries:
            video_id = entry.get("id")
            if not isinstance(video_id, str) or not video_id or not entry.get("title"):
                continue
            artist, title = split_title(str(entry["title"]), entry.get("channel") or entry.get("uploader"))
            duration = entry.get("duration")
            out.append(Candidate(source=self.name, url=WATCH_URL.format(video_id), external_id=video_id,
                                 artist=artist, title=title,
                                 duration_seconds=float(duration) if isinstance(duration, int | float) else None))
        return out
