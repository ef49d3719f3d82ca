"""Choose the tempo octave thresholds (analysis/rhythm.py) on tuning material only (issue 17).

    .venv/bin/python bench/tune_tempo_octave.py            # features (cached), replay check, grid search

Material: the held-out benchmark's **tuning** split (bench/analysis_heldout: every set whose split is
"tuning"; the test split is never read here) and the generated set the earlier rules were tuned on
(tests/essentia_api/audio_fixtures.py accuracy_set, seed 1234, 96 clips of 30 s, numpy synth, mp3), and
since analyzer 1.10 more tuning material from the tuning split's three generators with seeds no split
uses (EXTRA_TUNING: 96 clips each, bench/analysis_heldout/specs.py make_set; the test split's seeds are refused).

1. For every clip, the beat tracker's reading and the octave evidence at it (rhythm.track, grid_ratios,
   bar_evidence), cached in --cache (features do not depend on the thresholds).
2. Replay: rhythm.half_read + rhythm.octave_decision (the analyzer's own functions) with the thresholds in
   the code must give the analyzer's tempo on every clip; the script stops if not.
3. Grid search over the seven thresholds: Acc1 (within 4 %) per set for the best combinations, how many
   combinations tie, and each threshold's range among them (choose inside it, not on its edge).
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

THRESHOLDS = ("KS_DOUBLE", "KS_MID_DOUBLE", "R_MID_DOUBLE", "LO_HALFTIME", "KS_HALFTIME", "KH_HALFTIME",
              "R_PARITY_HALVE")
GRID = {
    "KS_DOUBLE": (1.3, 1.35, 1.4, 1.45, 1.5, 1.6),
    "KS_MID_DOUBLE": (0.75, 0.8, 0.85, 0.9, 0.95, 1.0),
    "R_MID_DOUBLE": (0.45, 0.5, 0.55, 0.6),
    "LO_HALFTIME": (0.75, 0.78, 0.8, 0.85, 0.9),
    "KS_HALFTIME": (0.55, 0.565, 0.6, 0.65, 0.75, 0.85),
    "KH_HALFTIME": (0.35, 0.4, 0.45),
    "R_PARITY_HALVE": (0.4, 0.45, 0.5),
}
# (generator, seed, clips): tuning generators, new seeds (2026-12-06).
EXTRA_TUNING = (("fluidsynth_fluidr3", 11, 96), ("numpy_synth", 15, 96), ("fluidsynth_timgm6mb", 16, 96))
GENERATED_WORKDIR = Path.home() / ".cache" / "djp-tempo-octave-generated"  # the generated set's renders


def _features(job: tuple[str, float, str, str]) -> dict:
    path, ref_bpm, clip, group = job
    sys.path.insert(0, str(ROOT))
    import numpy as np

    from services.essentia_api.analysis import rhythm
    from services.essentia_api.analysis.loading import load_audio
    from services.essentia_api.analysis.pipeline import AnalysisOptions, analyze_file
    from services.essentia_api.analysis.spectral import stft

    audio = load_audio(path=path)
    st = stft(signal=audio.mono_lo, sample_rate=audio.lo_rate)
    tr = rhythm.track(st=st, duration=audio.duration)
    row = {"clip": clip, "group": group, "ref_bpm": ref_bpm,
           "analyzer_bpm": float(analyze_file(path=path, options=AnalysisOptions()).bpm)}
    if len(tr.ticks) < 4:
        return row | {"raw_bpm": 0.0}
    grid = tr.phase + tr.period * np.arange(np.ceil(-tr.phase / tr.period), (audio.duration - tr.phase) / tr.period)
    r_mid, r_parity = rhythm.grid_ratios(odfs=tr.odfs, frame_rate=st.frame_rate, grid=grid, period=tr.period)
    bar = rhythm.bar_evidence(odfs=tr.odfs, frame_rate=st.frame_rate, period=tr.period)
    return row | {"raw_bpm": 60.0 / tr.period, "r_mid": r_mid, "r_parity": r_parity, "bar": bar}


def tuning_specs() -> list[tuple]:
    """(HeldoutSpec, group) of the held-out benchmark's tuning split and of EXTRA_TUNING (whose seeds must be new)."""
    from bench.analysis_heldout.specs import load_manifest, make_set

    manifest = load_manifest()
    held = [(s, f"{s.generator} s{s.seed}") for split, s in manifest if split == "tuning"]
    used = {(s.generator, s.seed) for _, s in manifest}
    for gen, seed, n in EXTRA_TUNING:
        if (gen, seed) in used:
            sys.exit(f"{gen} seed {seed} is already a set of the held-out benchmark: extra tuning seeds must be new")
        held += [(s, f"{gen} s{seed} extra") for s in make_set(gen, seed, n)]
    return held


