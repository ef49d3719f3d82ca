"""One STFT of the low-rate mono mix, shared by rhythm (onset functions), energy and waveform."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.fft
from numpy.lib.stride_tricks import sliding_window_view

# At 11025 Hz a 256-point frame is 23 ms with 43 Hz bins, the same as Essentia's 1024-point rhythm
# frames at 44.1 kHz; hop 128 gives 86.13 frames/s, the onset-function rate its beat trackers expect.
FRAME = 256
HOP = 128


@dataclass
class Stft:
    spec: np.ndarray  # complex64 (frames, bins)
    mag: np.ndarray  # float32 (frames, bins)
    freqs: np.ndarray
    frame_rate: float
    sample_rate: float


def stft(*, signal: np.ndarray, sample_rate: float) -> Stft:
    padded = np.concatenate([np.zeros(FRAME // 2, np.float32), signal, np.zeros(FRAME, np.float32)])
    frames = sliding_window_view(padded, FRAME)[::HOP]
    win = np.hanning(FRAME).astype(np.float32)
    spec = scipy.fft.rfft(frames * win, axis=1)  # float32 in, complex64 out
    return Stft(
        spec=spec,
        mag=np.abs(spec),
        freqs=np.fft.rfftfreq(FRAME, 1.0 / sample_rate),
        frame_rate=sample_rate / HOP,
        sample_rate=sample_rate,
    )


def mel_matrix(
    *, freqs: np.ndarray, n_mels: int = 40, fmin: float = 30.0, fmax: float = 5000.0
) -> np.ndarray:
    def hz2mel(f):
        return 2595 * np.log10(1 + f / 700.0)

    mels = np.linspace(hz2mel(fmin), hz2mel(min(fmax, freqs[-1])), n_mels + 2)
    edges = 700 * (10 ** (mels / 2595) - 1)
    m = np.zeros((n_mels, len(freqs)), np.float32)
    for i in range(n_mels):
        lo, c, hi = edges[i], edges[i + 1], edges[i + 2]
        up = (freqs - lo) / max(c - lo, 1e-9)
        down = (hi - freqs) / max(hi - c, 1e-9)
        m[i] = np.clip(np.minimum(up, down), 0, None)
    return m
