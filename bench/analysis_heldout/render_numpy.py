"""Generator B: a small numpy/scipy synth with its own drum synthesis (no samples, no soundfont).

Written for this benchmark only; it shares nothing with tests/essentia_api/audio_fixtures.py.
Drums: pitch-swept sine kick with a click, tone + band-passed noise snare, multi-burst clap,
high-passed noise hats/ride/crash. Bass: saw/square through a low-pass, a sub sine, or a detuned
"reese" (dubstep basses wobble at a note-rate LFO). Pads: detuned saws, low-passed, slow attack.
Stabs and leads: plucked saw, square, triangle or additive tones. A noise-tail reverb on the
harmony and lead buses, then a soft clip.
"""

from __future__ import annotations

import wave
from functools import lru_cache
from pathlib import Path

import numpy as np
from scipy.signal import butter, fftconvolve, sosfilt

from bench.analysis_heldout.score import DRUM_ROLES, compose
from bench.analysis_heldout.specs import HeldoutSpec

SR = 44100


@lru_cache(maxsize=256)
def _sos(kind: str, cutoff: float | tuple[float, float], order: int = 2) -> np.ndarray:
    return butter(order, cutoff, btype=kind, fs=SR, output="sos")


def _hz(m: float) -> float:
    return 440.0 * 2 ** ((m - 69) / 12)


def _exp_env(n: int, decay_s: float) -> np.ndarray:
    return np.exp(-np.arange(n) / (decay_s * SR))


def _adsr(n: int, attack: float, release: float) -> np.ndarray:
    env = np.ones(n)
    a = min(n, max(1, int(attack * SR)))
    env[:a] = np.linspace(0.0, 1.0, a)
    r = min(n, max(1, int(release * SR)))
    env[-r:] *= np.linspace(1.0, 0.0, r)
    return env


def _saw(f: float, n: int, phase: float = 0.0) -> np.ndarray:
    return 2.0 * ((f * np.arange(n) / SR + phase) % 1.0) - 1.0


def _drum_kit(genre: str, rng: np.random.Generator) -> dict[str, np.ndarray]:
    def noise(seconds):
        return rng.standard_normal(int(seconds * SR))

    long_kick = genre in ("boom_bap", "dubstep", "downtempo")
    n = int((0.9 if long_kick else 0.45) * SR)
    t = np.arange(n) / SR
    f_hi, f_lo = rng.uniform(110, 190), rng.uniform(42, 58)
    sweep = rng.uniform(0.025, 0.07)
    freq = f_lo + (f_hi - f_lo) * np.exp(-t / sweep)
    kick = np.sin(2 * np.pi * np.cumsum(freq) / SR) * _exp_env(n, rng.uniform(0.35, 0.7) if long_kick else rng.uniform(0.12, 0.3))
    click = sosfilt(_sos("highpass", 2000.0), noise(0.004)) * _exp_env(int(0.004 * SR), 0.001)
    kick[: click.size] += 0.6 * click
    ns = int(0.35 * SR)
    tone = np.sin(2 * np.pi * rng.uniform(170, 230) * np.arange(ns) / SR) * _exp_env(ns, 0.05)
    snare = 0.5 * tone + sosfilt(_sos("bandpass", (1000.0, 8000.0)), noise(0.35)) * _exp_env(ns, rng.uniform(0.08, 0.2))
    nc = int(0.4 * SR)
    clap = np.zeros(nc)
    burst = sosfilt(_sos("bandpass", (900.0, 3500.0)), noise(0.4))
    for k, at in enumerate((0.0, 0.009, 0.018, 0.028)):
        i = int(at * SR)
        env = _exp_env(nc - i, 0.15 if k == 3 else 0.008)
        clap[i:] += burst[: nc - i] * env
    hat_hp = rng.uniform(6000, 9000)
    kit = {
        "kick": kick,
        "snare": snare,
        "clap": clap,
        "hat": sosfilt(_sos("highpass", hat_hp), noise(0.12)) * _exp_env(int(0.12 * SR), rng.uniform(0.015, 0.045)),
        "ohat": sosfilt(_sos("highpass", hat_hp), noise(0.5)) * _exp_env(int(0.5 * SR), rng.uniform(0.12, 0.3)),
        "ride": sosfilt(_sos("highpass", 4500.0), noise(1.2)) * _exp_env(int(1.2 * SR), 0.5),
        "crash": sosfilt(_sos("highpass", 3500.0), noise(2.5)) * _exp_env(int(2.5 * SR), 1.1),
    }
    return {k: v / (np.max(np.abs(v)) + 1e-9) for k, v in kit.items()}


def _add(buf: np.ndarray, x: np.ndarray, at: int, gain: float) -> None:
    if at >= buf.size:
        return
    m = min(x.size, buf.size - at)
    buf[at : at + m] += gain * x[:m]