def tuning_clips(workdir: Path = GENERATED_WORKDIR) -> list[dict]:
    """Every tuning clip (tuning_specs and the generated set s1234), rendered: path, truth, group."""
    from bench.analysis_heldout.clips import DEFAULT_CACHE, render_clip
    from bench.bench_analysis_accuracy import clip_paths
    from tests.essentia_api.audio_fixtures import accuracy_set

    clips = [{"path": str(render_clip(s, DEFAULT_CACHE)), "bpm": s.bpm, "tonic": s.tonic, "mode": s.mode,
              "clip": s.clip_id, "group": group} for s, group in tuning_specs()]
    generated = accuracy_set(4, seconds=30.0, seed=1234, rotate=False, phrase_crash=False)
    paths = clip_paths(generated, workdir, synth="numpy", fmt="mp3", seed=1234, seconds=30.0)
    clips += [{"path": path, "bpm": s.bpm, "tonic": s.tonic, "mode": s.scale, "clip": Path(path).stem,
               "group": "generated s1234"} for s, path in zip(generated, paths)]
    return clips


def material(cache: Path, workdir: Path) -> list[dict]:
    if cache.exists():
        return json.loads(cache.read_text())
    jobs = [(c["path"], c["bpm"], c["clip"], c["group"]) for c in tuning_clips(workdir)]
    with ProcessPoolExecutor(2, mp_context=get_context("spawn")) as ex:
        rows = list(ex.map(_features, jobs))
    cache.write_text(json.dumps(rows))
    return rows


def replay(row: dict) -> float:
    """The analyzer's tempo for this clip with the thresholds now set in analysis/rhythm.py (its own functions)."""
    from services.essentia_api.analysis import rhythm

    if row["raw_bpm"] <= 0:
        return 0.0
    margin = rhythm.half_read(bar=row["bar"], r_mid=row["r_mid"])
    factor, _, _ = rhythm.octave_decision(raw_bpm=row["raw_bpm"], margin=margin, r_parity=row["r_parity"],
                                          bpm_min=70.0, bpm_max=180.0)
    return row["raw_bpm"] * factor


def hits(rows: list[dict], values: dict[str, float]) -> Counter:
    """Clips within 4 % of their tempo per group, with these thresholds swapped in for the count."""
    from services.essentia_api.analysis import rhythm

    saved = {name: getattr(rhythm, name) for name in values}
    try:
        for name, value in values.items():
            setattr(rhythm, name, value)
        out = Counter()
        for row in rows:
            out[row["group"]] += abs(replay(row) - row["ref_bpm"]) <= 0.04 * row["ref_bpm"]
        return out
    finally:
        for name, value in saved.items():
            setattr(rhythm, name, value)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "djp-tempo-octave-features.json")
    ap.add_argument("--workdir", type=Path, default=GENERATED_WORKDIR)
    args = ap.parse_args()
    from services.essentia_api.analysis import rhythm

    rows = material(args.cache, args.workdir)
    current = {name: getattr(rhythm, name) for name in THRESHOLDS}
    off = [r["clip"] for r in rows if abs(replay(r) - r["analyzer_bpm"]) > 0.01 * max(r["analyzer_bpm"], 1)]
    if off:
        sys.exit(f"the replay differs from the analyzer on {len(off)} clips (features cached from another build? "
                 f"delete {args.cache}): {off[:5]}")
    sizes = Counter(r["group"] for r in rows)
    print(f"{len(rows)} tuning clips: {dict(sizes)}; replay matches the analyzer on every clip")
    print(f"current thresholds {current}: {sum(hits(rows, current).values())} / {len(rows)} {dict(hits(rows, current))}")
    scored = [(sum(h.values()), values) for combo in itertools.product(*GRID.values())
              for values in [dict(zip(GRID, combo))] for h in [hits(rows, values)]]
    best = max(score for score, _ in scored)
    top = [values for score, values in scored if score == best]
    print(f"best {best} / {len(rows)}, reached by {len(top)} of {len(scored)} combinations")
    for name in GRID:
        print(f"  {name}: {sorted(Counter(v[name] for v in top).items())}")


if __name__ == "__main__":
    main()
