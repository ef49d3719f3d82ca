"""Synthesized test audio with a known tempo and key (numpy only; ffmpeg CLI for encoding).

Shared by tests/essentia_api and bench/bench_analysis_*.py. Every clip has drums, a bass line on
the chord roots and sustained chords from a progression in the key, so tempo and key are defined
the way a listener would define them (not bare clicks or a single triad).
"""

from __future__ import annotations

import io
import shutil
import subprocess
import wave
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

SR = 44100
PITCH_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")

# Progressions as (scale degree root in semitones above the tonic, chord quality) per bar.
# Minor: the tonic chord opens the phrase and returns, as in most club tracks; several also use
# i-VI-III-VII, which shares every chord with the relative major's vi-IV-I-V.
_MINOR_PROGRESSIONS = (
    ((0, "min"), (8, "maj"), (3, "maj"), (10, "maj")),  # i VI III VII
    ((0, "min"), (0, "min"), (8, "maj"), (10, "maj")),  # i i VI VII
    ((0, "min"), (5, "min"), (7, "min"), (0, "min")),  # i iv v i
    ((0, "min"), (10, "maj"), (8, "maj"), (7, "maj")),  # i VII VI V (Andalusian)
)
_MAJOR_PROGRESSIONS = (
    ((0, "maj"), (7, "maj"), (9, "min"), (5, "maj")),  # I V vi IV
    ((0, "maj"), (5, "maj"), (7, "maj"), (0, "maj")),  # I IV V I
    ((0, "maj"), (9, "min"), (5, "maj"), (7, "maj")),  # I vi IV V
    ((0, "maj"), (0, "maj"), (5, "maj"), (7, "maj")),  # I I IV V
)
_TRIADS = {"maj": (0, 4, 7), "min": (0, 3, 7)}


@dataclass(frozen=True)
class ClipSpec:
    bpm: float
    tonic: int  # pitch class 0..11, 0 = C
    scale: str  # "major" | "minor"
    seconds: float = 30.0
    style: str = "auto"  # auto | house | dnb | hiphop | techno
    progression: int = 0
    seed: int = 0
    # Bars into the progression at which the clip starts: 0 opens on the tonic chord; 1..3 open on
    # a later chord (a minor i-VI-III-VII with rotation 1 plays VI-III-VII-i).
    rotation: int = 0
    # Mark each phrase (one pass of the progression, 4 bars) with a crash cymbal on its first
    # downbeat, as club tracks do; the phrase still opens on the progression's first chord.
    phrase_crash: bool = False

    @property
    def key_name(self) -> str:
        return PITCH_NAMES[self.tonic]

    def resolved_style(self) -> str:
        if self.style != "auto":
            return self.style
        if self.bpm < 100:
            return "hiphop"
        if self.bpm < 135:
            return "house"
        if self.bpm < 155:
            return "techno"
        return "dnb"


def _env(n: int, decay_s: float, sr: int) -> np.ndarray:
    return np.exp(-np.arange(n) / (decay_s * sr)).astype(np.float32)


def _kick(sr: int) -> np.ndarray:
    n = int(0.3 * sr)
    t = np.arange(n) / sr
    freq = 45 + 110 * np.exp(-t / 0.03)  # pitch drop 155 -> 45 Hz
    phase = 2 * np.pi * np.cumsum(freq) / sr
    return (np.sin(phase) * _env(n, 0.09, sr)).astype(np.float32)


def _snare(sr: int, rng: np.random.Generator) -> np.ndarray:
    n = int(0.2 * sr)
    t = np.arange(n) / sr
    noise = rng.standard_normal(n).astype(np.float32)
    noise = np.diff(noise, prepend=0.0)  # tilt up: brighter than plain white noise
    body = np.sin(2 * np.pi * 190 * t)
    return (0.35 * noise * _env(n, 0.05, sr) + 0.6 * body * _env(n, 0.04, sr)).astype(np.float32)


def _crash(sr: int, rng: np.random.Generator) -> np.ndarray:
    n = int(1.6 * sr)
    noise = rng.standard_normal(n).astype(np.float32)
    noise = np.diff(np.diff(noise, prepend=0.0), prepend=0.0)  # bright, like _hat, but long
    return (0.1 * noise * _env(n, 0.7, sr)).astype(np.float32)


