"""Fit the key-confidence weights in services/essentia_api/analysis/alternatives.py.

    .venv/bin/python bench/calibrate_key_confidence.py              # analyse the tuning split, fit
    .venv/bin/python bench/calibrate_key_confidence.py --split test # measure only, never fit on it
    .venv/bin/python bench/calibrate_key_confidence.py --refit FILE # fit again from saved features

Material: the held-out benchmark's tuning split only (bench/analysis_heldout: FluidR3 s1, numpy synth s5,
TimGM6mb s6; the only split to tune on). Each clip goes through analyze_file as the service runs it; the
arguments the pipeline passes to key_confidence are captured and turned into key_features, so the
fit sees exactly the evidence the service has. Two logistic regressions: P(the chosen key or its
relative is right) and P(the chosen key is right | the pair is). The test split's reliability is
reported by bench/bench_analysis_heldout.py (it records every clip's key_confidence); never fit on it.
Features and the fit are written to bench/analysis_heldout_results/<date>-key-confidence-tuning.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from unittest import mock

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.analysis_heldout.clips import DEFAULT_CACHE, generator_available, render_clip
from bench.analysis_heldout.specs import load_manifest

PAIR_FEATURES = ("pair_margin", "chord_pair_margin")
CHOSEN_FEATURES = ("tonic_ratio", "profile_diff", "chord_margin")
BINS = ((0.0, 0.5), (0.5, 0.7), (0.7, 0.85), (0.85, 1.01))


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 0.1) -> np.ndarray:
    """Logistic regression by Newton's method; x gets a bias column, returns [bias, w...]."""
    x = np.hstack([np.ones((len(x), 1)), x])
    w = np.zeros(x.shape[1])
    for _ in range(50):
        p = 1 / (1 + np.exp(-x @ w))
        g = x.T @ (p - y) + l2 * w
        h = (x.T * (p * (1 - p))) @ x + l2 * np.eye(len(w))
        w -= np.linalg.solve(h, g)
    return w


def reliability(conf: list[float], right: list[bool]) -> dict:
    """Mean confidence against share right per confidence bin, the expected calibration error, the
    Brier score and the AUC (a right reading scored above a wrong one)."""
    c, r = np.asarray(conf, float), np.asarray(right, float)
    out = {"n": len(c), "mean_confidence": round(float(c.mean()), 3), "share_right": round(float(r.mean()), 3),
           "ece": 0.0, "brier": round(float(((c - r) ** 2).mean()), 4), "bins": []}
    for lo, hi in BINS:
        sel = (c >= lo) & (c < hi)
        if sel.any():
            out["bins"].append({"range": [lo, min(hi, 1.0)], "n": int(sel.sum()),
                                "mean_confidence": round(float(c[sel].mean()), 3),
                                "share_right": round(float(r[sel].mean()), 3)})
            out["ece"] += float(sel.mean() * abs(c[sel].mean() - r[sel].mean()))
    out["ece"] = round(out["ece"], 4)
    # Discrimination: the chance a right reading has a higher confidence than a wrong one (AUC).
    hit, miss = c[r == 1], c[r == 0]
    if len(hit) and len(miss):
        out["auc"] = round(float(((hit[:, None] > miss[None, :]) + 0.5 * (hit[:, None] == miss[None, :])).mean()), 3)
    return out


def _features(path: str) -> dict:
    sys.path.insert(0, str(ROOT))
    from services.essentia_api.analysis import pipeline
    from services.essentia_api.analysis.alternatives import key_features

    with mock.patch.object(pipeline, "key_confidence", wraps=pipeline.key_confidence) as spy:
        r = pipeline.analyze_file(path=path, options=pipeline.AnalysisOptions())
    f = key_features(**spy.call_args.kwargs)
    return {"key": r.key, "scale": r.scale, "key_confidence": r.key_confidence,
            **{k: float(f[k]) for k in PAIR_FEATURES + CHOSEN_FEATURES}}


def _render(args: tuple) -> str:
    spec, cache_dir = args
    return str(render_clip(spec, cache_dir))


