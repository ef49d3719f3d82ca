"""Musical key <-> Camelot wheel math, shared by analysis, the set builder and the web app.

Camelot codes: number 1..12 around the circle of fifths, letter A (minor) or B (major).
8B is C major, 8A is A minor (its relative). Moving +1 on the wheel is a fifth up.
Open Key notation (used by Traktor) is the same wheel rotated: 1d = C major, 1m = A minor.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

PITCH_CLASSES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")

_NOTE_TO_PC = {
    "C": 0,
    "B#": 0,
    "C#": 1,
    "DB": 1,
    "D": 2,
    "D#": 3,
    "EB": 3,
    "E": 4,
    "FB": 4,
    "F": 5,
    "E#": 5,
    "F#": 6,
    "GB": 6,
    "G": 7,
    "G#": 8,
    "AB": 8,
    "A": 9,
    "A#": 10,
    "BB": 10,
    "B": 11,
    "CB": 11,
}

_MINOR_WORDS = {"m", "min", "minor", "moll", "-"}
_MAJOR_WORDS = {"", "maj", "major", "dur", "M"}


class KeyParseError(ValueError):
    """Raised for a key or Camelot code that cannot be understood."""


@dataclass(frozen=True, slots=True)
class CamelotKey:
    number: int  # 1..12
    letter: str  # "A" minor, "B" major

    def __post_init__(self) -> None:
        if not 1 <= self.number <= 12 or self.letter not in ("A", "B"):
            raise KeyParseError(f"invalid Camelot code {self.number}{self.letter}")

    @property
    def is_minor(self) -> bool:
        return self.letter == "A"

    @property
    def scale(self) -> str:
        return "minor" if self.is_minor else "major"

    @property
    def pitch_class(self) -> int:
        # Inverse of (7 * pc + offset) mod 12; 7 is its own inverse mod 12.
        offset = 5 if self.is_minor else 8
        return (7 * (self.number - offset)) % 12

    @property
    def tonic(self) -> str:
        return PITCH_CLASSES[self.pitch_class]

    @property
    def open_key(self) -> str:
        return f"{(self.number - 8) % 12 + 1}{'m' if self.is_minor else 'd'}"

    @property
    def musical(self) -> str:
        """Short musical name, e.g. 'Am', 'C', 'F#m'."""
        return f"{self.tonic}{'m' if self.is_minor else ''}"

    def shifted(self, steps: int) -> CamelotKey:
        return CamelotKey((self.number - 1 + steps) % 12 + 1, self.letter)

    def relative(self) -> CamelotKey:
        return CamelotKey(self.number, "B" if self.is_minor else "A")

    def transposed(self, semitones: int) -> CamelotKey:
        """The key after pitching the track by whole semitones (+1 semitone = +7 on the wheel)."""
        return self.shifted(7 * semitones)

    def __str__(self) -> str:
        return f"{self.number}{self.letter}"


def pitch_class(note: str) -> int:
    """'C' -> 0, 'F#' / 'gb' / 'G♭' -> 6: a note name's pitch class (C = 0). Accepts sharps and flats
    in any case; KeyParseError for anything else."""
    pc = _NOTE_TO_PC.get(note.strip().replace("♯", "#").replace("♭", "b").upper())
    if pc is None:
        raise KeyParseError(f"unknown key {note!r}")
    return pc


def key_to_camelot(key: str, scale: str) -> CamelotKey:
    """'A', 'minor' -> 8A. Accepts sharps and flats in any case."""
    pc = pitch_class(key)
    scale_norm = scale.strip().lower()
    if scale_norm in ("minor", "min", "m"):
        return CamelotKey((7 * pc + 5) % 12 or 12, "A")
    if scale_norm in ("major", "maj", ""):
        return CamelotKey((7 * pc + 8) % 12 or 12, "B")
    raise KeyParseError(f"unknown scale {scale!r} (expected 'major' or 'minor')")


_CAMELOT_RE = re.compile(r"^\s*(1[0-2]|0?[1-9])\s*([ABab])\s*$")
_OPENKEY_RE = re.compile(r"^\s*(1[0-2]|0?[1-9])\s*([dmDM])\s*$")
_MUSICAL_RE = re.compile(r"^\s*([A-Ga-g])\s*([#♯b♭]?)\s*(.*?)\s*$")


def parse_key(text: str) -> CamelotKey:
    """Parse a Camelot code ('8A'), Open Key ('1m') or musical key ('Am', 'F# minor', 'Ebmaj')."""
    if text is None or not str(text).strip():
        raise KeyParseError("empty key")
    text = str(text)
    if m := _CAMELOT_RE.match(text):
        return CamelotKey(int(m.group(1)), m.group(2).upper())
    if m := _OPENKEY_RE.match(text):
        number = (int(m.group(1)) - 1 + 7) % 12 + 1
        return CamelotKey(number, "A" if m.group(2).lower() == "m" else "B")
    if m := _MUSICAL_RE.match(text):
        note = m.group(1).upper() + m.group(2).replace("♯", "#").replace("♭", "b").upper()
        rest = m.group(3)
        if rest == "m" or rest.lower() in _MINOR_WORDS:
            scale = "minor"
        elif rest in _MAJOR_WORDS or rest.lower() in {"maj", "major", "dur"}:
            scale = "major"
        else:
            raise KeyParseError(f"unknown key {text!r}")
        try:
            pc = pitch_class(note)
        except KeyParseError:
            raise KeyParseError(f"unknown key {text!r}") from None
        return key_to_camelot(PITCH_CLASSES[pc], scale)
    raise KeyParseError(f"unknown key {text!r}")


class KeyMove(StrEnum):
    """How two keys relate, from a DJ's point of view (Mixed In Key's vocabulary)."""

    SAME = "same"
    ADJACENT = "adjacent"  # +/-1 on the wheel, same letter: a fifth up or down
    RELATIVE = "relative"  # same number, other letter: relative major/minor
    DIAGONAL = "diagonal"  # +/-1 and letter change: mood shift, usually fine
    ENERGY_BOOST = "energy_boost"  # +2 on the wheel: a whole tone up
    SEMITONE_UP = "semitone_up"  # +7 on the wheel: a semitone up, the classic key-change lift
    CLASH = "clash"


def wheel_steps(a: CamelotKey, b: CamelotKey) -> int:
    """Signed shortest distance around the wheel from a to b, in -5..+6."""
    d = (b.number - a.number) % 12
    return d - 12 if d > 6 else d


def camelot_distance(a: CamelotKey, b: CamelotKey) -> int:
    """Unsigned steps around the wheel plus one for a letter change (0 = same key)."""
    return abs(wheel_steps(a, b)) + (0 if a.letter == b.letter else 1)


def key_move(a: CamelotKey, b: CamelotKey) -> KeyMove:
    steps = wheel_steps(a, b)
    if a.letter == b.letter:
        if steps == 0:
            return KeyMove.SAME
        if abs(steps) == 1:
            return KeyMove.ADJACENT
        if steps == 2:
            return KeyMove.ENERGY_BOOST
        if (b.number - a.number) % 12 == 7:
            return KeyMove.SEMITONE_UP
        return KeyMove.CLASH
    if steps == 0:
        return KeyMove.RELATIVE
    # Diagonal mixing: minor -> major goes +1 (8A -> 9B), major -> minor goes -1 (8B -> 7A).
    if (a.is_minor and steps == 1) or (not a.is_minor and steps == -1):
        return KeyMove.DIAGONAL
    return KeyMove.CLASH


def describe_move(a: CamelotKey, b: CamelotKey) -> str:
    """'8A → 9A (+1)' as shown in set breakdowns."""
    steps = wheel_steps(a, b)
    sign = f"+{steps}" if steps > 0 else str(steps)
    letter = "" if a.letter == b.letter else ", relative" if steps == 0 else ", letter change"
    return f"{a} → {b} ({sign}{letter})"


ALL_KEYS = tuple(CamelotKey(n, letter) for n in range(1, 13) for letter in "AB")
DEFAULT_COMPATIBLE = frozenset({KeyMove.SAME, KeyMove.ADJACENT, KeyMove.RELATIVE})


def compatible_keys(key: CamelotKey, moves: frozenset[KeyMove] | set[KeyMove] = DEFAULT_COMPATIBLE) -> list[CamelotKey]:
    """Every key a track in `key` mixes into with one of `moves` (same, +/-1 and relative by default)."""
    return [other for other in ALL_KEYS if key_move(key, other) in moves]
