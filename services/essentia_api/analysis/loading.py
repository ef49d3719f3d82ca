"""Decode once with Essentia's AudioLoader, then derive the signals every feature needs."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass

import numpy as np
from scipy.signal import resample_poly

from services.essentia_api.analysis import ess
from services.essentia_api.errors import EmptyAudio, SilentAudio, TooShort, UnreadableAudio

# Rhythm, key, danceability and spectral features run on a ~11 kHz mono mix: everything they use
# lies below 5 kHz, and a quarter of the samples is what makes 100x real time reachable.
ANALYSIS_RATE = 11025
# EBU R128 is measured on the same decimated stereo pair: the meter costs 1.5 s per 5 minutes at
# 44.1 kHz, a quarter of that here; what is lost is K-weighted energy above 5.5 kHz (cymbals, air),
# measured in docs/benchmarks.md as a small, mostly negative offset.
MIN_SECONDS = 5.0
SILENCE_DBFS = -60.0


@dataclass
class LoadedAudio:
    stereo_lo: np.ndarray  # (n, 2) float32 at lo_rate (mono files: right channel silent)
    sample_rate: int
    channels: int
    codec: str | None
    mono_lo: np.ndarray  # mono mix at lo_rate
    lo_rate: float
    duration: float


def _decimate(x: np.ndarray, factor: int) -> np.ndarray:
    # Polyphase FIR decimation: proper anti-aliasing at a fraction of Resample(quality=0)'s cost.
    if factor <= 1:
        return np.ascontiguousarray(x, dtype=np.float32)
    return resample_poly(x, 1, factor, axis=0).astype(np.float32)


def rate_factor(sample_rate: float, target: float) -> int:
    return max(1, int(round(sample_rate / target)))


def _ffmpeg_to_wav(path: str, out: str) -> bool:
    """Transcode with the ffmpeg CLI (Debian package) for codecs the Essentia wheel's bundled
    FFmpeg lacks (Opus). Only used after Essentia reports an unsupported codec."""
    exe = shutil.which("ffmpeg")
    if exe is None:
        return False
    proc = subprocess.run(
        [exe, "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-i", path, "-map", "0:a:0",
         "-c:a", "pcm_f32le", out],
        capture_output=True, timeout=120, check=False,
    )
    return proc.returncode == 0


def _essentia_load(path: str):
    try:
        return ess().AudioLoader(filename=path, computeMD5=False)()
    except RuntimeError as exc:
        # Essentia's message names the (temporary) path; keep only the decoder's reason.
        reason = str(exc).strip().replace(path, "<file>").split("error = ")[-1][:200]
        raise UnreadableAudio(f"cannot decode audio: {reason}") from None


def _needs_ffmpeg(path: str) -> bool:
    """Opus (in Ogg or WebM/Matroska): the Essentia wheel's FFmpeg has no Opus decoder, and a failed
    AudioLoader on such a file can corrupt the heap (seen as `free(): invalid pointer` crashes), so
    these files go to the ffmpeg CLI without trying Essentia first."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(4096)
    except OSError:
        return False
    return b"OpusHead" in head or head.startswith(b"\x1a\x45\xdf\xa3")


def load_audio(*, path: str) -> LoadedAudio:
    try:
        if _needs_ffmpeg(path):
            raise UnreadableAudio("Unsupported codec (opus/matroska)")
        audio, sr, channels, _md5, _bitrate, codec = _essentia_load(path)
    except UnreadableAudio as exc:
        if "Unsupported codec" not in exc.detail:
            raise
        with tempfile.TemporaryDirectory(prefix="essentia-decode-") as tmp:
            wav = os.path.join(tmp, "decoded.wav")
            if not _ffmpeg_to_wav(path, wav):
                raise
            audio, sr, channels, _md5, _bitrate, _codec = _essentia_load(wav)
            codec = "ffmpeg:" + (os.path.splitext(path)[1].lstrip(".").lower() or "audio")
    sr = int(round(sr))
    if audio.size == 0 or sr <= 0:
        raise EmptyAudio("the file contains no audio samples")
    duration = audio.shape[0] / sr
    if duration < MIN_SECONDS:
        raise TooShort(f"audio is {duration:.2f} s long; at least {MIN_SECONDS:.0f} s is needed")
    peak = float(np.max(np.abs(audio)))
    if peak <= 10 ** (SILENCE_DBFS / 20):
        raise SilentAudio(f"audio is silent (peak {20 * np.log10(max(peak, 1e-12)):.1f} dBFS)")
    # Decimate each channel once (contiguous copies filter ~3x faster than the strided view); the
    # mono mix is then just their average at the low rate.
    factor = rate_factor(sr, ANALYSIS_RATE)
    left = _decimate(np.ascontiguousarray(audio[:, 0]), factor)
    if int(channels) > 1:
        right = _decimate(np.ascontiguousarray(audio[:, 1]), factor)
        lo = (0.5 * (left + right)).astype(np.float32)
    else:
        # BS.1770 measures a mono file as one channel; an empty right channel does exactly that.
        right = np.zeros_like(left)
        lo = left
    return LoadedAudio(
        stereo_lo=np.ascontiguousarray(np.stack([left, right], axis=1)),
        sample_rate=sr,
        channels=int(channels),
        codec=str(codec) or None,
        mono_lo=lo,
        lo_rate=sr / factor,
        duration=duration,
    )