def analyse(split: str, cache_dir: Path, workers: int) -> list[dict]:
    clips = [s for sp, s in load_manifest() if sp == split and generator_available(s.generator)]
    ctx = get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=ctx) as ex:
        paths = list(ex.map(_render, [(s, cache_dir) for s in clips]))
        feats = list(ex.map(_features, paths))
    from services.common.camelot import pitch_class
    from services.essentia_api.analysis.alternatives import relative_of

    rows = []
    for s, f in zip(clips, feats):
        chosen = (pitch_class(f["key"]), f["scale"])
        truth = (s.tonic, s.mode)
        rows.append({"clip_id": s.clip_id, "right": truth == chosen,
                     "in_pair": truth in (chosen, relative_of(*chosen))} | f)
    return rows


def fit(rows: list[dict]) -> dict:
    px = np.array([[r[k] for k in PAIR_FEATURES] for r in rows])
    py = np.array([r["in_pair"] for r in rows], float)
    inpair = [r for r in rows if r["in_pair"]]
    cx = np.array([[r[k] for k in CHOSEN_FEATURES] for r in inpair])
    cy = np.array([r["right"] for r in inpair], float)
    return {"pair": dict(zip(("bias",) + PAIR_FEATURES, fit_logistic(px, py).round(2).tolist())),
            "chosen": dict(zip(("bias",) + CHOSEN_FEATURES, fit_logistic(cx, cy).round(2).tolist()))}


def predict(weights: dict, rows: list[dict]) -> list[float]:
    from services.essentia_api.analysis.alternatives import key_probabilities

    return [float(np.prod(key_probabilities(r, weights=weights))) for r in rows]


def cross_validated(rows: list[dict], folds: int = 4) -> list[float]:
    """Each clip's confidence from weights fitted without its fold (an honest in-split estimate)."""
    conf = [0.0] * len(rows)
    for k in range(folds):
        held = set(range(k, len(rows), folds))
        w = fit([r for i, r in enumerate(rows) if i not in held])
        for i, c in zip(sorted(held), predict(w, [rows[i] for i in sorted(held)])):
            conf[i] = c
    return conf


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--split", choices=("tuning", "test"), default="tuning",
                    help="tuning: fit; test: only measure the shipped weights (never fit on it)")
    ap.add_argument("--refit", type=Path, default=None, help="features saved by an earlier run")
    ap.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    # KEYEXTRACTOR_CONFIDENCE_WEIGHTS: the weights shipped until 1.8, measured side by side.
    from services.essentia_api.analysis.alternatives import (
        KEY_CONFIDENCE_WEIGHTS,
        KEYEXTRACTOR_CONFIDENCE_WEIGHTS,
    )

    if args.refit:
        saved = json.loads(args.refit.read_text())
        split, rows = saved["split"], saved["rows"]
    else:
        split, rows = args.split, analyse(args.split, args.cache_dir, args.workers)
    right = [r["right"] for r in rows]
    report = {"date": dt.date.today().isoformat(), "split": split, "clips": len(rows),
              "reliability": {"as_analysed": reliability([r["key_confidence"] for r in rows], right),
                              "shipped_weights": reliability(predict(KEY_CONFIDENCE_WEIGHTS, rows), right),
                              "weights_until_1.8": reliability(predict(KEYEXTRACTOR_CONFIDENCE_WEIGHTS, rows), right)}}
    if split == "tuning":
        report["fit"] = fit(rows)
        report["reliability"]["fitted_in_sample"] = reliability(predict(report["fit"], rows), right)
        report["reliability"]["fitted_4_fold"] = reliability(cross_validated(rows), right)
        print("fit:", json.dumps(report["fit"]))
    report["rows"] = rows
    out = args.out or ROOT / "bench" / "analysis_heldout_results" / f"{report['date']}-key-confidence-{split}.json"
    if not args.refit or args.out:
        out.write_text(json.dumps(report, indent=1) + "\n")
        print(f"wrote {out}")
    for name, rel in report["reliability"].items():
        bins = "  ".join(f"{b['range'][0]:.2f}-{b['range'][1]:.2f}: n={b['n']} conf {b['mean_confidence']:.2f} right {b['share_right']:.2f}"
                         for b in rel["bins"])
        print(f"{split} {name:17s} ECE {rel['ece']:.3f} Brier {rel['brier']:.3f} AUC {rel.get('auc', float('nan')):.3f} | {bins}")


if __name__ == "__main__":
    main()
