"""Download jobs (queue "download"): fetch a track's audio, convert it, prove it decodes, analyse it,
and move it into AUDIO_DIR/library_<id>/<track id>.<ext>, reporting each stage.

Work happens in AUDIO_DIR/.incoming/<job id>/ (same file system, so the final move is atomic and
a killed worker leaves nothing in the library folders); that folder is removed on every path and
swept on the next run of the same job.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from redis.exceptions import RedisError
from rq import Retry
from rq.job import Job

from services.common.audio_files import FILE_MODE, private_dir, resolve_inside
from services.common.db import get_redis, session_scope
from services.common.models import Track
from services.common.settings import Settings, get_settings
from services.domain import jobs
from services.domain.analysis.audio import destination, replace_audio
from services.domain.downloads import media
from services.domain.downloads.fetchers.base import Fetched, FetchError, FetchOptions, fetcher
from services.domain.downloads.urls import address_guard, host_allowed

log = logging.getLogger(__name__)

JOB_TIMEOUT = 60 * 60
INCOMING = ".incoming"
APPLE_HOSTS = ["music.apple.com", "itunes.apple.com"]
COOKIE_FILES = {"gamdl": "gamdl-cookies.txt", "ytdlp": "ytdlp-cookies.txt"}


class DownloadFailed(RuntimeError):
    """The download cannot succeed as things are: the message says why (not retried)."""


def cookies_file(settings: Settings, tool: str) -> Path | None:
    path = settings.resolved_cookies_dir / COOKIE_FILES[tool]
    return path if path.is_file() else None


def plan(track: Track, url: str | None, settings: Settings) -> tuple[str, str, str]:
    """(fetcher name, URL or search text, why) for a track and an optional URL."""
    if url:
        from urllib.parse import urlsplit

        host = urlsplit(url).hostname or ""
        if host_allowed(host, APPLE_HOSTS):
            return "gamdl", url, "the given Apple Music link"
        return "yt-dlp", url, "the given link"
    has_gamdl_cookies = cookies_file(settings, "gamdl") is not None
    if track.apple_music_url and has_gamdl_cookies:
        return "gamdl", track.apple_music_url, "the track's Apple Music link"
    for field in ("youtube_url", "soundcloud_url"):
        link = getattr(track, field)
        if link:
            return "yt-dlp", link, f"the track's {field.removesuffix('_url').replace('_', ' ')} link"
    why = "no link" if not track.apple_music_url else "an Apple Music link but no gamdl cookies"
    return "youtube-search", " ".join(filter(None, [track.artist, track.title])), f"{why}: searched YouTube"


def enqueue_download(*, track: Track, url: str | None, user_id: int | None) -> tuple[Job, bool]:
    """Queue a download unless one is queued or running for the track. Returns (job, created)."""
    settings = get_settings()
    live = jobs.live_track_job(kind="download", track_pk=track.id)
    if live is not None:
        return live, False
    delays = settings.download_retry_delay_list
    job = jobs.enqueue(
        jobs.DOWNLOAD_QUEUE, download_track_job, track.id, url, kind="download", library_id=track.library_id,
        track_pk=track.id, user_id=user_id, job_timeout=JOB_TIMEOUT, result_ttl=7 * 86400, failure_ttl=7 * 86400,
        retry=Retry(max=settings.download_retries, interval=delays) if settings.download_retries else None,
        meta={"url": url, "heartbeat": True},
        description=f"Download {track.artist or 'unknown'} – {track.title}",
    )
    jobs.remember_track_job(kind="download", track_pk=track.id, job=job)
    return job, True


def incoming_dir(settings: Settings) -> Path:
    return settings.resolved_audio_dir / INCOMING


def sweep_incoming(settings: Settings, *, keep: str | None = None) -> int:
    """Remove work folders of jobs that are not running (a killed worker's leftovers)."""
    root = incoming_dir(settings)
    if not root.is_dir():
        return 0
    removed = 0
    for folder in root.iterdir():
        if folder.name == keep:
            continue
        job = jobs.fetch_job(folder.name)
        running = job is not None and jobs.status_of(job) == "started" and _alive(folder.name)
        if not running and time.time() - folder.stat().st_mtime > jobs.ALIVE_TTL:
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
    return removed


def _alive(job_id: str) -> bool:
    try:
        return bool(get_redis().exists(jobs.ALIVE_KEY.format(job_id)))
    except RedisError:
        return True


def fetch_options(settings: Settings, tool: str) -> FetchOptions:
    return FetchOptions(
        cookies_file=cookies_file(settings, "gamdl" if tool == "gamdl" else "ytdlp"),
        max_bytes=settings.download_max_mb * 1024 * 1024,
        max_duration_seconds=settings.download_max_duration_minutes * 60,
        timeout_seconds=settings.download_timeout_seconds,
        ytdlp_format=settings.ytdlp_format,
        gamdl_codec=settings.gamdl_codec,
        gamdl_cover=settings.gamdl_cover,
    )


def _fail(reason: str) -> DownloadFailed:
    jobs.stop_retries()
    jobs.report_progress(stage="failed", error=reason)
    return DownloadFailed(reason)


def _fetch(track: Track, url: str | None, settings: Settings, workdir: Path) -> tuple[Fetched, str, str]:
    name, target, why = plan(track, url, settings)
    jobs.report_progress(stage="downloading", percent=0, method=name, source=target, why=why)
    tool = fetcher(name)
    if name == "youtube-search":
        tool.for_track(artist=track.artist, title=track.title, duration=track.duration_seconds)  # type: ignore[attr-defined]
    last = {"at": 0.0}

    def progress(percent: int) -> None:
        now = time.monotonic()
        if percent >= 100 or now - last["at"] >= 0.5:  # at most two meta writes a second
            last["at"] = now
            jobs.report_progress(stage="downloading", percent=percent)

    with address_guard(settings) as refused:
        try:
            fetched = tool.fetch(url=target, workdir=workdir, options=fetch_options(settings, name),
                                 progress=progress)
        except FetchError:
            if refused:
                raise FetchError(f"refused: {refused[0]} is a private or local address", permanent=True) from None
            raise
    return fetched, name, why


def _analyse(rel: str, settings: Settings):
    """The analysis of the file, or None with the reason (then an analysis job is queued later)."""
    from services.domain.analysis.client import AnalysisClient, AnalysisServiceError

    try:
        with AnalysisClient(settings.essentia_api_url) as client:
            return client.analyze_path(rel), None
    except AnalysisServiceError as exc:
        return None, exc
    except OSError as exc:
        return None, exc


def download_track_job(track_pk: int, url: str | None = None) -> dict[str, Any]:
    """Run by the worker: fetch, convert, check, analyse and store one track's audio."""
    settings = get_settings()
    job_id = jobs.current_job_id() or f"inline-{uuid.uuid4().hex[:12]}"  # run outside RQ (tests, CLI)
    workdir = incoming_dir(settings) / job_id
    with jobs.heartbeat():
        jobs.start_attempt()
        sweep_incoming(settings, keep=job_id)
        with session_scope() as session:
            track = session.get(Track, track_pk)
            if track is None or track.deleted_at is not None:
                raise _fail(f"track {track_pk} no longer exists")
            source = track.audio_source or {}
            if source.get("job_id") == job_id and track.local_audio_path:
                try:
                    if resolve_inside(settings.resolved_audio_dir, track.local_audio_path).is_file():
                        jobs.report_progress(stage="done", percent=100)
                        return {"track_pk": track_pk, "path": track.local_audio_path, "repeated": True}
                except ValueError:
                    pass
            session.expunge(track)
        shutil.rmtree(workdir, ignore_errors=True)
        private_dir(workdir)
        try:
            return _run(track, url, settings, workdir, job_id)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)


