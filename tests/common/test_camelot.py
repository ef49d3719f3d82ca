"""Camelot wheel math (services/common/camelot.py) as the set builder relies on it."""

from __future__ import annotations

import pytest

from services.common.camelot import (
    PITCH_CLASSES,
    CamelotKey,
    KeyMove,
    KeyParseError,
    camelot_distance,
    describe_move,
    key_move,
    key_to_camelot,
    parse_key,
    pitch_class,
    wheel_steps,
)


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("8A", "8A"),
        ("08b", "8B"),
        ("Am", "8A"),
        ("C", "8B"),
        ("A minor", "8A"),
        ("F# minor", "11A"),
        ("Ebmaj", "5B"),
        ("1m", "8A"),
        ("1d", "8B"),
        ("Bb", "6B"),
        ("E", "12B"),
    ],
)
def test_parse_key(text, code):
    assert str(parse_key(text)) == code


@pytest.mark.parametrize("text", ["", "13A", "H", "Xm", "8C", "A lydian"])
def test_parse_key_rejects(text):
    with pytest.raises(KeyParseError):
        parse_key(text)


def test_key_to_camelot_roundtrip():
    for number in range(1, 13):
        for letter in "AB":
            k = CamelotKey(number, letter)
            assert key_to_camelot(k.tonic, k.scale) == k
            assert parse_key(k.open_key) == k


def test_wheel_and_moves():
    a, b = parse_key("12A"), parse_key("1A")
    assert wheel_steps(a, b) == 1 and camelot_distance(a, b) == 1
    assert camelot_distance(parse_key("8A"), parse_key("9B")) == 2
    assert key_move(parse_key("8A"), parse_key("9B")) is KeyMove.DIAGONAL
    assert key_move(parse_key("8B"), parse_key("7A")) is KeyMove.DIAGONAL
    assert parse_key("8A").transposed(1) == parse_key("3A")
    assert key_move(parse_key("8A"), parse_key("8A").transposed(1)) is KeyMove.SEMITONE_UP
    assert describe_move(parse_key("8A"), parse_key("9A")) == "8A → 9A (+1)"


def test_pitch_class_names():
    # Every name Essentia's Key algorithm reports (and the enharmonics analysis/key.py used to list).
    expected = {
        **{"C": 0, "C#": 1, "Db": 1, "D": 2, "D#": 3, "Eb": 3, "E": 4, "F": 5, "F#": 6},
        **{"Gb": 6, "G": 7, "G#": 8, "Ab": 8, "A": 9, "A#": 10, "Bb": 10, "B": 11},
    }
    for name, pc in expected.items():
        assert pitch_class(name) == pc
        assert pitch_class(name.lower()) == pc
        assert pitch_class(name.upper()) == pc
    for i, name in enumerate(PITCH_CLASSES):
        assert pitch_class(name) == i
    assert pitch_class(" f♯ ") == 6 and pitch_class("E♭") == 3 and pitch_class("Cb") == 11


@pytest.mark.parametrize("note", ["", "H", "Am", "C##", "8A"])
def test_pitch_class_rejects(note):
    with pytest.raises(KeyParseError):
        pitch_class(note)