def _hat(sr: int, rng: np.random.Generator, open_: bool = False) -> np.ndarray:
    n = int((0.18 if open_ else 0.05) * sr)
    noise = rng.standard_normal(n).astype(np.float32)
    noise = np.diff(np.diff(noise, prepend=0.0), prepend=0.0)  # crude high-pass
    return (0.12 * noise * _env(n, 0.06 if open_ else 0.012, sr)).astype(np.float32)


@lru_cache(maxsize=512)
def _tone(freq: float, n: int, sr: int, harmonics: int, decay_s: float, bright: float) -> np.ndarray:
    # Cached: a clip repeats the same notes every bar (callers only read the array).
    t = np.arange(n) / sr
    out = np.zeros(n, dtype=np.float64)
    for h in range(1, harmonics + 1):
        if freq * h > sr / 2 - 1000:
            break
        out += (bright ** (h - 1)) / h * np.sin(2 * np.pi * freq * h * t)
    attack = np.minimum(1.0, t / 0.01)
    release = np.minimum(1.0, (n - np.arange(n)) / (0.02 * sr))
    return (out * attack * release * np.exp(-t / decay_s)).astype(np.float32)


def _midi_hz(m: float) -> float:
    return 440.0 * 2 ** ((m - 69) / 12)


def _add(buf: np.ndarray, x: np.ndarray, at: int, gain: float = 1.0) -> None:
    if at >= len(buf):
        return
    end = min(len(buf), at + len(x))
    buf[at:end] += gain * x[: end - at]


def drum_pattern(style: str) -> dict[str, list[float]]:
    """Hit positions in beats within one 4-beat bar."""
    if style == "dnb":  # two-step: kick 1 and the "and" of 3, snare on 2 and 4
        return {"kick": [0, 2.5], "snare": [1, 3], "hat": [x / 2 for x in range(8)], "ohat": []}
    if style == "hiphop":
        return {"kick": [0, 1.75, 2.5], "snare": [1, 3], "hat": [x / 2 for x in range(8)], "ohat": []}
    if style == "techno":
        return {
            "kick": [0, 1, 2, 3],
            "snare": [],
            "hat": [x / 4 for x in range(16)],
            "ohat": [0.5, 1.5, 2.5, 3.5],
        }
    # house: four on the floor, clap on 2 and 4, open hat on the off-beat
    return {"kick": [0, 1, 2, 3], "snare": [1, 3], "hat": [], "ohat": [0.5, 1.5, 2.5, 3.5]}


def synth_clip(spec: ClipSpec, *, sr: int = SR, stereo: bool = False) -> np.ndarray:
    """Render a clip; returns float32 mono (n,) or stereo (n, 2) in -1..1."""
    rng = np.random.default_rng(spec.seed)
    style = spec.resolved_style()
    n = int(spec.seconds * sr)
    beat = 60.0 / spec.bpm
    drums = np.zeros(n, dtype=np.float32)
    bass = np.zeros(n, dtype=np.float32)
    keys = np.zeros(n, dtype=np.float32)
    kick, snare, hat, ohat = _kick(sr), _snare(sr, rng), _hat(sr, rng), _hat(sr, rng, True)
    crash = _crash(sr, rng) if spec.phrase_crash else None
    pattern = drum_pattern(style)
    progs = _MINOR_PROGRESSIONS if spec.scale == "minor" else _MAJOR_PROGRESSIONS
    prog = progs[spec.progression % len(progs)]
    n_bars = int(np.ceil(spec.seconds / (4 * beat))) + 1
    bass_step = 0.5 if style in ("house", "techno") else 1.0
    for bar in range(n_bars):
        t0 = bar * 4 * beat
        for name, sample, gain in (
            ("kick", kick, 0.9),
            ("snare", snare, 0.6),
            ("hat", hat, 0.5),
            ("ohat", ohat, 0.5),
        ):
            for pos in pattern[name]:
                _add(drums, sample, int((t0 + pos * beat) * sr), gain * rng.uniform(0.85, 1.0))
        degree, quality = prog[(bar + spec.rotation) % len(prog)]
        root_pc = (spec.tonic + degree) % 12
        if spec.phrase_crash and (bar + spec.rotation) % len(prog) == 0:
            _add(drums, crash, int(t0 * sr), 0.7)
        # Bass: root in octave 2 (MIDI 36..47); off-beat eighths for house, on the beat otherwise.
        bass_midi = 36 + root_pc
        bass_len = int(bass_step * beat * sr * 0.9)
        b = _tone(_midi_hz(bass_midi), bass_len, sr, harmonics=6, decay_s=0.4, bright=0.55)
        pos = 0.5 if bass_step == 0.5 else 0.0
        while pos < 4:
            _add(bass, b, int((t0 + pos * beat) * sr), 0.5)
            pos += 2 * bass_step if bass_step == 0.5 else bass_step
        # Chords: close-voiced triad around middle C, held for the bar (a pad).
        chord_len = int(4 * beat * sr)
        for iv in _TRIADS[quality]:
            m = 60 + (root_pc + iv - 60 % 12) % 12
            m = m if m <= 67 else m - 12
            _add(
                keys,
                _tone(_midi_hz(m), chord_len, sr, harmonics=5, decay_s=6.0, bright=0.45),
                int(t0 * sr),
                0.16,
            )
        # A simple arpeggio on the chord tones, eighth notes one octave up, adds melody-like content.
        arp_len = int(0.5 * beat * sr * 0.8)
        for i in range(8):
            iv = _TRIADS[quality][i % 3]
            m = 72 + (root_pc + iv) % 12
            _add(
                keys,
                _tone(_midi_hz(m), arp_len, sr, harmonics=3, decay_s=0.15, bright=0.3),
                int((t0 + i * 0.5 * beat) * sr),
                0.06,
            )
    mix = 0.8 * drums + 0.9 * bass + keys
    mix /= max(1e-9, float(np.max(np.abs(mix)))) / 0.7
    if not stereo:
        return mix.astype(np.float32)
    # Spread the chords a little so left/right differ (exercises the stereo path).
    left = 0.8 * drums + 0.9 * bass + 1.1 * keys
    right = 0.8 * drums + 0.9 * bass + 0.9 * keys
    st = np.stack([left, right], axis=1)
    st /= max(1e-9, float(np.max(np.abs(st)))) / 0.7
    return st.astype(np.float32)


