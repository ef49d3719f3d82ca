"""MusiCNN auto-tagger (Pons & Serra, 2019), Million Song Dataset checkpoint, run by ONNX Runtime.

The weights are the `MSD_musicnn` checkpoint that the `musicnn` wheel (PyPI, ISC licence) ships; the
TensorFlow 1 graph was frozen and converted to ONNX once by scripts/musicnn_to_onnx.py (TensorFlow itself is
not a dependency). Input: log-mel patches of 187 frames x 96 bands (16 kHz, 512-point FFT, hop 256, about
3 s), exactly musicnn's own front end (librosa's Slaney mel bank, power spectrum, log10(10000 x + 1)).
Output: 50 Last.fm tag probabilities per patch.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import soxr

MODEL_PATH = Path(__file__).resolve().parents[1] / "models" / "msd_musicnn.onnx"
MODEL_NAME = "musicnn-msd"

SAMPLE_RATE = 16000
N_FFT = 512
HOP = 256
N_MELS = 96
PATCH_FRAMES = 187
PATCH_SAMPLES = (PATCH_FRAMES - 1) * HOP + N_FFT  # frames taken inside the excerpt, no padding
# Native-rate audio kept either side of a patch so the resampler's start-up stays outside it.
EXCERPT_MARGIN_SECONDS = 0.05
EXCERPT_SECONDS = PATCH_SAMPLES / SAMPLE_RATE + 2 * EXCERPT_MARGIN_SECONDS

# The tag order of the MSD checkpoint's output (musicnn.configuration.MSD_LABELS).
MSD_TAGS = (
    "rock", "pop", "alternative", "indie", "electronic", "female vocalists", "dance", "00s",
    "alternative rock", "jazz", "beautiful", "metal", "chillout", "male vocalists", "classic rock", "soul",
    "indie rock", "Mellow", "electronica", "80s", "folk", "90s", "chill", "instrumental", "punk", "oldies",
    "blues", "hard rock", "ambient", "acoustic", "experimental", "female vocalist", "guitar", "Hip-Hop",
    "70s", "party", "country", "easy listening", "sexy", "catchy", "funk", "electro", "heavy metal",
    "Progressive rock", "60s", "rnb", "indie pop", "sad", "House", "happy",
)


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    # Slaney's scale (librosa's default, htk=False): linear below 1 kHz, logarithmic above.
    hz = np.asarray(hz, dtype=np.float64)
    mel = hz / (200.0 / 3)
    log_part = hz >= 1000.0
    return np.where(log_part, 15.0 + np.log(np.maximum(hz, 1e-9) / 1000.0) / (np.log(6.4) / 27.0), mel)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    mel = np.asarray(mel, dtype=np.float64)
    return np.where(mel >= 15.0, 1000.0 * np.exp((np.log(6.4) / 27.0) * (mel - 15.0)), mel * (200.0 / 3))


@lru_cache(maxsize=1)
def mel_filterbank() -> np.ndarray:
    """(N_MELS, N_FFT // 2 + 1) triangular filters, Slaney area normalisation (librosa.filters.mel)."""
    fft_hz = np.linspace(0.0, SAMPLE_RATE / 2, N_FFT // 2 + 1)
    edges = _mel_to_hz(np.linspace(_hz_to_mel(0.0), _hz_to_mel(SAMPLE_RATE / 2), N_MELS + 2))
    widths = np.diff(edges)
    ramps = edges[:, None] - fft_hz[None, :]
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    weights *= (2.0 / (edges[2:] - edges[:-2]))[:, None]
    return weights.astype(np.float32)


@lru_cache(maxsize=1)
def _window() -> np.ndarray:
    return (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)).astype(np.float32)  # periodic Hann


def log_mel_patch(samples: np.ndarray) -> np.ndarray:
    """One model input (PATCH_FRAMES, N_MELS) from PATCH_SAMPLES samples at 16 kHz."""
    if len(samples) < PATCH_SAMPLES:
        samples = np.pad(samples, (0, PATCH_SAMPLES - len(samples)))
    frames = np.lib.stride_tricks.sliding_window_view(samples[:PATCH_SAMPLES], N_FFT)[::HOP]
    power = np.abs(np.fft.rfft(frames * _window(), axis=1)) ** 2
    return np.log10(10000.0 * (power.astype(np.float32) @ mel_filterbank().T) + 1.0).astype(np.float32)


def patch_count(duration: float) -> int:
    """How many 3 s patches a track is summarised by: one per 30 s of audio, 1 to 8. Each costs ~50 ms on
    one core, so a 5-minute track pays ~0.4 s; docs/benchmarks.md ("Analyzer 1.15") measures how far these
    means lie from the mean over every patch of the track."""
    return int(np.clip(round(duration / 30.0), 1, 8))


def excerpt_starts(duration: float, count: int) -> list[float]:
    """Start times (s) of `count` excerpts of EXCERPT_SECONDS centred in equal parts of the track, so intros
    and fade-outs weigh no more than anything else."""
    span = max(duration - EXCERPT_SECONDS, 0.0)
    centres = (np.arange(count) + 0.5) * duration / count
    return [float(np.clip(c - EXCERPT_SECONDS / 2, 0.0, span)) for c in centres]


def excerpt_patches(excerpts: list[np.ndarray], sample_rate: float) -> np.ndarray:
    """(n, PATCH_FRAMES, N_MELS) model inputs from native-rate mono excerpts cut at excerpt_starts."""
    margin = round(EXCERPT_MARGIN_SECONDS * SAMPLE_RATE)
    patches = []
    for excerpt in excerpts:
        at16k = soxr.resample(np.ascontiguousarray(excerpt, dtype=np.float32), sample_rate, SAMPLE_RATE,
                              quality="HQ")
        patches.append(log_mel_patch(at16k[margin:margin + PATCH_SAMPLES]))
    return np.stack(patches)


class MusicnnTagger:
    """Tag probabilities averaged over patches; one ONNX Runtime session per process, one thread (the
    analysis pool already runs one process per core)."""

    def __init__(self, *, model_path: Path = MODEL_PATH) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self.session = onnxruntime.InferenceSession(
            str(model_path), options, providers=["CPUExecutionProvider"]
        )
        self.input_name = self.session.get_inputs()[0].name
        tag_count = self.session.get_outputs()[0].shape[-1]
        if tag_count != len(MSD_TAGS):
            raise ValueError(f"{model_path.name} has {tag_count} outputs, expected {len(MSD_TAGS)}")

    def tags(self, patches: np.ndarray) -> dict[str, float]:
        probs = self.session.run(None, {self.input_name: patches.astype(np.float32)})[0]
        return dict(zip(MSD_TAGS, probs.mean(axis=0).tolist(), strict=True))
