"""Set builder benchmark: quality against the exact optimum, against greedy, and wall time.

    .venv/bin/python bench/bench_setbuilder.py            # full run (~5 min on 2 cores)
    .venv/bin/python bench/bench_setbuilder.py --quick    # fewer instances, for a smoke test

Everything goes through `generate_set` exactly as the HTTP service runs it (2 GA islands on a
2-worker process pool, default options, seed = instance number). Prints a Markdown section for
docs/benchmarks.md.

Objective used for the exact comparison: the service's own objective (tempo, key, similarity,
adjacent same-artist/album penalty, position-dependent energy fit to the "peak" curve) with
artist_window = 1, because Held-Karp over (subset, last) cannot see repeats 2+ slots apart. The GA
runs on that very objective (the request carries artist_window = 1), so the gap is apples to apples.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from services.common.contracts.setbuilder import GenerateRequest
from services.ga_service.exact import held_karp
from services.ga_service.pool import PoolManager
from services.ga_service.scoring import build_problem
from services.ga_service.service import _curve, generate_set, track_features

KEYS = [f"{n}{letter}" for n in range(1, 13) for letter in "AB"]
GENRES = ["house", "deep house", "tech house", "techno", "disco", "electro", "breaks", "garage"]


def library(n: int, seed: int, missing: float = 0.08) -> list[dict]:
    """A plausible random crate: mostly 118-132 BPM, some half/double-time, 8% missing analysis."""
    rng = np.random.default_rng(seed)
    tracks = []
    for i in range(n):
        bpm = rng.choice(
            [rng.uniform(118, 132), rng.uniform(84, 96), rng.uniform(165, 178)], p=[0.8, 0.1, 0.1]
        )
        t = {
            "id": f"t{i}",
            "bpm": round(float(bpm), 2),
            "camelot": KEYS[int(rng.integers(0, 24))],
            "energy": round(float(rng.beta(2, 2)), 3),
            "duration": round(float(rng.uniform(180, 480)), 1),
            "artist": f"artist {rng.integers(0, max(2, n // 3))}",
            "album": f"album {rng.integers(0, max(2, n // 2))}",
            "genres": [GENRES[g] for g in rng.choice(len(GENRES), size=2, replace=False)],
            "styles": [],
        }
        if rng.random() < 0.5:
            t["embedding"] = [round(float(v), 4) for v in rng.normal(size=8)]
        for field in ("bpm", "camelot", "energy"):
            if rng.random() < missing:
                t[field] = None
        tracks.append(t)
    return tracks


def request(mode: str, tracks: list[dict], seed: int, **options) -> GenerateRequest:
    return GenerateRequest.model_validate(
        {"mode": mode, "tracks": tracks, "options": {"seed": seed, "energy_curve": "peak", **options}}
    )


def med(xs):
    return statistics.median(xs)


def bench_exact(sizes, instances, executor):
    rows = []
    for n in sizes:
        gaps, hits, ga_t, hk_t = [], 0, [], []
        for k in range(instances):
            # Fully analysed: unanalysed tracks are kept out of the optimisation (put at the end), so
            # only then is the GA's order the whole problem Held-Karp solves.
            req = request("order", library(n, 1000 * n + k, missing=0.0), k, artist_window=1)
            t = time.perf_counter()
            resp = generate_set(request=req, executor=executor)
            ga_t.append(time.perf_counter() - t)
            problem, _ = build_problem(track_features(req), req.options, length=n, curve=_curve(req.options))
            t = time.perf_counter()
            _, opt = held_karp(problem)
            hk_t.append(time.perf_counter() - t)
            gap = max(0.0, (opt - resp.score) / abs(opt))
            gaps.append(gap)
            hits += gap < 1e-6
        rows.append((n, instances, 100 * statistics.mean(gaps), 100 * max(gaps), hits, med(ga_t), med(hk_t)))
        print(
            f"exact n={n}: mean gap {rows[-1][2]:.3f}% worst {rows[-1][3]:.3f}% hits {hits}/{instances}",
            file=sys.stderr,
        )
    return rows


def bench_greedy(sizes, instances, executor):
    rows = []
    for n, count in zip(sizes, instances, strict=True):
        ratios, ga_t, gr_t = [], [], []
        for k in range(count):
            tracks = library(n, 7000 + 10 * n + k)
            t = time.perf_counter()
            ga = generate_set(request=request("order", tracks, k), executor=executor)
            ga_t.append(time.perf_counter() - t)
            t = time.perf_counter()
            gr = generate_set(request=request("greedy", tracks, k))
            gr_t.append(time.perf_counter() - t)
            ratios.append(ga.score / gr.score)
            stops = ga.search.stopped
        rows.append((n, count, med(ratios), min(ratios), max(ratios), med(ga_t), med(gr_t), stops))
        print(
            f"greedy n={n}: ratio {rows[-1][2]:.4f} ga {rows[-1][5]:.2f}s greedy {rows[-1][6]:.3f}s",
            file=sys.stderr,
        )
    return rows


def bench_time(cases, executor):
    rows = []
    for label, mode, n, count, reps, target in cases:
        times, stops = [], []
        for k in range(reps):
            opts = {"count": count} if count else {}
            req = request(mode, library(n, 500 + 7 * n + k), k, **opts)
            t = time.perf_counter()
            resp = generate_set(request=req, executor=executor)
            times.append(time.perf_counter() - t)
            stops.append(resp.search.stopped)
        rows.append((label, reps, med(times), max(times), target, sorted(set(stops))))
        print(f"time {label}: median {med(times):.2f}s max {max(times):.2f}s", file=sys.stderr)
    return rows


def cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    return platform.processor() or "unknown"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer instances (smoke test)")
    ap.add_argument("--only", choices=["exact", "greedy", "time"], help="run one part")
    args = ap.parse_args()
    parts = {args.only} if args.only else {"exact", "greedy", "time"}
    pool = PoolManager(0)
    pool.start()
    ex = pool.executor
    try:
        exact_instances = 8 if args.quick else 50
        exact = bench_exact([8, 10, 12, 14], exact_instances, ex) if "exact" in parts else []
        greedy = (
            bench_greedy([50, 200, 500], [2, 1, 1] if args.quick else [5, 3, 3], ex)
            if "greedy" in parts
            else []
        )
        timing = (
            []
            if "time" not in parts
            else bench_time(
                [
                    ("order n=30", "order", 30, None, 3 if args.quick else 10, 1.0),
                    ("order n=200", "order", 200, None, 1 if args.quick else 3, 10.0),
                    ("select 20 of 2,000", "select", 2000, 20, 1 if args.quick else 3, 10.0),
                ],
                ex,
            )
        )
    finally:
        pool.shutdown()

    cmd = "cd /work/main && .venv/bin/python bench/bench_setbuilder.py" + (" --quick" if args.quick else "")
    cmd += f" --only {args.only}" if args.only else ""
    out = ["## Set builder", ""]
    out.append(
        f"Machine: {os.cpu_count()} cores, {cpu_model()}; Python {platform.python_version()}, "
        f"numpy {np.__version__}. Command: `{cmd}` ({time.strftime('%Y-%m-%d')})."
    )
    out.append(
        "All runs go through `generate_set` as the service does: 2 GA islands on a 2-worker process pool "
        "(warm), default options, energy curve `peak`, seed = instance number. Random crates: 80% "
        "118-132 BPM, 20% half/double-time tempos, random Camelot keys, 8% of BPM/key/energy missing, "
        "half the tracks with an 8-d embedding. Times are medians."
    )
    out.append("")
    if exact:
        out.append("### Against the exact optimum (Held-Karp)")
        out.append("")
        out.append(
            "Objective: the service's objective with `artist_window = 1` (tempo, key, similarity, adjacent "
            "same-artist/album penalty, energy fit by position); Held-Karp's state (subset, last) makes the "
            "position-dependent energy term exact (position = subset size) but cannot see repeats 2+ slots "
            "apart, so the GA is run on this same objective. Gap = (optimum - GA) / optimum."
        )
        out.append("")
        out.append("| n | instances | mean gap | worst gap | optimum found | GA time | Held-Karp time |")
        out.append("|---|---|---|---|---|---|---|")
        for n, k, mean_gap, worst, hits, gt, ht in exact:
            out.append(
                f"| {n} | {k} | {mean_gap:.3f}% | {worst:.3f}% | {hits}/{k} | {gt:.2f} s | {ht:.3f} s |"
            )
        out.append("")
    if greedy:
        out.append("### Against greedy (nearest neighbour + 2-opt)")
        out.append("")
        out.append("Full objective (artist window 3). Ratio = GA score / greedy score (higher is better).")
        out.append("")
        out.append("| n | instances | median ratio | min | max | GA time | greedy time | GA stopped by |")
        out.append("|---|---|---|---|---|---|---|---|")
        for n, k, r, lo, hi, gt, grt, stop in greedy:
            out.append(f"| {n} | {k} | {r:.4f} | {lo:.4f} | {hi:.4f} | {gt:.2f} s | {grt:.3f} s | {stop} |")
        out.append("")
    if timing:
        out.append("### Wall time")
        out.append("")
        out.append("| case | runs | median | max | target | met | GA stopped by |")
        out.append("|---|---|---|---|---|---|---|")
        for label, k, m, mx, target, stops in timing:
            met = "yes" if mx < target else ("median only" if m < target else "no")
            out.append(
                f"| {label} | {k} | {m:.2f} s | {mx:.2f} s | < {target:g} s | {met} | {', '.join(stops)} |"
            )
    print("\n".join(out))


if __name__ == "__main__":
    main()