def wav_bytes(signal: np.ndarray, *, sr: int = SR) -> bytes:
    """16-bit PCM WAV of a mono (n,) or stereo (n, 2) float signal."""
    sig = np.asarray(signal, dtype=np.float32)
    channels = 1 if sig.ndim == 1 else sig.shape[1]
    pcm = (np.clip(sig, -1, 1) * 32767).astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(sr)
        w.writeframes(pcm.tobytes())
    return buf.getvalue()


def write_wav(path: Path, signal: np.ndarray, *, sr: int = SR) -> Path:
    path.write_bytes(wav_bytes(signal, sr=sr))
    return path


_CODECS = {
    ".mp3": ["-c:a", "libmp3lame", "-b:a", "192k"],
    ".flac": ["-c:a", "flac"],
    ".m4a": ["-c:a", "aac", "-b:a", "160k"],
    ".aac": ["-c:a", "aac", "-b:a", "160k", "-f", "adts"],
    ".aiff": ["-c:a", "pcm_s16be"],
    ".aif": ["-c:a", "pcm_s16be"],
    ".ogg": ["-c:a", "libvorbis", "-q:a", "5"],
    ".opus": ["-c:a", "libopus", "-b:a", "128k"],
    ".wav": ["-c:a", "pcm_s16le"],
}


def encode(wav_path: Path, out_path: Path) -> Path:
    """Encode a WAV into out_path's format with the ffmpeg CLI (test/bench fixture helper only)."""
    if shutil.which("ffmpeg") is None:
        raise RuntimeError("ffmpeg CLI not found (Debian package ffmpeg)")
    args = _CODECS[out_path.suffix.lower()]
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-i", str(wav_path), *args, str(out_path)],
        check=True,
    )
    return out_path


def accuracy_set(
    n_per_key: int = 4,
    *,
    seconds: float = 30.0,
    seed: int = 1234,
    rotate: bool = False,
    phrase_crash: bool = False,
) -> list[ClipSpec]:
    """24 keys x n_per_key tempi spread over 70..175 BPM, all styles and progressions covered.

    seed=1234 is the benchmark set the analysis was tuned on; other seeds give held-out sets (other
    tempo/key pairings, drum velocities and noise). rotate=True starts each clip's progression at a
    random bar (uniform 0..3, its own random stream so the tempo/key pairing of a seed is unchanged),
    so the first bar is usually not the tonic chord. phrase_crash=True marks every phrase start
    (the progression's first bar) with a crash cymbal, wherever the clip starts."""
    specs: list[ClipSpec] = []
    tempi = np.linspace(70, 175, 24 * n_per_key)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(tempi))
    rot_rng = np.random.default_rng([seed, 0x707])
    i = 0
    for scale in ("minor", "major"):
        for tonic in range(12):
            for j in range(n_per_key):
                bpm = round(float(tempi[order[i]]), 1)
                specs.append(
                    ClipSpec(
                        bpm=bpm,
                        tonic=tonic,
                        scale=scale,
                        seconds=seconds,
                        progression=j + tonic,
                        seed=i + (0 if seed == 1234 else seed * 1000),
                        rotation=int(rot_rng.integers(0, 4)) if rotate else 0,
                        phrase_crash=phrase_crash,
                    )
                )
                i += 1
    return specs


SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")  # Debian package fluid-soundfont-gm


def clip_midi(spec: ClipSpec, path: Path) -> Path:
    """The same arrangement as synth_clip as General MIDI: drums (channel 10), synth bass, pad, lead."""
    import mido

    tpb = 480
    mid = mido.MidiFile(ticks_per_beat=tpb)
    style = spec.resolved_style()
    pattern = drum_pattern(style)
    progs = _MINOR_PROGRESSIONS if spec.scale == "minor" else _MAJOR_PROGRESSIONS
    prog = progs[spec.progression % len(progs)]
    n_bars = int(np.ceil(spec.seconds * spec.bpm / 240.0))
    events: list[tuple[int, int, mido.Message]] = []  # (tick, order, msg); note-offs sort first

    def note(ch: int, pitch: int, start_beats: float, dur_beats: float, vel: int) -> None:
        t0 = round(start_beats * tpb)
        events.append((t0, 1, mido.Message("note_on", channel=ch, note=pitch, velocity=vel)))
        events.append(
            (t0 + max(1, int(dur_beats * tpb)), 0, mido.Message("note_off", channel=ch, note=pitch))
        )

    rng = np.random.default_rng(spec.seed)
    drum_notes = {"kick": 36, "snare": 38, "hat": 42, "ohat": 46}
    bass_step = 0.5 if style in ("house", "techno") else 1.0
    for bar in range(n_bars):
        b0 = bar * 4
        for name, pitch in drum_notes.items():
            for pos in pattern[name]:
                note(9, pitch, b0 + pos, 0.25, int(rng.integers(90, 120)))
        degree, quality = prog[(bar + spec.rotation) % len(prog)]
        root_pc = (spec.tonic + degree) % 12
        if spec.phrase_crash and (bar + spec.rotation) % len(prog) == 0:
            note(9, 49, b0, 1.0, 110)  # GM Crash Cymbal 1
        pos = 0.5 if bass_step == 0.5 else 0.0
        while pos < 4:
            note(0, 36 + root_pc, b0 + pos, bass_step * 0.9, 100)
            pos += 2 * bass_step if bass_step == 0.5 else bass_step
        for iv in _TRIADS[quality]:
            m = 60 + (root_pc + iv) % 12
            note(1, m if m <= 67 else m - 12, b0, 3.95, 70)
        for i in range(8):
            note(2, 72 + (root_pc + _TRIADS[quality][i % 3]) % 12, b0 + i * 0.5, 0.4, 60)
    track = mido.MidiTrack()
    track.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(spec.bpm), time=0))
    for ch, program in ((0, 38), (1, 89), (2, 80)):  # Synth Bass 1, Pad 2 (warm), Lead 1 (square)
        track.append(mido.Message("program_change", channel=ch, program=program, time=0))
    last = 0
    for tick, _order, msg in sorted(events, key=lambda e: (e[0], e[1])):
        track.append(msg.copy(time=tick - last))
        last = tick
    mid.tracks.append(track)
    mid.save(str(path))
    return path


def render_fluidsynth(spec: ClipSpec, wav_path: Path, *, soundfont: Path = SOUNDFONT) -> Path:
    """Render clip_midi with FluidSynth and the GM SoundFont, trimmed to spec.seconds."""
    if shutil.which("fluidsynth") is None or not soundfont.exists():
        raise RuntimeError("fluidsynth and fluid-soundfont-gm are needed (Debian packages)")
    midi = clip_midi(spec, wav_path.with_suffix(".mid"))
    raw = wav_path.with_suffix(".raw.wav")
    subprocess.run(
        ["fluidsynth", "-ni", "-q", "-g", "0.6", "-r", str(SR), "-F", str(raw), str(soundfont), str(midi)],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [
            "ffmpeg",
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-i",
            str(raw),
            "-t",
            f"{spec.seconds:.3f}",
            "-c:a",
            "pcm_s16le",
            str(wav_path),
        ],
        check=True,
    )
    raw.unlink()
    midi.unlink()
    return wav_path
