"""yt-dlp: a direct link (YouTube, SoundCloud, Bandcamp, a plain file, ...) and, for a track with no
link, a YouTube search by artist + title whose candidate is chosen by duration and title."""

from __future__ import annotations

import difflib
import re
import tempfile
from pathlib import Path
from typing import Any

from services.domain.downloads.fetchers.base import Fetched, FetchError, Fetcher, FetchOptions, Progress, register

SEARCH_CANDIDATES = 5
# yt-dlp messages that retrying cannot change
_PERMANENT = re.compile(
    r"HTTP Error (4\d\d)|Unsupported URL|Video unavailable|Private video|not available|removed|"
    r"Requested format is not available|No video formats|copyright|Sign in to confirm your age|"
    r"larger than max-filesize|does not pass filter|refused:",
    re.IGNORECASE,
)


class _TooLarge(Exception):
    pass


def _base_options(options: FetchOptions, workdir: Path) -> dict[str, Any]:
    opts: dict[str, Any] = {
        "quiet": True,
        "no_warnings": True,
        "noprogress": True,
        "noplaylist": True,
        "playlist_items": "1",
        "outtmpl": str(workdir / "source.%(ext)s"),
        "format": options.ytdlp_format,
        "socket_timeout": options.timeout_seconds,
        "retries": 1,  # the job retries with backoff; yt-dlp's own 10 retries would hide a stall
        "fragment_retries": 1,
        "overwrites": True,
        "cachedir": False,
    }
    if options.cookies_file is not None:
        opts["cookiefile"] = str(options.cookies_file)
    if options.max_duration_seconds:
        limit = options.max_duration_seconds

        def too_long(info: dict[str, Any], *, incomplete: bool = False) -> str | None:
            duration = info.get("duration")
            if duration and duration > limit:
                return f"the media is {duration / 60:.0f} min long, over the {limit / 60:.0f} min limit"
            return None

        opts["match_filter"] = too_long
    return opts


def _error(exc: BaseException) -> FetchError:
    message = re.sub(r"^ERROR:\s*", "", str(exc)).strip() or type(exc).__name__
    message = re.sub(r"\x1b\[[0-9;]*m", "", message)[:400]
    return FetchError(message, permanent=bool(_PERMANENT.search(message)))


@register
class YtDlpFetcher(Fetcher):
    name = "yt-dlp"

    def fetch(self, *, url: str, workdir: Path, options: FetchOptions, progress: Progress) -> Fetched:
        import yt_dlp

        opts = _base_options(options, workdir)
        state: dict[str, Any] = {"percent": -1}

        def hook(status: dict[str, Any]) -> None:
            done = status.get("downloaded_bytes") or 0
            if done > options.max_bytes or (status.get("total_bytes") or 0) > options.max_bytes:
                raise _TooLarge(f"the download is larger than {options.max_bytes // (1024 * 1024)} MB")
            total = status.get("total_bytes") or status.get("total_bytes_estimate")
            if status.get("status") == "downloading" and total:
                percent = min(99, int(done * 100 / total))
                if percent != state["percent"]:
                    state["percent"] = percent
                    progress(percent)

        opts["progress_hooks"] = [hook]
        try:
            with yt_dlp.YoutubeDL(opts) as ydl:
                info = ydl.extract_info(url, download=True)
        except _TooLarge as exc:
            raise FetchError(str(exc), permanent=True) from None
        except Exception as exc:  # yt-dlp wraps everything in DownloadError; the hook's error too
            cause = exc
            while cause.__context__ is not None and not isinstance(cause, _TooLarge):
                cause = cause.__context__
            if isinstance(cause, _TooLarge):
                raise FetchError(str(cause), permanent=True) from None
            raise _error(exc) from None
        if info is None:
            raise FetchError("the media was skipped (over the duration limit)", permanent=True)
        if info.get("_type") == "playlist":
            entries = [e for e in info.get("entries") or [] if e]
            if not entries:
                raise FetchError("the URL is a playlist with nothing to download", permanent=True)
            info = entries[0]
        files = [p for p in workdir.iterdir() if p.is_file() and p.name.startswith("source.")
                 and not p.name.endswith((".part", ".ytdl"))]
        if not files:
            raise FetchError("yt-dlp finished without writing a file", permanent=False)
        progress(100)
        return Fetched(path=max(files, key=lambda p: p.stat().st_size), url=info.get("webpage_url") or url,
                       title=info.get("title"), duration_seconds=info.get("duration"))


