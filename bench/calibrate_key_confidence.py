"""Fit the key-confidence weights in services/essentia_api/analysis/alternatives.py.

Generated clips (tests/essentia_api/audio_fixtures.py) in all 24 keys with rotated progressions
(the clip starts on any chord) and no phrase marks, seeds 500+ (not the analyzer's tuning seeds).
Prints the logistic-regression weights and a reliability table (mean confidence vs share correct).
This calibrates against one synthesiser: rerun it on the issue-17 benchmark's tuning split when that
exists. Usage: PYTHONPATH=. python bench/calibrate_key_confidence.py [clips]
"""

from __future__ import annotations

import sys

import numpy as np

from services.common.camelot import pitch_class
from services.essentia_api.analysis.alternatives import key_confidence, key_features, relative_of
from services.essentia_api.analysis.key import analyze_key
from services.essentia_api.analysis.loading import _decimate
from tests.essentia_api.audio_fixtures import ClipSpec, synth_clip


def _fit(x: np.ndarray, y: np.ndarray, l2: float = 0.1) -> np.ndarray:
    """Logistic regression by Newton's method; x gets a bias column, returns [bias, w...]."""
    x = np.hstack([np.ones((len(x), 1)), x])
    w = np.zeros(x.shape[1])
    for _ in range(50):
        p = 1 / (1 + np.exp(-x @ w))
        g = x.T @ (p - y) + l2 * w
        h = (x.T * (p * (1 - p))) @ x + l2 * np.eye(len(w))
        w -= np.linalg.solve(h, g)
    return w


def main(n: int = 72) -> None:
    rng = np.random.default_rng(500)
    rows = []
    for i in range(n):
        tonic, scale = int(rng.integers(12)), ("major", "minor")[i % 2]
        spec = ClipSpec(bpm=float(rng.choice([90, 122, 128, 140, 174])), tonic=tonic, scale=scale, seconds=20,
                        progression=int(rng.integers(4)), rotation=int(rng.integers(4)), seed=500 + i)
        x = _decimate(synth_clip(spec), 4)
        k = analyze_key(signal=x, sample_rate=11025.0, bar_seconds=240 / spec.bpm)
        scores = {(pitch_class(a), s): sc for a, s, sc in k.candidates}
        f = key_features(key=k.key, scale=k.scale, chroma12=k.chroma12, tonic_scores=scores)
        chosen = (pitch_class(k.key), k.scale)
        truth = (tonic, scale)
        c = key_confidence(key=k.key, scale=k.scale, chroma12=k.chroma12, tonic_scores=scores)
        rows.append((f, truth == chosen, truth in (chosen, relative_of(*chosen)), c.confidence))
    pair_x = np.array([[f["pair_margin"]] for f, *_ in rows])
    pair_y = np.array([p for _, _, p, _ in rows], float)
    print("pair: share in pair", pair_y.mean(), "weights [bias, slope]", _fit(pair_x, pair_y).round(2))
    inpair = [r for r in rows if r[2]]
    cx = np.array([[f["tonic_ratio"], f["profile_diff"]] for f, *_ in inpair])
    cy = np.array([ok for _, ok, _, _ in inpair], float)
    print("chosen|pair: share right", cy.mean(), "weights [bias, tonic, profile]", _fit(cx, cy).round(2))
    conf = np.array([r[3] for r in rows])
    ok = np.array([r[1] for r in rows], float)
    print("accuracy", ok.mean(), "mean confidence", conf.mean().round(3))
    for lo, hi in ((0, 0.5), (0.5, 0.7), (0.7, 0.85), (0.85, 1.01)):
        sel = (conf >= lo) & (conf < hi)
        if sel.any():
            print(f"confidence {lo:.2f}-{hi:.2f}: n={sel.sum():3d} mean conf {conf[sel].mean():.3f} correct {ok[sel].mean():.3f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 72)
