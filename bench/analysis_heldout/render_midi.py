"""Generators A and C: the score as General MIDI (mido), rendered by FluidSynth with a soundfont."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np

from bench.analysis_heldout.score import DRUM_ROLES, compose
from bench.analysis_heldout.specs import HeldoutSpec

SOUNDFONTS = {
    "fluidsynth_fluidr3": Path("/usr/share/sounds/sf2/FluidR3_GM.sf2"),  # Debian fluid-soundfont-gm
    "fluidsynth_timgm6mb": Path("/usr/share/sounds/sf2/TimGM6mb.sf2"),  # Debian timgm6mb-soundfont
}

# General MIDI program pools (0-based) per role; one of each is drawn per clip.
BASS = {
    "default": (38, 39, 33, 34, 35, 32, 87),
    "dubstep": (38, 39, 87, 81),
    "drum_and_bass": (38, 39, 87, 81, 33),
}
PAD = (88, 89, 90, 91, 48, 50, 4, 16, 0, 94)
STAB = (4, 5, 16, 0, 62, 90, 17)
LEAD = (80, 81, 11, 73, 0, 82, 12, 84, 8)
# Drum kits (bank 128 programs present in both soundfonts): standard, room, power, electronic, TR-808.
KITS = {
    "boom_bap": (25, 0, 8),
    "downtempo": (0, 8, 25, 24),
    "house": (25, 24, 0),
    "techno": (25, 24, 16),
    "trance": (24, 25, 0),
    "dubstep": (24, 25, 16),
    "drum_and_bass": (0, 8, 16),
    "breaks": (0, 8, 16, 24),
}
DRUM_NOTES = {"kick": (36, 35), "snare": (38, 40), "clap": (39,), "hat": (42,), "ohat": (46,), "ride": (51, 59), "crash": (49, 57)}


def clip_midi(spec: HeldoutSpec, path: Path) -> Path:
    import mido

    rng = np.random.default_rng([spec.clip_seed, 11])
    tpb = 960
    channels = {"bass": 0, "pad": 1, "stab": 1, "lead": 2}
    programs = {
        0: int(rng.choice(BASS.get(spec.genre, BASS["default"]))),
        1: int(rng.choice(STAB if spec.genre in ("house", "techno") else PAD)),
        2: int(rng.choice(LEAD)),
    }
    kit = int(rng.choice(KITS[spec.genre]))
    drum_note = {r: int(rng.choice(DRUM_NOTES[r])) for r in DRUM_ROLES}
    events: list[tuple[int, int, mido.Message]] = []
    for n in compose(spec):
        if n.role in DRUM_ROLES:
            ch, pitch = 9, drum_note[n.role]
        else:
            ch, pitch = channels[n.role], n.pitch
        t0 = round(n.beat * tpb)
        t1 = t0 + max(1, round(n.dur * tpb))
        events.append((t0, 1, mido.Message("note_on", channel=ch, note=pitch, velocity=n.vel)))
        events.append((t1, 0, mido.Message("note_off", channel=ch, note=pitch)))
    track = mido.MidiTrack()
    track.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(spec.bpm), time=0))
    track.append(mido.Message("program_change", channel=9, program=kit, time=0))
    for ch, prog in programs.items():
        track.append(mido.Message("program_change", channel=ch, program=prog, time=0))
    for ch, (lo, hi) in {9: (105, 120), 0: (95, 120), 1: (65, 95), 2: (70, 100)}.items():
        track.append(mido.Message("control_change", channel=ch, control=7, value=int(rng.integers(lo, hi)), time=0))
        track.append(mido.Message("control_change", channel=ch, control=91, value=int(rng.integers(10, 70)), time=0))
    last = 0
    for tick, _order, msg in sorted(events, key=lambda e: (e[0], e[1])):
        track.append(msg.copy(time=tick - last))
        last = tick
    mid = mido.MidiFile(ticks_per_beat=tpb)
    mid.tracks.append(track)
    mid.save(str(path))
    return path


def render(spec: HeldoutSpec, wav_path: Path, *, sample_rate: int = 44100) -> Path:
    """The clip as a WAV (untrimmed: the caller trims while encoding)."""
    soundfont = SOUNDFONTS[spec.generator]
    if shutil.which("fluidsynth") is None or not soundfont.exists():
        raise RuntimeError(f"{spec.generator} needs fluidsynth and {soundfont} (Debian packages)")
    midi = clip_midi(spec, wav_path.with_suffix(".mid"))
    try:
        subprocess.run(
            ["fluidsynth", "-ni", "-q", "-g", "0.45", "-r", str(sample_rate), "-F", str(wav_path), str(soundfont), str(midi)],
            check=True,
            capture_output=True,
        )
    finally:
        midi.unlink(missing_ok=True)
    return wav_path
