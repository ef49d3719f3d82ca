"""The key-confidence calibration's arithmetic (bench/calibrate_key_confidence.py)."""

from __future__ import annotations

import numpy as np
import pytest

from bench.calibrate_key_confidence import fit_logistic, reliability


def test_fit_logistic_recovers_the_weights_that_made_the_labels():
    rng = np.random.default_rng(7)
    x = rng.normal(size=(4000, 2))
    p = 1 / (1 + np.exp(-(0.5 + 2.0 * x[:, 0] - 1.0 * x[:, 1])))
    y = (rng.random(4000) < p).astype(float)
    bias, w0, w1 = fit_logistic(x, y)
    assert bias == pytest.approx(0.5, abs=0.15)
    assert w0 == pytest.approx(2.0, abs=0.2) and w1 == pytest.approx(-1.0, abs=0.15)


def test_reliability_bins_ece_brier_and_auc():
    conf = [0.2, 0.4, 0.9, 0.95, 0.9, 0.6]
    right = [False, True, True, True, False, True]
    rel = reliability(conf, right)
    assert rel["n"] == 6 and rel["share_right"] == pytest.approx(4 / 6, abs=1e-3)
    top = next(b for b in rel["bins"] if b["range"][0] == 0.85)
    assert top["n"] == 3 and top["share_right"] == pytest.approx(2 / 3, abs=1e-3)
    # ECE: bin weight x |mean confidence - share right| over the bins (0-0.5, 0.5-0.7, 0.85-1).
    expected = 2 / 6 * abs(0.3 - 0.5) + 1 / 6 * abs(0.6 - 1.0) + 3 / 6 * abs(0.9167 - 2 / 3)
    assert rel["ece"] == pytest.approx(expected, abs=1e-3)
    assert rel["brier"] == pytest.approx(np.mean((np.array(conf) - np.array(right, float)) ** 2), abs=1e-4)
    # Of the 4 x 2 (right, wrong) pairs, the right reading is higher in 5, one tie (0.9 / 0.9) counts half.
    assert rel["auc"] == pytest.approx(5.5 / 8, abs=1e-3)
