"""The vectorized matrices must agree with the documented scalar transition score."""

from __future__ import annotations

import numpy as np
import pytest

from services.common.camelot import CamelotKey
from services.common.transition import TransitionOptions, Weights, features, transition_score
from services.ga_service.scoring import build_problem
from tests.ga_service.helpers import random_problem


def _feats(seed: int, n: int = 25):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        emb = list(rng.normal(size=4)) if rng.random() < 0.5 else None
        out.append(
            features(
                str(i),
                bpm=None
                if rng.random() < 0.15
                else float(rng.choice([rng.uniform(60, 200), 128.0, 64.0, 256.0])),
                key=None
                if rng.random() < 0.15
                else CamelotKey(int(rng.integers(1, 13)), "AB"[int(rng.integers(0, 2))]),
                energy=None if rng.random() < 0.15 else float(rng.random()),
                artist=f"a{rng.integers(0, 4)} & a{rng.integers(0, 4)}",
                album=None if rng.random() < 0.2 else f"al{rng.integers(0, 4)}",
                tags=[] if rng.random() < 0.2 else [f"g{g}" for g in rng.choice(6, size=2, replace=False)],
                embedding=emb,
            )
        )
    return out


@pytest.mark.parametrize(
    "opts",
    [
        TransitionOptions(),
        TransitionOptions(pitch_range_pct=6, allow_half_double=False, max_bpm_step=4, artist_window=1),
        TransitionOptions(
            allow_energy_boost=False,
            allow_semitone=False,
            artist_window=0,
            weights=Weights(tempo=2, key=0.5, similarity=1, artist=3, album=0),
        ),
    ],
)
def test_matrix_matches_transition_score(opts):
    feats = _feats(1)
    problem, _ = build_problem(feats, opts, length=len(feats))
    for a in range(len(feats)):
        for b in range(len(feats)):
            if a != b:
                expected = transition_score(feats[a], feats[b], options=opts).total
                assert problem.T[a, b] == pytest.approx(expected, abs=1e-9), (a, b)


def test_evaluate_is_sum_of_terms():
    p = random_problem(12, 3, window=3)
    rng = np.random.default_rng(0)
    perm = rng.permutation(12)
    manual = sum(p.T[perm[k], perm[k + 1]] for k in range(11)) + sum(p.E[perm[k], k] for k in range(12))
    if p.S is not None:
        manual -= sum(p.S[perm[k], perm[k + d]] / d for d in (2, 3) for k in range(12 - d))
    assert p.evaluate(perm) == pytest.approx(manual)
    batch = np.stack([perm, perm[::-1]])
    assert p.evaluate(batch)[0] == pytest.approx(manual)


def test_window_cut_penalty_counts_each_crossing_pair():
    p = random_problem(12, 4, window=3)
    assert p.S is not None
    perm = np.arange(12)
    q = p.window_cut_penalty(perm)
    for c in range(13):
        expected = sum(p.S[perm[a], perm[a + d]] / d for d in (2, 3) for a in range(12 - d) if a < c <= a + d)
        assert q[c] == pytest.approx(expected)


def test_energy_matrix_follows_curve():
    feats = [features(str(i), energy=e) for i, e in enumerate([0.1, 0.5, 0.9])]
    problem, targets = build_problem(feats, TransitionOptions(), length=3, curve="rising")
    assert targets[0] < targets[1] < targets[2]
    # The rising curve rewards low energy first and high energy last.
    assert problem.E[0, 0] > problem.E[2, 0]
    assert problem.E[2, 2] > problem.E[0, 2]
    flat, _ = build_problem(feats, TransitionOptions(), length=3, curve=None)
    assert not flat.E.any()
