"""The composer: a spec -> a list of notes (in beats), with the genre's groove and the clip's arrangement.

Both renderers play the same score; they differ in every sound. Conventions per genre:

- boom_bap 84-98: kick on 1 and the "and" of 3 (variants), snare on 2 and 4, swung 16ths;
- downtempo 70-96: sparse kick, snare 2 and 4, 8ths swung;
- house 118-128: four on the floor, clap 2 and 4, open hat on the off-beats, off-beat bass;
- techno 125-135: four on the floor, 16th hats, rolling or off-beat bass;
- trance 136-142: four on the floor, off-beat open hat, rolling 16th bass ("k-b-b-b");
- dubstep 140: half time: kick on 1, snare on 3 only, long sub bass;
- drum_and_bass 170-178: two-step: kick on 1 and the "and" of 3, snare on 2 and 4;
- breaks 126-134: broken kick (1, "and" of 1, 3 "and", ...), snare 2 and 4 with ghost notes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bench.analysis_heldout.specs import HeldoutSpec

CHORD_TONES = {"maj": (0, 4, 7), "min": (0, 3, 7), "7": (0, 4, 7, 10)}
DRUM_ROLES = ("kick", "snare", "clap", "hat", "ohat", "ride", "crash")


@dataclass(frozen=True)
class Note:
    role: str  # a DRUM_ROLES name, or "bass" | "pad" | "stab" | "lead"
    pitch: int  # MIDI note number (drums: 0; the renderer picks the sound)
    beat: float  # start, in beats from the clip start
    dur: float  # length in beats
    vel: int  # 1..127


def _drum_pattern(genre: str, rng: np.random.Generator) -> dict[str, list[tuple[int, int]]]:
    """16th-step positions in one bar with a velocity each: {role: [(step, velocity), ...]}."""
    even8 = list(range(0, 16, 2))
    all16 = list(range(16))

    def v(steps, lo=90, hi=120):
        return [(s, int(rng.integers(lo, hi))) for s in steps]

    if genre == "boom_bap":
        kick = [[0, 10], [0, 7, 10], [0, 3, 10, 11], [0, 8, 10]][int(rng.integers(4))]
        hats = all16 if rng.random() < 0.4 else even8
        return {"kick": v(kick, 100, 125), "snare": v([4, 12], 100, 125), "hat": v(hats, 45, 85)}
    if genre == "downtempo":
        kick = [[0, 11], [0, 6, 10], [0, 9]][int(rng.integers(3))]
        p = {"kick": v(kick, 90, 115), "snare": v([4, 12], 80, 105), "hat": v(even8, 40, 75)}
        if rng.random() < 0.5:
            p["ride"] = v([0, 4, 8, 12], 45, 70)
        return p
    if genre in ("house", "techno", "trance"):
        p = {"kick": v([0, 4, 8, 12], 110, 127), "ohat": v([2, 6, 10, 14], 60, 95)}
        if genre != "techno" or rng.random() < 0.5:
            p["clap"] = v([4, 12], 85, 115)
        if genre != "house" or rng.random() < 0.5:
            p["hat"] = v(all16, 30, 70)
        return p
    if genre == "dubstep":
        kick = [[0], [0, 10], [0, 3]][int(rng.integers(3))]
        hats = even8 if rng.random() < 0.5 else [0, 3, 6, 8, 11, 14]
        return {"kick": v(kick, 110, 127), "snare": v([8], 110, 127), "hat": v(hats, 40, 80)}
    if genre == "drum_and_bass":
        p = {"kick": v([0, 10], 105, 127), "snare": v([4, 12], 105, 127), "hat": v(even8, 45, 85)}
        if rng.random() < 0.5:
            p["snare"] += v([7, 15], 30, 50)  # ghost notes
        if rng.random() < 0.4:
            p["ride"] = v(even8, 40, 65)
        return p
    if genre == "breaks":
        kick = [[0, 2, 10, 11], [0, 6, 10], [0, 3, 10]][int(rng.integers(3))]
        return {
            "kick": v(kick, 100, 125),
            "snare": v([4, 12], 100, 125) + v([7, 9, 15], 35, 55),
            "hat": v(even8, 50, 90),
        }
    raise ValueError(genre)


def _bass_steps(genre: str, rng: np.random.Generator, kick_steps: list[int]) -> list[tuple[int, float]]:
    """(16th step, length in steps) for one bar."""
    if genre in ("boom_bap", "downtempo"):
        steps = sorted(set(kick_steps) | ({14} if rng.random() < 0.5 else set()))
        return [(s, float((steps[i + 1] if i + 1 < len(steps) else 16) - s) * 0.9) for i, s in enumerate(steps)]
    if genre == "house":
        return [(s, 1.6) for s in (2, 6, 10, 14)] if rng.random() < 0.6 else [(s, 1.6) for s in (0, 3, 6, 10, 14)]
    if genre == "techno":
        return [(s, 1.5) for s in (2, 6, 10, 14)] if rng.random() < 0.5 else [
            (s, 0.8) for s in range(16) if s % 4
        ]
    if genre == "trance":
        return [(s, 0.8) for s in range(16) if s % 4]
    if genre == "dubstep":
        return [(0, 7.5), (8, 6.0)] if rng.random() < 0.5 else [(0, 15.5)]
    if genre == "drum_and_bass":
        return [(0, 6.0), (10, 5.5)] if rng.random() < 0.6 else [(0, 15.5)]
    if genre == "breaks":
        return [(0, 2.5), (3, 2.5), (6, 3.5), (10, 2.5), (13, 2.5)]
    raise ValueError(genre)


def chord_at(spec: HeldoutSpec, bar: int) -> tuple[int, str]:
    """(root pitch class, quality) of the chord playing in this bar."""
    prog = spec.progression_chords()
    degree, quality = prog[(bar // spec.bars_per_chord) % len(prog)]
    return (spec.tonic + degree) % 12, quality


def n_bars(spec: HeldoutSpec) -> int:
    return int(np.ceil(spec.seconds * spec.bpm / 240.0)) + 1  # one spare bar; the renderer trims


def layers(spec: HeldoutSpec) -> list[dict[str, bool]]:
    """Per bar, which layers play: drums, bass, harmony (pad/stab), lead."""
    total = n_bars(spec)
    intro = min(8, max(2, total // 4)) if spec.intro != "full" else 0
    bd0 = None
    if spec.breakdown and total >= 32:
        bd0 = (int(total * 0.55) // 4) * 4
    out = []
    for bar in range(total):
        on = {"drums": True, "bass": True, "harmony": True, "lead": spec.lead}
        if bar < intro:
            if spec.intro == "drums_only":
                on = {"drums": True, "bass": False, "harmony": False, "lead": False}
            else:  # bass_only
                on = {"drums": False, "bass": True, "harmony": False, "lead": False}
        elif bd0 is not None and bd0 <= bar < bd0 + 8:
            on = {"drums": False, "bass": bar >= bd0 + 4, "harmony": True, "lead": spec.lead}
        elif spec.lead and (bar // 8) % 2 == 0 and bar >= intro + 8:
            on["lead"] = False  # the melody comes and goes in 8-bar blocks
        out.append(on)
    return out


def compose(spec: HeldoutSpec) -> list[Note]:
    rng = np.random.default_rng([spec.clip_seed, 7])
    pattern = _drum_pattern(spec.genre, rng)
    bass_steps = _bass_steps(spec.genre, rng, [s for s, _ in pattern["kick"]])
    use_stabs = spec.genre in ("house", "techno") and rng.random() < 0.5
    swing_unit = 2 if spec.genre in ("downtempo", "dubstep") else 1  # swing 8ths or 16ths
    jitter_ms = 8.0 if spec.genre in ("boom_bap", "downtempo") else 3.0
    beat_s = 60.0 / spec.bpm
    # A lead rhythm per clip: 3-6 notes per bar on 16th steps, repeated with new pitches each bar.
    lead_steps = sorted(rng.choice(np.arange(0, 16, 2), size=int(rng.integers(3, 7)), replace=False).tolist())
    scale = (0, 2, 3, 5, 7, 8, 10) if spec.mode == "minor" else (0, 2, 4, 5, 7, 9, 11)
    bass_octave = 28 + (spec.tonic - 4) % 12  # the tonic between E1 and D#2
    notes: list[Note] = []

    def when(bar: int, step: float) -> float:
        beat = bar * 4 + step / 4.0
        unit_pos = step / swing_unit
        if spec.swing and int(step) == step and int(unit_pos) == unit_pos and int(unit_pos) % 2 == 1:
            beat += spec.swing * swing_unit / 4.0
        return max(0.0, beat + rng.normal(0.0, jitter_ms / 1000.0) / beat_s)

    for bar, on in enumerate(layers(spec)):
        root, quality = chord_at(spec, bar)
        tones = CHORD_TONES[quality]
        if on["drums"]:
            for role, hits in pattern.items():
                for step, vel in hits:
                    vel = int(np.clip(vel + rng.integers(-8, 9), 20, 127))
                    notes.append(Note(role, 0, when(bar, step), 0.25, vel))
        if spec.phrase_marks and bar % 8 == 0 and (on["drums"] or on["harmony"]):
            notes.append(Note("crash", 0, bar * 4.0, 2.0, 110))
        if on["bass"]:
            root_midi = bass_octave + (root - spec.tonic) % 12
            if root_midi > 40:
                root_midi -= 12
            for i, (step, length) in enumerate(bass_steps):
                pitch = root_midi
                if spec.genre in ("boom_bap", "downtempo", "breaks") and i == len(bass_steps) - 1 and rng.random() < 0.4:
                    pitch = root_midi + 7  # a fifth as a passing note
                elif spec.genre in ("house", "techno") and i % 2 == 1 and rng.random() < 0.3:
                    pitch = root_midi + 12
                notes.append(Note("bass", pitch, when(bar, step), length / 4.0, int(rng.integers(95, 115))))
        if on["harmony"]:
            voiced = []
            for iv in tones:
                m = 60 + (root + iv) % 12
                voiced.append(m if m <= 67 else m - 12)
            if use_stabs:
                for step in (2, 6, 10, 14) if rng.random() < 0.5 else (0, 3, 6, 10):
                    for m in voiced:
                        notes.append(Note("stab", m, when(bar, step), 0.4, int(rng.integers(70, 95))))
            elif bar % spec.bars_per_chord == 0:
                for m in voiced:
                    notes.append(Note("pad", m, bar * 4.0, 4.0 * spec.bars_per_chord - 0.05, int(rng.integers(55, 75))))
        if on["lead"]:
            cycle_end = (bar + 1) % (len(spec.progression_chords()) * spec.bars_per_chord) == 0
            for j, step in enumerate(lead_steps):
                last = j == len(lead_steps) - 1
                if last and cycle_end:
                    pc = spec.tonic  # phrases resolve to the tonic
                elif rng.random() < 0.7 or quality == "7":
                    pc = (root + tones[int(rng.integers(len(tones)))]) % 12
                else:
                    pc = (spec.tonic + scale[int(rng.integers(len(scale)))]) % 12
                m = 72 + (pc - 0) % 12
                nxt = lead_steps[j + 1] if j + 1 < len(lead_steps) else 16
                notes.append(Note("lead", m, when(bar, step), (nxt - step) * 0.22, int(rng.integers(70, 100))))
    notes.sort(key=lambda n: n.beat)
    return notes
