"""ffmpeg: convert a download to the configured format and prove a file is audio by decoding it.

The binary is FFMPEG_PATH, else the system's `ffmpeg`, else the one shipped in the imageio-ffmpeg
wheel. Argument lists only (no shell); every call has a timeout.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from functools import lru_cache
from pathlib import Path

from services.common.settings import get_settings

# format -> (extension, ffmpeg codec arguments, codec names that can be copied without re-encoding)
FORMATS: dict[str, tuple[str, list[str], set[str]]] = {
    "m4a": (".m4a", ["-c:a", "aac", "-b:a", "256k"], {"aac", "alac"}),
    "mp3": (".mp3", ["-c:a", "libmp3lame", "-b:a", "320k"], {"mp3"}),
    "flac": (".flac", ["-c:a", "flac"], {"flac"}),
    "wav": (".wav", ["-c:a", "pcm_s16le"], {"pcm_s16le"}),
    "aiff": (".aiff", ["-c:a", "pcm_s16be"], {"pcm_s16be"}),
    "ogg": (".ogg", ["-c:a", "libvorbis", "-q:a", "7"], {"vorbis"}),
}
_TIME = re.compile(r"out_time_us=(\d+)")
_CODEC = re.compile(r"Audio: ([A-Za-z0-9_]+)")


class NotAudio(ValueError):
    """The file does not decode as audio: the message says what ffmpeg saw."""


@lru_cache
def ffmpeg_binary() -> str:
    configured = get_settings().ffmpeg_path
    if configured:
        return configured
    found = shutil.which("ffmpeg")
    if found:
        return found
    try:
        import imageio_ffmpeg
    except ImportError:
        raise RuntimeError("no ffmpeg: install it, set FFMPEG_PATH, or install the imageio-ffmpeg wheel") from None
    return imageio_ffmpeg.get_ffmpeg_exe()


def _run(args: list[str], *, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run([ffmpeg_binary(), "-nostdin", "-hide_banner", *args], capture_output=True, text=True,
                          timeout=timeout, check=False)


def _last_error(stderr: str, path: Path) -> str:
    """ffmpeg's last complaint, without the file's full path (no server paths in messages)."""
    lines = [line.strip() for line in stderr.strip().splitlines() if line.strip()]
    return lines[-1].replace(str(path), path.name)[:300] if lines else "no audio stream"


def source_codec(path: Path) -> str | None:
    """The first audio stream's codec name, from ffmpeg's description of the input."""
    done = _run(["-i", str(path)], timeout=60)  # exits 1 (no output named) after describing the input
    match = _CODEC.search(done.stderr)
    return match.group(1) if match else None


def decoded_duration(path: Path, *, timeout: float = 600) -> float:
    """Decode the whole first audio stream and return its duration in seconds; `NotAudio` if it does
    not decode (not audio, truncated, corrupt)."""
    try:
        done = _run(["-v", "error", "-i", str(path), "-map", "0:a:0", "-f", "null", "-progress", "pipe:1", "-"],
                    timeout=timeout)
    except subprocess.TimeoutExpired:
        raise NotAudio("decoding the file took too long") from None
    times = _TIME.findall(done.stdout)
    if done.returncode != 0 or not times:
        raise NotAudio(f"the file is not audio ffmpeg can decode: {_last_error(done.stderr, path)}")
    if done.stderr.strip():
        raise NotAudio(f"the file is damaged: {_last_error(done.stderr, path)}")
    seconds = int(times[-1]) / 1_000_000
    if seconds <= 0:
        raise NotAudio("the file holds no audio samples")
    return seconds


COVER_FORMATS = {"m4a", "mp3", "flac"}


def convert(source: Path, *, fmt: str, workdir: Path, keep_cover: bool = False, timeout: float = 1800) -> Path:
    """Write `source` in `fmt` into `workdir` (copying the stream when it is already that codec).

    Only the first audio stream is kept, plus, with `keep_cover`, an embedded cover picture (never a
    video stream: a YouTube download's video is dropped)."""
    ext, encode, copyable = FORMATS[fmt]
    target = workdir / f"converted{ext}"
    codec_args = ["-c:a", "copy"] if source_codec(source) in copyable else encode
    streams = ["-map", "0:a:0", "-vn"]
    if keep_cover and fmt in COVER_FORMATS:
        streams = ["-map", "0:a:0", "-map", "0:v:0?", "-c:v", "copy", "-disposition:v:0", "attached_pic"]
    try:
        done = _run(["-v", "error", "-y", "-i", str(source), *streams, *codec_args, str(target)], timeout=timeout)
    except subprocess.TimeoutExpired:
        raise NotAudio("converting the file took too long") from None
    if done.returncode != 0 or not target.exists():
        raise NotAudio(f"the file could not be converted to {fmt}: {_last_error(done.stderr, source)}")
    return target