def _bass_note(kind: str, f: float, n: int, bpm: float, rng_phase: float) -> np.ndarray:
    if kind == "sub":
        x = np.sin(2 * np.pi * f * np.arange(n) / SR) + 0.15 * np.sin(4 * np.pi * f * np.arange(n) / SR)
        return x * _adsr(n, 0.005, 0.03)
    if kind == "reese":
        x = _saw(f * 2 ** (0.12 / 12), n) + _saw(f * 2 ** (-0.12 / 12), n, 0.37)
        x = sosfilt(_sos("lowpass", 700.0), x) + 0.8 * np.sin(2 * np.pi * f * np.arange(n) / SR)
        return x * _adsr(n, 0.01, 0.05)
    if kind == "wobble":
        bright = sosfilt(_sos("lowpass", 1800.0), _saw(f, n) + _saw(f * 1.005, n, 0.2))
        dark = np.sin(2 * np.pi * f * np.arange(n) / SR)
        lfo = 0.5 - 0.5 * np.cos(2 * np.pi * (bpm / 60.0 * 2.0) * np.arange(n) / SR + rng_phase)
        return (dark + 0.8 * lfo * bright) * _adsr(n, 0.005, 0.04)
    raw = _saw(f, n) if kind == "saw" else np.sign(np.sin(2 * np.pi * f * np.arange(n) / SR))
    # A filter envelope: a bright attack decaying into a darker body.
    bright = sosfilt(_sos("lowpass", 1500.0), raw)
    dark = sosfilt(_sos("lowpass", 350.0), raw)
    env = _exp_env(n, 0.08)
    return (env * bright + (1 - env) * dark) * _adsr(n, 0.004, 0.03)


def _tone(kind: str, f: float, n: int) -> np.ndarray:
    t = np.arange(n) / SR
    if kind == "square":
        return sosfilt(_sos("lowpass", 4000.0), np.sign(np.sin(2 * np.pi * f * t))) * 0.6
    if kind == "triangle":
        return 2 * np.abs(_saw(f, n)) - 1
    if kind == "pluck":
        return sosfilt(_sos("lowpass", 3000.0), _saw(f, n)) * _exp_env(n, 0.25)
    return sum(np.sin(2 * np.pi * f * h * t) / h**1.3 for h in range(1, 7))  # additive


def render(spec: HeldoutSpec, wav_path: Path) -> Path:
    rng = np.random.default_rng([spec.clip_seed, 23])
    beat_s = 60.0 / spec.bpm
    total = int((spec.seconds + 3.0) * SR)
    buses = {name: np.zeros(total) for name in ("drums", "bass", "harmony", "lead")}
    kit = _drum_kit(spec.genre, rng)
    if spec.genre == "dubstep":
        bass_kind = str(rng.choice(["wobble", "sub"]))
    elif spec.genre == "drum_and_bass":
        bass_kind = str(rng.choice(["reese", "sub"]))
    else:
        bass_kind = str(rng.choice(["saw", "square", "sub"]))
    lead_kind = str(rng.choice(["square", "triangle", "pluck", "additive"]))
    stab_kind = str(rng.choice(["pluck", "square", "additive"]))
    pad_cut = float(rng.uniform(1200, 3200))
    pad_notes: dict[float, list] = {}
    for n in compose(spec):
        at = int(n.beat * beat_s * SR)
        g = n.vel / 127.0
        length = max(1, int(n.dur * beat_s * SR))
        if n.role in DRUM_ROLES:
            _add(buses["drums"], kit[n.role], at, g * {"hat": 0.35, "ohat": 0.3, "ride": 0.25, "crash": 0.4}.get(n.role, 1.0))
        elif n.role == "bass":
            _add(buses["bass"], _bass_note(bass_kind, _hz(n.pitch), length, spec.bpm, float(rng.uniform(0, 6.28))), at, g)
        elif n.role == "stab":
            x = _tone(stab_kind, _hz(n.pitch), length) * _adsr(length, 0.003, 0.05)
            _add(buses["harmony"], x, at, 0.35 * g)
        elif n.role == "pad":
            pad_notes.setdefault(n.beat, []).append(n)
        elif n.role == "lead":
            x = _tone(lead_kind, _hz(n.pitch), length) * _adsr(length, 0.005, 0.04)
            _add(buses["lead"], x, at, 0.3 * g)
    for beat, chord in pad_notes.items():
        length = max(1, int(chord[0].dur * beat_s * SR))
        x = np.zeros(length)
        for n in chord:
            f = _hz(n.pitch)
            for det, ph in ((-0.08, 0.0), (0.0, 0.31), (0.08, 0.67)):
                x += _saw(f * 2 ** (det / 12), length, ph)
        x = sosfilt(_sos("lowpass", pad_cut), x) * _adsr(length, float(rng.uniform(0.05, 0.4)), 0.25)
        _add(buses["harmony"], x, int(beat * beat_s * SR), 0.12 * chord[0].vel / 127.0)
    ir_n = int(0.9 * SR)
    ir = rng.standard_normal(ir_n) * _exp_env(ir_n, 0.25)
    ir *= 0.5 / np.sqrt(np.sum(ir**2))
    wet = float(rng.uniform(0.15, 0.5))
    for name in ("harmony", "lead"):
        b = buses[name]
        buses[name] = b + wet * fftconvolve(b, ir)[: b.size]
    gains = {"drums": 1.0, "bass": 0.8, "harmony": 0.7, "lead": 0.6}
    mix = np.zeros(total)
    for name, b in buses.items():
        peak = np.max(np.abs(b))
        if peak > 0:
            mix += gains[name] * 10 ** (rng.uniform(-3, 3) / 20) * b / peak
    mix = np.tanh(1.2 * mix / (np.max(np.abs(mix)) + 1e-9))
    mix *= 0.89 / (np.max(np.abs(mix)) + 1e-9)
    pcm = (mix * 32767).astype("<i2")
    with wave.open(str(wav_path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SR)
        w.writeframes(pcm.tobytes())
    return wav_path