def _run(track: Track, url: str | None, settings: Settings, workdir: Path, job_id: str) -> dict[str, Any]:
    started = time.monotonic()
    timings: dict[str, float] = {}
    try:
        fetched, method, why = _fetch(track, url, settings, workdir)
    except FetchError as exc:
        if exc.permanent:
            raise _fail(str(exc)) from None
        jobs.report_progress(stage="retrying", error=str(exc))
        raise
    timings["downloading"] = time.monotonic() - started

    mark = time.monotonic()
    jobs.report_progress(stage="converting", percent=0)
    try:
        media.decoded_duration(fetched.path)  # what was fetched is audio at all
        converted = media.convert(fetched.path, fmt=settings.download_format, workdir=workdir,
                                  keep_cover=method == "gamdl" and settings.gamdl_cover)
        fetched.path.unlink(missing_ok=True)
        duration = media.decoded_duration(converted)
    except media.NotAudio as exc:
        raise _fail(str(exc)) from None
    limit = settings.download_max_duration_minutes * 60
    if limit and duration > limit:
        raise _fail(f"the audio is {duration / 60:.0f} min long, over the {limit / 60:.0f} min limit")
    timings["converting"] = time.monotonic() - mark

    mark = time.monotonic()
    jobs.report_progress(stage="analysing", percent=0)
    audio_dir = settings.resolved_audio_dir.resolve()
    result, analysis_error = _analyse(converted.resolve().relative_to(audio_dir).as_posix(), settings)
    timings["analysing"] = time.monotonic() - mark

    mark = time.monotonic()
    jobs.report_progress(stage="saving", percent=0)
    rel = destination(library_id=track.library_id, track_pk=track.id, ext=converted.suffix)
    dest = resolve_inside(audio_dir, rel)
    os.chmod(converted, FILE_MODE)  # the tools write with the umask's mode
    queue_analysis = False
    with session_scope() as session:
        row = session.get(Track, track.id)
        if row is None or row.deleted_at is not None:
            raise _fail(f"track {track.id} was removed during the download")
        private_dir(dest.parent)  # not before: a deleted library's folder is not made again
        os.replace(converted, dest)  # atomic: the old file or the new one, never half of one
        replace_audio(track=row, audio_dir=audio_dir, new_rel=rel)
        row.audio_source = {
            "method": method, "url": fetched.url, "why": why, "note": fetched.note, "title": fetched.title,
            "format": settings.download_format, "duration_seconds": round(duration, 2),
            "at": datetime.now(UTC).isoformat(), "job_id": job_id,
        }
        if not row.duration_seconds:
            row.duration_seconds = round(duration, 2)
        if result is not None:
            from services.domain.analysis.results import store_analysis

            store_analysis(session=session, track=row, result=result)
        else:
            queue_analysis = not getattr(analysis_error, "is_client_error", False)
    timings["saving"] = time.monotonic() - mark
    analysis_note = None if result is not None else f"not analysed: {analysis_error}"
    if queue_analysis:
        analysis_note = f"analysis queued again: {analysis_error}"
        try:
            from services.domain.analysis.jobs import enqueue_analysis

            with session_scope() as session:
                enqueue_analysis(track=session.get(Track, track.id))
        except RedisError:
            pass
    jobs.report_progress(stage="done", percent=100, timings={k: round(v, 3) for k, v in timings.items()},
                         analysis=analysis_note)
    return {"track_pk": track.id, "path": rel, "method": method, "url": fetched.url, "note": fetched.note,
            "duration_seconds": round(duration, 2), "analysed": result is not None}


# --- recovery of downloads whose worker died -------------------------------------------------------

RECOVER_EVERY_SECONDS = 10


def recover_downloads() -> list[str]:
    """Retry downloads whose worker was killed (their heartbeat stopped) and sweep work folders."""
    recovered = jobs.recover_abandoned(jobs.DOWNLOAD_QUEUE)
    if recovered:
        log.warning("downloads of dead workers queued again: %s", ", ".join(recovered))
    sweep_incoming(get_settings())
    return recovered


def keep_recovering(stop: threading.Event) -> None:
    """The worker's watchdog thread: `recover_downloads` every few seconds until `stop` (it does not
    depend on RQ's scheduler, whose lock a killed worker may still hold)."""
    while not stop.wait(RECOVER_EVERY_SECONDS):
        try:
            recover_downloads()
        except Exception as exc:  # Redis or the disk unavailable for a moment: try again next round
            log.warning("download recovery failed: %s", exc)
