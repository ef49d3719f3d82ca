"""The shared transition score (services/common/transition.py)."""

from __future__ import annotations

import pytest

from services.common.camelot import KeyMove, parse_key
from services.common.transition import (
    NEUTRAL,
    TransitionOptions,
    Weights,
    energy_fit,
    energy_targets,
    features,
    key_score,
    normalize_artists,
    similarity,
    tempo_match,
    transition_score,
)


def test_tempo_same_and_within_pitch_range():
    assert tempo_match(128, 128).score == 1.0
    m = tempo_match(125, 128, pitch_range_pct=8)
    assert m.mode == "normal" and m.pitch_pct == pytest.approx(2.4)
    assert 0.9 < m.score < 1.0
    assert tempo_match(120, 140, pitch_range_pct=8).score == 0.0  # 16.7% is out of range
    # A wider pitch range is more forgiving.
    assert tempo_match(120, 126, pitch_range_pct=8).score > tempo_match(120, 126, pitch_range_pct=6).score


def test_tempo_half_double_time():
    m = tempo_match(87, 174)
    assert m.mode == "half" and m.pitch_pct == pytest.approx(0.0) and m.bpm_delta == pytest.approx(0.0)
    assert 0 < m.score < 1.0  # allowed, slightly discounted
    assert tempo_match(170, 86).mode == "double"
    assert tempo_match(87, 174, allow_half_double=False).score == 0.0


def test_tempo_step_violation_and_missing():
    m = tempo_match(120, 126, max_bpm_step=4)
    assert m.step_violation and m.score < 0
    assert not tempo_match(120, 123, max_bpm_step=4).step_violation
    assert tempo_match(None, 120).score == NEUTRAL and tempo_match(None, 120).mode == "n/a"


@pytest.mark.parametrize(
    ("a", "b", "move"),
    [
        ("8A", "8A", KeyMove.SAME),
        ("8A", "9A", KeyMove.ADJACENT),
        ("8A", "7A", KeyMove.ADJACENT),
        ("8A", "8B", KeyMove.RELATIVE),
        ("8A", "10A", KeyMove.ENERGY_BOOST),
        ("8A", "3A", KeyMove.SEMITONE_UP),
        ("8A", "2B", KeyMove.CLASH),
    ],
)
def test_key_moves(a, b, move):
    score, got = key_score(parse_key(a), parse_key(b))
    assert got is move
    assert (score == 0.0) == (move is KeyMove.CLASH)


def test_key_order_and_options():
    same = key_score(parse_key("8A"), parse_key("8A"))[0]
    adj = key_score(parse_key("8A"), parse_key("9A"))[0]
    rel = key_score(parse_key("8A"), parse_key("8B"))[0]
    boost = key_score(parse_key("8A"), parse_key("10A"))[0]
    assert same > adj > rel > boost > 0
    assert key_score(parse_key("8A"), parse_key("10A"), allow_energy_boost=False)[0] == 0.0
    assert key_score(parse_key("8A"), parse_key("3A"), allow_semitone=False)[0] == 0.0
    assert key_score(None, parse_key("8A")) == (NEUTRAL, None)


def test_similarity_sources():
    a = features("a", tags=["House", "Deep House"], embedding=[1.0, 0.0])
    b = features("b", tags=["house", "techno"], embedding=[1.0, 0.0])
    c = features("c", tags=["house", "techno"])
    assert similarity(a, b) == (1.0, "embedding")
    assert similarity(a, c) == (pytest.approx(1 / 3), "tags")
    assert similarity(features("x"), c) == (NEUTRAL, "n/a")


def test_artists_and_repeats():
    assert normalize_artists("Disclosure & Sam Smith feat. Someone") == {"disclosure", "sam smith", "someone"}
    a = features("a", bpm=124, key=parse_key("8A"), artist="Disclosure & Sam Smith", album="Settle")
    b = features("b", bpm=124, key=parse_key("8A"), artist="Sam Smith", album="settle")
    br = transition_score(a, b, options=TransitionOptions())
    assert br.terms["artist"] == -1.0 and br.terms["album"] == -0.5
    no_window = transition_score(a, b, options=TransitionOptions(artist_window=0))
    assert no_window.terms["artist"] == 0.0


def test_transition_breakdown():
    a = features("a", bpm=124, key=parse_key("8A"), energy=0.5, tags=["house"])
    b = features("b", bpm=126, key=parse_key("9A"), energy=0.7, tags=["house"])
    opts = TransitionOptions(weights=Weights(tempo=2.0))
    br = transition_score(a, b, options=opts)
    assert br.key_label == "8A → 9A (+1)"
    assert br.energy_step == pytest.approx(0.2)
    assert br.terms["tempo"] == pytest.approx(2.0 * br.raw["tempo"])
    assert br.total == pytest.approx(sum(br.terms.values()))
    assert br.neutral == ()
    unknown = transition_score(features("x"), b, options=opts)
    assert set(unknown.neutral) == {"tempo", "key", "similarity"}
    boost = transition_score(a, features("c", key=parse_key("10A")), options=opts)
    assert boost.key_label.endswith("energy boost")


def test_energy_curves():
    energies = [0.2, 0.4, 0.6, 0.8]
    rising = energy_targets("rising", 5, energies)
    assert rising == sorted(rising) and rising[0] < rising[-1]
    # Targets are quantiles of the energies at hand: rising over the whole crate = its energies sorted.
    assert energy_targets("rising", 4, [0.8, 0.2, 0.6, 0.4]) == pytest.approx(energies)
    peak = energy_targets("peak", 11, energies)
    assert max(peak) == peak[6] == 0.8 and peak[-1] < peak[6]  # the peak sits in the middle third
    flat = energy_targets("flat", 4, energies)
    assert len(set(flat)) == 1
    wave = energy_targets("wave", 9, energies)
    assert wave[0] < wave[2] > wave[4] < wave[6]
    assert energy_targets([(0, 0.1), (1, 0.9)], 3, []) == pytest.approx([0.1, 0.5, 0.9])
    assert energy_targets("none", 3, energies) is None
    assert energy_fit(0.5, 0.7) == pytest.approx(0.8)
    assert energy_fit(0.5, 0.7, scale=0.4) == pytest.approx(0.5)  # measured against the crate's span
    assert energy_fit(None, 0.7) == NEUTRAL