def _norm(text: str) -> str:
    text = re.sub(r"\((official|video|audio|lyrics?|hd|hq|visuali[sz]er)[^)]*\)|\[[^\]]*\]", " ", text.lower())
    return re.sub(r"[^a-z0-9]+", " ", text).strip()


def choose_candidate(entries: list[dict[str, Any]], *, artist: str | None, title: str,
                     duration: float | None) -> tuple[dict[str, Any], str]:
    """The search result most likely to be the track, and why, in words.

    Score: title (artist + title against the result's title and channel) counts for 60%, duration
    for 40% (full marks within 3 s, nothing beyond 30 s off); unknown durations score half."""
    wanted = _norm(f"{artist or ''} {title}")
    scored: list[tuple[float, dict[str, Any], float, float | None]] = []
    for entry in entries:
        seen = _norm(f"{entry.get('channel') or entry.get('uploader') or ''} {entry.get('title') or ''}")
        text = difflib.SequenceMatcher(None, wanted, seen).ratio()
        in_title = difflib.SequenceMatcher(None, _norm(title), _norm(entry.get("title") or "")).ratio()
        text = max(text, in_title)
        length = entry.get("duration")
        if duration and length:
            delta = abs(float(length) - duration)
            length_score = 1.0 if delta <= 3 else max(0.0, 1 - (delta - 3) / 27)
        else:
            delta, length_score = None, 0.5
        scored.append((0.6 * text + 0.4 * length_score, entry, text, delta))
    if not scored:
        raise FetchError(f"YouTube search found nothing for {artist or ''} {title}".strip(), permanent=True)
    scored.sort(key=lambda s: s[0], reverse=True)
    score, best, text, delta = scored[0]
    if score < 0.45:
        raise FetchError(f"no search result looks like the track (best: {best.get('title')!r}, score "
                         f"{score:.2f})", permanent=True)
    duration_words = "duration unknown" if delta is None else f"duration {delta:.0f} s off"
    note = (f"YouTube search {artist or ''} – {title}: chose {best.get('title')!r} (title match {text:.2f}, "
            f"{duration_words}, score {score:.2f}) of {len(scored)} results")
    return best, note


def search(text: str, *, count: int = SEARCH_CANDIDATES, options: FetchOptions,
           workdir: Path | None = None) -> list[dict[str, Any]]:
    """yt-dlp's YouTube search (`ytsearchN:`, flat): up to `count` entries (id, url, title, channel,
    duration), nothing downloaded. Also the enrichment's YouTube source without an API key."""
    import yt_dlp

    opts = {**_base_options(options, workdir or Path(tempfile.gettempdir())), "extract_flat": "in_playlist",
            "noplaylist": False}
    opts.pop("playlist_items")
    opts.pop("match_filter", None)
    try:
        with yt_dlp.YoutubeDL(opts) as ydl:
            found = ydl.extract_info(f"ytsearch{max(1, count)}:{text}", download=False) or {}
    except Exception as exc:
        raise _error(exc) from None
    return [e for e in found.get("entries") or [] if e and (e.get("url") or e.get("id"))]


@register
class YouTubeSearchFetcher(Fetcher):
    """`url` is the search text ("artist title"); `expected` carries the track for the choice."""

    name = "youtube-search"

    def __init__(self) -> None:
        self.artist: str | None = None
        self.title: str = ""
        self.duration: float | None = None

    def for_track(self, *, artist: str | None, title: str, duration: float | None) -> YouTubeSearchFetcher:
        self.artist, self.title, self.duration = artist, title, duration
        return self

    def fetch(self, *, url: str, workdir: Path, options: FetchOptions, progress: Progress) -> Fetched:
        entries = search(url, count=SEARCH_CANDIDATES, options=options, workdir=workdir)
        best, note = choose_candidate(entries, artist=self.artist, title=self.title, duration=self.duration)
        target = best.get("url") or f"https://www.youtube.com/watch?v={best['id']}"
        fetched = YtDlpFetcher().fetch(url=target, workdir=workdir, options=options, progress=progress)
        return fetched.model_copy(update={"note": note})
