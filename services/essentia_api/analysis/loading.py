"""Decode once with Essentia's AudioLoader, then derive the signals every feature needs."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass

import numpy as np
from scipy.signal import firwin, freqz, resample_poly

from services.essentia_api.analysis import ess
from services.essentia_api.errors import EmptyAudio, SilentAudio, TooLong, TooShort, UnreadableAudio

# Rhythm, key, danceability and spectral features run on a ~11 kHz mono mix: everything they use
# lies below 5 kHz, and a quarter of the samples is what makes 100x real time reachable.
ANALYSIS_RATE = 11025
# EBU R128 is measured on the same decimated stereo pair: the meter costs 1.5 s per 5 minutes at
# 44.1 kHz, a quarter of that here; the K-weighted energy the decimation removes (hats, cymbals,
# air) is measured on full-rate excerpts and added back (hf_loudness_correction).
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


def _k_weighting_power(freqs: np.ndarray, sample_rate: float) -> np.ndarray:
    """|K(f)|^2 of the BS.1770 filter designed for sample_rate (libebur128's bilinear design, which
    matches the published 48 kHz coefficients), so it also models the meter at the low rate."""
    k = np.tan(np.pi * 1681.974450955533 / sample_rate)
    vh = 10 ** (3.999843853973347 / 20)
    vb = vh**0.4996667741545416
    q = 0.7071752369554196
    a0 = 1 + k / q + k * k
    shelf_b = [(vh + vb * k / q + k * k) / a0, 2 * (k * k - vh) / a0, (vh - vb * k / q + k * k) / a0]
    shelf_a = [1.0, 2 * (k * k - 1) / a0, (1 - k / q + k * k) / a0]
    k = np.tan(np.pi * 38.13547087602444 / sample_rate)
    q = 0.5003270373238773
    a0 = 1 + k / q + k * k
    hpf_a = [1.0, 2 * (k * k - 1) / a0, (1 - k / q + k * k) / a0]
    h1 = freqz(shelf_b, shelf_a, worN=freqs, fs=sample_rate)[1]
    h2 = freqz([1.0, -2.0, 1.0], hpf_a, worN=freqs, fs=sample_rate)[1]
    return np.abs(h1 * h2) ** 2


_EXCERPTS = 48
_EXCERPT_LEN = 8192


def _decimator_response(factor: int, freqs: np.ndarray, sample_rate: float) -> np.ndarray:
    # The filter resample_poly designs by default (scipy: firwin(20 * factor + 1, 1 / factor, kaiser 5)).
    h = firwin(20 * factor + 1, 1.0 / factor, window=("kaiser", 5.0))
    return np.abs(freqz(h, worN=freqs, fs=sample_rate)[1]) ** 2


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
    full = float(np.sum(power * _k_weighting_power(freqs, sample_rate)))
    lo_rate = sample_rate / factor
    band = freqs < lo_rate / 2
    kept = float(
        np.sum(
            power[band]
            * _k_weighting_power(freqs[band], lo_rate)
            * _decimator_response(factor, freqs[band], sample_rate)
        )
    )
    if full <= 0 or kept <= 0:
        return 0.0
    return float(np.clip(10 * np.log10(full / kept), 0.0, 12.0))


def _decimate(x: np.ndarray, factor: int) -> np.ndarray:
    # Polyphase FIR decimation: proper anti-aliasing at a fraction of Resample(quality=0)'s cost.
    if factor <= 1:
        return np.ascontiguousarray(x, dtype=np.float32)
    return resample_poly(x, 1, factor, axis=0).astype(np.float32)


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


def load_audio(*, path: str, max_seconds: float | None = None) -> LoadedAudio:
    needs_ffmpeg = _needs_ffmpeg(path)
    if max_seconds and not needs_ffmpeg:
        # Refuse before decoding: a decode holds every sample in memory (~1.3 GB per stereo hour).
        declared = _declared_seconds(path)
        if declared is not None and declared > max_seconds:
            raise _too_long(declared, max_seconds)
    try:
        if needs_ffmpeg:
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
    sr = round(float(sr))
    if audio.size == 0 or sr <= 0:
        raise EmptyAudio("the file contains no audio samples")
    duration = audio.shape[0] / sr
    if max_seconds and duration > max_seconds:
        raise _too_long(duration, max_seconds)
    if duration < MIN_SECONDS:
        raise TooShort(f"audio is {duration:.2f} s long; at least {MIN_SECONDS:.0f} s is needed")
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
    # Silence check on the decimated mix: a quarter of the samples, same verdict at -60 dBFS.
    peak = float(np.max(np.abs(lo))) if lo.size else 0.0
    if peak <= 10 ** (SILENCE_DBFS / 20):
        raise SilentAudio(f"audio is silent (peak {20 * np.log10(max(peak, 1e-12)):.1f} dBFS)")
    return LoadedAudio(
        stereo_lo=np.ascontiguousarray(np.stack([left, right], axis=1)),
        sample_rate=sr,
        channels=int(channels),
        codec=str(codec) or None,
        mono_lo=lo,
        lo_rate=sr / factor,
        loudness_correction_db=hf_loudness_correction(
            audio=audio[:, :2] if int(channels) > 1 else audio[:, :1], sample_rate=sr, factor=factor
        ),
        duration=duration,
    )
