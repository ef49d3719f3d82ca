"""Decode once with Essentia's AudioLoader, then derive the signals every feature needs."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import soundfile
import soxr

from services.essentia_api.analysis import ess
from services.essentia_api.analysis.loudness import k_weighting_power
from services.essentia_api.errors import EmptyAudio, SilentAudio, TooLong, TooShort, UnreadableAudio

# Rhythm, key, danceability and spectral features run on a ~11 kHz mono mix: everything they use
# lies below 5 kHz, and a quarter of the samples is what makes 100x real time reachable.
ANALYSIS_RATE = 11025
# EBU R128 is measured on the same decimated stereo pair (analysis/loudness.py, a quarter of the samples);
# the K-weighted energy the decimation removes (hats, cymbals, air) is measured on full-rate excerpts and
# added back (hf_loudness_correction).
MIN_SECONDS = 5.0
SILENCE_DBFS = -60.0


@dataclass
class LoadedAudio:
    stereo_lo: np.ndarray  # (n, 2) float32 at lo_rate (mono files: right channel silent)
    sample_rate: int
    channels: int
    codec: str | None
    mono_lo: np.ndarray  # mono mix at lo_rate
    loudness_correction_db: float  # see hf_loudness_correction
    lo_rate: float
    duration: float
    # Native-rate mono excerpts asked for by load_audio's excerpt_starts (the mood model's input).
    excerpts: list[np.ndarray] = field(default_factory=list)


_EXCERPTS = 48
_EXCERPT_LEN = 8192


# The decimator: libsoxr's "HQ" preset (python-soxr), linear phase, flat (+/- 0.03 %) to 91 % of the new
# Nyquist frequency. Up to analyzer 1.13 scipy's resample_poly (an 81-tap Kaiser FIR per channel), 5x slower.
DECIMATOR_QUALITY = "HQ"


@lru_cache(maxsize=8)
def _decimator_table(sample_rate: float, factor: int) -> tuple[np.ndarray, np.ndarray]:
    """The decimator's power response, measured once: 64 one-second sines through _decimate, power out over
    in (dense near the cut-off, where it falls from 1 to 0)."""
    nyquist = sample_rate / factor / 2
    freqs = np.concatenate([np.linspace(50.0, 0.85 * nyquist, 16, endpoint=False),
                            np.linspace(0.85 * nyquist, nyquist, 48)])
    t = np.arange(int(sample_rate)) / sample_rate
    sines = np.sin(2 * np.pi * t[:, None] * freqs[None, :]).astype(np.float32)
    out = _decimate(sines, factor)
    edge = len(out) // 10  # the filter's start-up and tail
    return freqs, (out[edge:-edge].astype(np.float64) ** 2).mean(axis=0) / 0.5


def _decimator_response(factor: int, freqs: np.ndarray, sample_rate: float) -> np.ndarray:
    table_freqs, power = _decimator_table(float(sample_rate), factor)
    return np.interp(freqs, table_freqs, power, left=power[0], right=0.0)


def hf_loudness_correction(*, audio: np.ndarray, sample_rate: float, factor: int) -> float:
    """dB to add to loudness measured on the decimated signal.

    The meter runs at ~11 kHz for speed, which drops K-weighted energy above ~4.5 kHz (hats,
    cymbals: from ~0.1 dB on dark mixes to several dB on noise-like ones). From 48 short full-rate
    excerpts we measure how much K-weighted power the decimation removes and add it back.
    """
    if factor <= 1 or len(audio) < _EXCERPT_LEN * 2:
        return 0.0
    starts = np.linspace(0, len(audio) - _EXCERPT_LEN, _EXCERPTS).astype(int)
    win = np.hanning(_EXCERPT_LEN).astype(np.float32)
    power = np.zeros(_EXCERPT_LEN // 2 + 1)
    for s in starts:
        seg = audio[s : s + _EXCERPT_LEN]
        spec = np.abs(np.fft.rfft(seg * win[:, None], axis=0)) ** 2
        power += spec.sum(axis=1)
    freqs = np.fft.rfftfreq(_EXCERPT_LEN, 1.0 / sample_rate)
    full = float(np.sum(power * k_weighting_power(freqs, sample_rate)))
    lo_rate = sample_rate / factor
    band = freqs < lo_rate / 2
    kept = float(
        np.sum(
            power[band]
            * k_weighting_power(freqs[band], lo_rate)
            * _decimator_response(factor, freqs[band], sample_rate)
        )
    )
    if full <= 0 or kept <= 0:
        return 0.0
    return float(np.clip(10 * np.log10(full / kept), 0.0, 12.0))


def _decimate(x: np.ndarray, factor: int) -> np.ndarray:
    """x ((n,) or (n, channels)) at 1/factor of its rate, float32; every channel in one pass (soxr's filter
    depends on the ratio only, not on the rates)."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    return x if factor <= 1 else soxr.resample(x, float(factor), 1.0, quality=DECIMATOR_QUALITY)


