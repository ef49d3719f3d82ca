"""Clip specifications: genre bands, arrangements, keys, durations, formats; the splits and the manifest."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np

PITCH_CLASSES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")

# Bump when score.py or a renderer changes what a spec sounds like: clip ids (and the cache) change.
COMPOSER_VERSION = 1

# genre -> (lowest BPM, highest BPM, swing range as a fraction of a 16th note)
GENRES: dict[str, tuple[float, float, tuple[float, float]]] = {
    "boom_bap": (84, 98, (0.12, 0.30)),
    "downtempo": (70, 96, (0.08, 0.25)),
    "house": (118, 128, (0.0, 0.08)),
    "techno": (125, 135, (0.0, 0.0)),
    "trance": (136, 142, (0.0, 0.0)),
    "dubstep": (140, 140, (0.0, 0.10)),
    "drum_and_bass": (170, 178, (0.0, 0.05)),
    "breaks": (126, 134, (0.0, 0.12)),
}

# Tempo bands for the report (a genre maps to one band).
BANDS = {
    "boom_bap": "70-100 hip-hop/downtempo",
    "downtempo": "70-100 hip-hop/downtempo",
    "house": "118-135 house/techno",
    "techno": "118-135 house/techno",
    "breaks": "~130 breaks",
    "trance": "136-142 trance",
    "dubstep": "140 dubstep/halftime",
    "drum_and_bass": "170-178 drum & bass",
}

DURATIONS = (30.0, 45.0, 60.0, 90.0, 120.0, 180.0)
FORMATS = ("mp3", "flac", "ogg")

# Progressions as (semitones above the tonic, chord quality). Several start away from the tonic; the
# renderer also rotates each one to start at a random bar. "7" is a dominant seventh (harmonic minor V).
MINOR_PROGRESSIONS = (
    ((0, "min"), (8, "maj"), (3, "maj"), (10, "maj")),  # i VI III VII
    ((0, "min"), (10, "maj"), (8, "maj"), (10, "maj")),  # i VII VI VII
    ((0, "min"), (5, "min"), (7, "min"), (0, "min")),  # i iv v i
    ((0, "min"), (8, "maj"), (5, "min"), (7, "7")),  # i VI iv V7
    ((0, "min"), (0, "min"), (5, "min"), (8, "maj")),  # i i iv VI
    ((8, "maj"), (10, "maj"), (0, "min"), (0, "min")),  # VI VII i i
    ((5, "min"), (0, "min"), (10, "maj"), (0, "min")),  # iv i VII i
    ((0, "min"), (3, "maj"), (10, "maj"), (5, "min")),  # i III VII iv
)
MAJOR_PROGRESSIONS = (
    ((0, "maj"), (7, "maj"), (9, "min"), (5, "maj")),  # I V vi IV
    ((0, "maj"), (5, "maj"), (7, "maj"), (5, "maj")),  # I IV V IV
    ((5, "maj"), (7, "maj"), (0, "maj"), (0, "maj")),  # IV V I I
    ((0, "maj"), (9, "min"), (2, "min"), (7, "7")),  # I vi ii V7
    ((2, "min"), (7, "7"), (0, "maj"), (0, "maj")),  # ii V7 I I
    ((0, "maj"), (4, "min"), (5, "maj"), (7, "maj")),  # I iii IV V
    ((0, "maj"), (0, "maj"), (5, "maj"), (7, "maj")),  # I I IV V
    ((9, "min"), (5, "maj"), (0, "maj"), (7, "maj")),  # vi IV I V
)


@dataclass(frozen=True)
class HeldoutSpec:
    """One clip: the ground truth (bpm, tonic, mode) and every choice the composer made."""

    index: int
    generator: str
    seed: int  # the set's seed
    clip_seed: int  # this clip's own seed (notes, velocities, sounds)
    genre: str
    bpm: float
    tonic: int  # pitch class, 0 = C
    mode: str  # "major" | "minor"
    seconds: float
    fmt: str
    progression: int  # index into the mode's progressions
    rotation: int  # the progression starts at this chord
    bars_per_chord: int  # 1 or 2
    swing: float  # fraction of a 16th note that off-16ths are late by
    intro: str  # "full" | "drums_only" | "bass_only"
    breakdown: bool  # 8 bars without drums in the middle (long clips only)
    phrase_marks: bool  # crash on every 8-bar phrase start
    lead: bool  # a melody line over the chords

    @property
    def key_name(self) -> str:
        return f"{PITCH_CLASSES[self.tonic]} {self.mode}"

    @property
    def band(self) -> str:
        return BANDS[self.genre]

    @property
    def clip_id(self) -> str:
        digest = hashlib.sha1(
            json.dumps(asdict(self) | {"v": COMPOSER_VERSION}, sort_keys=True).encode()
        ).hexdigest()[:8]
        key = f"{PITCH_CLASSES[self.tonic]}{self.mode[:3]}"
        return f"{self.generator}_s{self.seed}_{self.index:03d}_{self.genre}_{self.bpm:g}_{key}_{digest}"

    def progression_chords(self) -> tuple[tuple[int, str], ...]:
        progs = MINOR_PROGRESSIONS if self.mode == "minor" else MAJOR_PROGRESSIONS
        prog = progs[self.progression % len(progs)]
        r = self.rotation % len(prog)
        return prog[r:] + prog[:r]


def make_set(generator: str, seed: int, n: int = 48) -> list[HeldoutSpec]:
    """n clips: keys cycle through all 24 (shuffled), genres and durations balanced, choices by seed."""
    rng = np.random.default_rng([seed, 0x4D1D])
    keys = [(pc, mode) for mode in ("major", "minor") for pc in range(12)]
    genres = list(GENRES)
    key_order = np.concatenate([rng.permutation(len(keys)) for _ in range(-(-n // len(keys)))])[:n]
    genre_order = np.concatenate([rng.permutation(len(genres)) for _ in range(-(-n // len(genres)))])[:n]
    dur_order = np.concatenate([rng.permutation(len(DURATIONS)) for _ in range(-(-n // len(DURATIONS)))])[:n]
    specs = []
    for i in range(n):
        tonic, mode = keys[int(key_order[i])]
        genre = genres[int(genre_order[i])]
        lo, hi, (sw_lo, sw_hi) = GENRES[genre]
        bpm = float(rng.integers(int(lo), int(hi) + 1))
        seconds = DURATIONS[int(dur_order[i])]
        n_prog = len(MINOR_PROGRESSIONS if mode == "minor" else MAJOR_PROGRESSIONS)
        specs.append(
            HeldoutSpec(
                index=i,
                generator=generator,
                seed=seed,
                clip_seed=int(rng.integers(0, 2**31 - 1)),
                genre=genre,
                bpm=bpm,
                tonic=tonic,
                mode=mode,
                seconds=seconds,
                fmt=FORMATS[i % len(FORMATS)],
                progression=int(rng.integers(0, n_prog)),
                rotation=int(rng.integers(0, 4)),
                bars_per_chord=int(rng.choice([1, 2], p=[0.6, 0.4])),
                swing=round(float(rng.uniform(sw_lo, sw_hi)), 3),
                intro=str(rng.choice(["full", "drums_only", "bass_only"], p=[0.4, 0.3, 0.3])),
                breakdown=bool(seconds >= 90 and rng.random() < 0.6),
                phrase_marks=bool(rng.random() < 0.5),
                lead=bool(rng.random() < 0.7),
            )
        )
    return specs


# The splits: (split, generator, seed). Tune only on "tuning"; "test" is frozen in manifest.json.
SETS: tuple[tuple[str, str, int], ...] = (
    ("tuning", "fluidsynth_fluidr3", 1),
    # Added 2026-12-06 (the test split untouched): tuning material from the other two generators, other seeds.
    ("tuning", "numpy_synth", 5),
    ("tuning", "fluidsynth_timgm6mb", 6),
    ("test", "fluidsynth_fluidr3", 2),
    ("test", "numpy_synth", 3),
    ("test", "fluidsynth_timgm6mb", 4),
)
GENERATORS = ("fluidsynth_fluidr3", "numpy_synth", "fluidsynth_timgm6mb")
PER_SET = 48
MANIFEST = Path(__file__).with_name("manifest.json")


def all_specs(per_set: int = PER_SET) -> dict[tuple[str, str, int], list[HeldoutSpec]]:
    return {s: make_set(s[1], s[2], per_set) for s in SETS}


def manifest_entries(per_set: int = PER_SET) -> list[dict]:
    out = []
    for (split, _gen, _seed), specs in all_specs(per_set).items():
        for s in specs:
            out.append(
                {"split": split, "clip_id": s.clip_id, "key": s.key_name, "band": s.band}
                | asdict(s)
            )
    return out


def write_manifest(path: Path = MANIFEST, per_set: int = PER_SET) -> None:
    doc = {
        "composer_version": COMPOSER_VERSION,
        "per_set": per_set,
        "sets": [{"split": a, "generator": b, "seed": c} for a, b, c in SETS],
        "clips": manifest_entries(per_set),
    }
    path.write_text(json.dumps(doc, indent=1) + "\n")


def load_manifest(path: Path = MANIFEST) -> list[tuple[str, HeldoutSpec]]:
    doc = json.loads(path.read_text())
    names = {f.name for f in fields(HeldoutSpec)}
    return [(c["split"], HeldoutSpec(**{k: v for k, v in c.items() if k in names})) for c in doc["clips"]]


def manifest_is_current(path: Path = MANIFEST) -> bool:
    """True when the frozen manifest is exactly what the code generates today."""
    if not path.exists():
        return False
    doc = json.loads(path.read_text())
    return doc["clips"] == manifest_entries(doc["per_set"]) and doc["composer_version"] == COMPOSER_VERSION
