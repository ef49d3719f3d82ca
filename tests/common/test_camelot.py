"""Camelot wheel math (services/common/camelot.py) as the set builder relies on it."""

from __future__ import annotations

import pytest

from services.common.camelot import (
    CamelotKey,
    KeyMove,
    KeyParseError,
    camelot_distance,
    describe_move,
    key_move,
    key_to_camelot,
    parse_key,
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