def rate_factor(sample_rate: float, target: float) -> int:
    return max(1, round(sample_rate / target))


def _ffmpeg_to_wav(path: str, out: str) -> bool:
    """Transcode with the ffmpeg CLI (Debian package) for codecs the Essentia wheel's bundled
    FFmpeg lacks (Opus). Only used after Essentia reports an unsupported codec."""
    exe = shutil.which("ffmpeg")
    if exe is None:
        return False
    proc = subprocess.run(
        [
            exe,
            "-nostdin",
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-i",
            path,
            "-map",
            "0:a:0",
            "-c:a",
            "pcm_f32le",
            out,
        ],
        capture_output=True,
        timeout=120,
        check=False,
    )
    return proc.returncode == 0


def _essentia_load(path: str) -> tuple[np.ndarray, float, int, str]:
    try:
        audio, sr, channels, _md5, _bitrate, codec = ess().AudioLoader(filename=path, computeMD5=False)()
    except RuntimeError as exc:
        # Essentia's message names the (temporary) path; keep only the decoder's reason.
        reason = str(exc).strip().replace(path, "<file>").split("error = ")[-1][:200]
        raise UnreadableAudio(f"cannot decode audio: {reason}") from None
    return audio, sr, int(channels), str(codec)


# libsndfile's subtype -> the codec name FFmpeg (Essentia's AudioLoader) reports for the same stream.
_SNDFILE_CODECS = {"MPEG_LAYER_III": "mp3", "MPEG_LAYER_II": "mp2", "VORBIS": "vorbis",
                   "OPUS": "opus", "ALAC_16": "alac", "ALAC_24": "alac"}
_PCM = {"PCM_S8": "s8", "PCM_U8": "u8", "PCM_16": "s16", "PCM_24": "s24", "PCM_32": "s32", "FLOAT": "f32",
        "DOUBLE": "f64"}


def _sndfile_load(path: str) -> tuple[np.ndarray, float, int, str] | None:
    """Decode with libsndfile (python-soundfile): WAV, AIFF, FLAC, MP3, Ogg Vorbis/Opus. It decodes these
    1.4-2.6x faster than AudioLoader (flac, ogg; mp3) and to the same samples: bit-identical for lossless
    files, MP3 within 4e-5; Ogg Vorbis within ~1e-2 (libvorbis and FFmpeg's decoder differ) and up to a
    few ms shorter (AudioLoader pads the end); no offset. None when libsndfile cannot read the file (AAC,
    WebM, corrupt data): AudioLoader then decides, with its own error message."""
    try:
        with soundfile.SoundFile(path) as fh:
            audio = fh.read(dtype="float32", always_2d=True)
            if fh.format == "FLAC":  # its subtype is the sample width
                codec = "flac"
            elif fh.subtype in _PCM:
                codec = f"pcm_{_PCM[fh.subtype]}{'be' if fh.format == 'AIFF' else 'le'}"
            else:
                codec = _SNDFILE_CODECS.get(fh.subtype, fh.subtype.lower())
            return audio, float(fh.samplerate), fh.channels, codec
    except RuntimeError:  # soundfile.LibsndfileError
        return None


def _decode(path: str) -> tuple[np.ndarray, float, int, str]:
    """(samples (n, channels) float32, sample rate, channels, codec): libsndfile where it can, else
    AudioLoader."""
    return _sndfile_load(path) or _essentia_load(path)


