"""Honest reporting (issue 17): tempo octave candidates and the runner-up key, with confidences."""

from __future__ import annotations

import numpy as np
import pytest

from services.common.contracts.analysis import AnalysisResult
from services.essentia_api.analysis.alternatives import (
    key_confidence,
    tempo_candidates_from_evidence,
)


def test_house_clip_reports_its_octave_alternative_and_the_relative_key(house_result):
    res = AnalysisResult.model_validate(house_result)
    cands = res.bpm_candidates
    assert cands, "every analysed clip reports bpm_candidates"
    # The chosen tempo comes first with the highest confidence; the half-time reading is offered
    # (double time, 248, is outside 50-220 and not offered).
    assert cands[0].relation == "chosen" and cands[0].bpm == res.bpm == pytest.approx(124.0, abs=0.3)
    assert all(cands[0].confidence > c.confidence for c in cands[1:])
    half = next(c for c in cands if c.relation == "half")
    assert half.bpm == pytest.approx(res.bpm / 2, abs=0.01) and 0 < half.confidence < 0.5
    assert not any(c.relation == "double" for c in cands)
    assert sum(c.confidence for c in cands) == pytest.approx(1.0, abs=0.01)
    # A minor (8A): the runner-up is its relative, C major (8B), with less confidence.
    assert (res.key, res.scale) == ("A", "minor")
    assert res.key_alternative is not None
    assert (res.key_alternative.key, res.key_alternative.scale, res.key_alternative.camelot) == ("C", "major", "8B")
    assert 0.5 < res.key_confidence <= 1 and res.key_alternative.confidence < res.key_confidence


def test_drum_and_bass_offers_half_time(client):
    res = client.post("/analyze", json={"path": "dnb.wav"}).json()
    cands = res["bpm_candidates"]
    assert cands[0]["relation"] == "chosen" and cands[0]["bpm"] == res["bpm"]
    assert [c["relation"] for c in cands[1:]] == ["half"]  # 348 BPM is not a reading anyone wants
    assert cands[1]["bpm"] == pytest.approx(res["bpm"] / 2, abs=0.01)
    assert res["key_alternative"]["camelot"] != res["camelot"]


@pytest.mark.parametrize(
    ("r_mid", "r_parity", "favoured"),
    [
        (0.1, 0.95, "chosen"),  # nothing between the beats, even beats: T
        (0.9, 0.95, "double"),  # off-beats as strong as beats: 2T gains the most
        (0.1, 0.05, "half"),  # every other beat missing: T/2 gains the most
    ],
)
def test_tempo_confidences_follow_the_octave_evidence(r_mid, r_parity, favoured):
    cands = tempo_candidates_from_evidence(bpm=100.0, r_mid=r_mid, r_parity=r_parity)
    assert {c.relation: c.bpm for c in cands} == {"chosen": 100.0, "double": 200.0, "half": 50.0}
    assert cands[0].relation == favoured
    assert sum(c.confidence for c in cands) == pytest.approx(1.0, abs=0.01)


def test_at_the_analyzers_threshold_an_alternative_is_as_likely_as_the_choice():
    cands = {c.relation: c.confidence for c in tempo_candidates_from_evidence(bpm=90.0, r_mid=0.5, r_parity=1.0)}
    assert cands["double"] == pytest.approx(cands["chosen"], abs=0.001)


def _chroma(tonic: int, minor: bool, tonic_weight: float = 1.0) -> np.ndarray:
    """Chroma of a natural minor / major scale with the tonic triad emphasised."""
    steps = (0, 2, 3, 5, 7, 8, 10) if minor else (0, 2, 4, 5, 7, 9, 11)
    third = 3 if minor else 4
    c = np.full(12, 0.05)
    for s in steps:
        c[(tonic + s) % 12] = 0.5
    for s, w in ((0, tonic_weight), (third, 0.8), (7, 0.8)):
        c[(tonic + s) % 12] = w
    return c


def _chord_scores(chosen: float, relative: float, other: float = -0.2) -> dict[tuple[int, str], float]:
    """Chord scores with A minor at `chosen`, C major at `relative`, every other key at `other`."""
    return {(t, sc): other for t in range(12) for sc in ("major", "minor")} | {(9, "minor"): chosen, (0, "major"): relative}


def test_key_confidence_is_high_when_chords_bass_and_profile_agree():
    sure = key_confidence(key="A", scale="minor", chroma12=_chroma(9, minor=True),
                          tonic_scores={(9, "minor"): 2.0, (0, "major"): 0.8}, chord_scores=_chord_scores(0.9, 0.4))
    assert sure.confidence > 0.85
    assert (sure.alternative.key, sure.alternative.scale) == ("C", "major")
    assert sure.alternative.confidence < 0.15


def test_key_confidence_falls_with_each_piece_of_evidence_against_the_choice():
    chroma = _chroma(9, minor=True)

    def conf(bass_a: float, chords_a: float) -> tuple[float, float]:
        res = key_confidence(key="A", scale="minor", chroma12=chroma,
                             tonic_scores={(9, "minor"): bass_a, (0, "major"): 2.0 - bass_a + 0.8},
                             chord_scores=_chord_scores(chords_a, 0.5))
        return res.confidence, res.alternative.confidence

    agree, bass_against, both_against = conf(2.0, 0.9), conf(0.8, 0.9), conf(0.8, 0.4)
    assert agree[0] > bass_against[0] > both_against[0]
    # The bass on C and the chords leaning to C major (the phrase-start switch's tie): the relative
    # is now the likelier key.
    assert both_against[0] < 0.5 < both_against[1] + both_against[0]
    assert both_against[1] > both_against[0]


def test_a_chord_lead_over_every_other_key_raises_the_pair():
    chroma = _chroma(9, minor=True)
    scores = {(9, "minor"): 2.0, (0, "major"): 0.8}
    clear = key_confidence(key="A", scale="minor", chroma12=chroma, tonic_scores=scores,
                           chord_scores=_chord_scores(0.9, 0.4, other=-0.3))
    crowded = key_confidence(key="A", scale="minor", chroma12=chroma, tonic_scores=scores,
                             chord_scores=_chord_scores(0.9, 0.4, other=0.85))
    assert clear.confidence > crowded.confidence


def test_flat_chroma_gives_low_key_confidence():
    res = key_confidence(key="C", scale="major", chroma12=np.ones(12), tonic_scores={})
    assert res.confidence < 0.1


def test_a_keyextractor_reading_does_not_borrow_the_chord_paths_record():
    chroma = _chroma(9, minor=True)
    bass = {(9, "minor"): 1.0, (0, "major"): 1.0}  # the bass does not tell A minor from C major
    # KeyExtractor decided (no chord scores): only the profile speaks for A minor. The chord path with its
    # chords tied between the two keys has the same evidence but the chord decision's record (its bias).
    fallback = key_confidence(key="A", scale="minor", chroma12=chroma, tonic_scores=bass)
    tied = key_confidence(key="A", scale="minor", chroma12=chroma, tonic_scores=bass,
                          chord_scores=_chord_scores(0.5, 0.5))
    assert fallback.confidence < 0.7 < tied.confidence
    assert (fallback.alternative.key, fallback.alternative.scale) == ("C", "major")