def _needs_ffmpeg(path: str) -> bool:
    """Opus (in Ogg or WebM/Matroska): the Essentia wheel's FFmpeg has no Opus decoder, and a failed
    AudioLoader on such a file can corrupt the heap (seen as `free(): invalid pointer` crashes), so
    these files never reach Essentia: libsndfile decodes Ogg Opus, the ffmpeg CLI the rest."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(4096)
    except OSError:
        return False
    return b"OpusHead" in head or head.startswith(b"\x1a\x45\xdf\xa3")


def _declared_seconds(path: str) -> float | None:
    """Duration from the container's header (TagLib via Essentia's MetadataReader), before decoding."""
    try:
        return float(ess().MetadataReader(filename=path, failOnError=True)()[8])
    except (RuntimeError, IndexError, TypeError, ValueError):
        return None


def _too_long(seconds: float, max_seconds: float) -> TooLong:
    return TooLong(
        f"audio is {seconds / 60:.0f} min long; the limit is {max_seconds / 60:.0f} min "
        "(ANALYSIS_MAX_DURATION_MINUTES)"
    )


def mono_excerpts(
    audio: np.ndarray, sample_rate: int, starts: list[float], seconds: float
) -> list[np.ndarray]:
    """Mono mixes (first two channels) of `seconds` + 1 sample from each start, moved inside the audio."""
    length = round(seconds * sample_rate) + 1
    out = []
    for start in starts:
        first = min(max(round(start * sample_rate), 0), max(len(audio) - length, 0))
        out.append(audio[first:first + length, :2].mean(axis=1, dtype=np.float32))
    return out


def load_audio(
    *,
    path: str,
    max_seconds: float | None = None,
    excerpt_starts: Callable[[float], list[float]] | None = None,
    excerpt_seconds: float = 0.0,
) -> LoadedAudio:
    """Decode and derive the low-rate signals. `excerpt_starts(duration)` asks for mono excerpts of
    `excerpt_seconds` at the file's own rate, cut before the full-rate samples are dropped."""
    needs_ffmpeg = _needs_ffmpeg(path)
    if max_seconds and not needs_ffmpeg:
        # Refuse before decoding: a decode holds every sample in memory (~1.3 GB per stereo hour).
        declared = _declared_seconds(path)
        if declared is not None and declared > max_seconds:
            raise _too_long(declared, max_seconds)
    try:
        decoded = _sndfile_load(path) if needs_ffmpeg else _decode(path)
        if decoded is None:
            raise UnreadableAudio("Unsupported codec (opus/matroska)")
        audio, sr, channels, codec = decoded
    except UnreadableAudio as exc:
        if "Unsupported codec" not in exc.detail:
            raise
        with tempfile.TemporaryDirectory(prefix="essentia-decode-") as tmp:
            wav = os.path.join(tmp, "decoded.wav")
            if not _ffmpeg_to_wav(path, wav):
                raise
            audio, sr, channels, _codec = _decode(wav)
            codec = "ffmpeg:" + (os.path.splitext(path)[1].lstrip(".").lower() or "audio")
    sr = round(float(sr))
    if audio.size == 0 or sr <= 0:
        raise EmptyAudio("the file contains no audio samples")
    duration = audio.shape[0] / sr
    if max_seconds and duration > max_seconds:
        raise _too_long(duration, max_seconds)
    if duration < MIN_SECONDS:
        raise TooShort(f"audio is {duration:.2f} s long; at least {MIN_SECONDS:.0f} s is needed")
    channels = int(channels)
    # Decimate each channel once; the mono mix is then just their average at the low rate.
    factor = rate_factor(sr, ANALYSIS_RATE)
    if channels > 1:
        stereo = _decimate(audio[:, :2], factor)
        lo = stereo.mean(axis=1, dtype=np.float32)
    else:
        # BS.1770 measures a mono file as one channel; an empty right channel does exactly that.
        lo = _decimate(audio[:, 0], factor)
        stereo = np.stack([lo, np.zeros_like(lo)], axis=1)
    # Silence check on the decimated mix: a quarter of the samples, same verdict at -60 dBFS.
    peak = float(np.max(np.abs(lo))) if lo.size else 0.0
    if peak <= 10 ** (SILENCE_DBFS / 20):
        raise SilentAudio(f"audio is silent (peak {20 * np.log10(max(peak, 1e-12)):.1f} dBFS)")
    return LoadedAudio(
        stereo_lo=stereo,
        sample_rate=sr,
        channels=channels,
        codec=str(codec) or None,
        mono_lo=lo,
        lo_rate=sr / factor,
        loudness_correction_db=hf_loudness_correction(
            audio=audio[:, :2] if channels > 1 else audio[:, :1], sample_rate=sr, factor=factor
        ),
        duration=duration,
        excerpts=(
            mono_excerpts(audio, sr, excerpt_starts(duration), excerpt_seconds) if excerpt_starts else []
        ),
    )
