"""Choose the chord reading's constants (analysis/key.py) on tuning material only (issue 17).

    .venv/bin/python bench/tune_key_chords.py            # features (cached), replay check, the scans below

Material: as bench/tune_tempo_octave.py: the held-out benchmark's tuning split, its EXTRA_TUNING seeds and the
generated set (accuracy_set seed 1234); the test split is never read here.

1. For every clip, the mean chord chroma of each bar of the analyzer's beat grid (key.bar_chromas), cached in
   --cache (they do not depend on the constants scanned).
2. Replay: key.classify_bars + key.chord_key_scores (the analyzer's own functions) with the constants in the
   code must give the chords the analyzer reads on every clip; the script stops if not.
3. The chord decision alone (the best chord score; phrase starts and the KeyExtractor fallback are left out, so
   the counts are the chords' share of the analyzer's key) per group for each DOM7_MATCH_FACTOR.
4. The chord weights (analyzer 1.12): a grid over OUT_OF_KEY and the weights that decide between a key and its
   neighbours (WEIGHT_GRID), the best count, how many combinations reach it and each value's range among the
   combinations within 2 of it; then each CHORD_WEIGHTS entry moved alone by 0.1 and 0.2 either way.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.tune_tempo_octave import GENERATED_WORKDIR, tuning_clips

FACTORS = (1.0, 0.99, 0.97, 0.96, 0.95, 0.94, 0.93, 0.9, 0.85, 0.8)
# "OUT_OF_KEY" or (scale, (interval, quality)) of CHORD_WEIGHTS: the values tried.
WEIGHT_GRID = {
    "OUT_OF_KEY": (-0.2, -0.3, -0.4, -0.5, -0.6, -0.8),
    ("major", (7, "maj")): (0.2, 0.3, 0.4, 0.5),
    ("minor", (5, "min")): (0.4, 0.5, 0.6, 0.7),
    ("minor", (10, "maj")): (0.3, 0.4, 0.5),
    ("minor", (7, "maj")): (0.2, 0.3, 0.4),
}


def key_stage_inputs(path: str):
    """(audio, stft, rhythm, chroma) of one clip, as the pipeline computes them before the key stage."""
    sys.path.insert(0, str(ROOT))
    from services.essentia_api.analysis import key
    from services.essentia_api.analysis.loading import load_audio
    from services.essentia_api.analysis.rhythm import analyze_rhythm
    from services.essentia_api.analysis.spectral import stft

    audio = load_audio(path=path)
    st = stft(signal=audio.mono_lo, sample_rate=audio.lo_rate)
    rhythm = analyze_rhythm(st=st, duration=audio.duration, bpm_min=70.0, bpm_max=180.0)
    return audio, st, rhythm, key.chromas(signal=audio.mono_lo, sample_rate=audio.lo_rate)


def _features(job: tuple[str, int, str, str, str]) -> dict:
    path, tonic, mode, clip, group = job
    from services.essentia_api.analysis import key

    _, _, rhythm, ch = key_stage_inputs(path)
    bars = key.bar_chromas(ch, beats=rhythm.beats)
    return {"clip": clip, "group": group, "tonic": tonic, "mode": mode, "bars": bars.tolist(),
            "chords": [list(c) for c in key.classify_bars(bars)]}


def material(cache: Path, workdir: Path, features=_features) -> list[dict]:
    """features(path, tonic, mode, clip, group) of every tuning clip, computed once and kept in `cache`."""
    if cache.exists():
        return json.loads(cache.read_text())
    jobs = [(c["path"], c["tonic"], c["mode"], c["clip"], c["group"]) for c in tuning_clips(workdir)]
    with ProcessPoolExecutor(2, mp_context=get_context("spawn")) as ex:
        rows = list(ex.map(features, jobs, chunksize=4))
    cache.write_text(json.dumps(rows))
    return rows


def hits(rows: list[dict], *, factor: float | None = None, weights: dict | None = None) -> Counter:
    """Clips whose chord decision is their key (a share of one when keys tie), per group, with
    DOM7_MATCH_FACTOR and WEIGHT_GRID-style `weights` ({"OUT_OF_KEY": v, (scale, chord): v}) swapped in."""
    import copy

    import numpy as np

    from services.essentia_api.analysis import key

    saved = key.DOM7_MATCH_FACTOR, key.CHORD_WEIGHTS, key.OUT_OF_KEY
    try:
        key.DOM7_MATCH_FACTOR = saved[0] if factor is None else factor
        key.CHORD_WEIGHTS = copy.deepcopy(saved[1])
        for name, value in (weights or {}).items():
            if name == "OUT_OF_KEY":
                key.OUT_OF_KEY = value
            else:
                key.CHORD_WEIGHTS[name[0]][name[1]] = value
        out = Counter()
        for row in rows:
            bars = np.array(row["bars"]).reshape(-1, 12)
            chords = [tuple(c) for c in (row["chords"] if factor is None else key.classify_bars(bars))]
            if len(chords) >= key.MIN_CHORD_BARS:
                scores = key.chord_key_scores(chords)
                best = max(scores.values())
                tied = [k for k, v in scores.items() if best - v < key.CHORD_TIE]
                # Keys tied on the chords are decided by other evidence: an even share each, not by key order.
                out[row["group"]] += ((row["tonic"], row["mode"]) in tied) / len(tied)
        return out
    finally:
        key.DOM7_MATCH_FACTOR, key.CHORD_WEIGHTS, key.OUT_OF_KEY = saved


def weight_scan(rows: list[dict]) -> None:
    """Step 4: the grid, then every weight alone around the code's values."""
    import itertools

    from services.essentia_api.analysis import key

    grid = [dict(zip(WEIGHT_GRID, combo)) for combo in itertools.product(*WEIGHT_GRID.values())]
    scored = [(sum(hits(rows, weights=values).values()), values) for values in grid]
    best = max(score for score, _ in scored)
    ties = sum(score == best for score, _ in scored)
    print(f"weights: best {best:g} / {len(rows)}, reached by {ties} of {len(scored)}; "
          "values among the combinations within 2 of it:")
    for name in WEIGHT_GRID:
        print(f"  {name}: {sorted(Counter(v[name] for s, v in scored if s >= best - 2).items())}")
    print(f"each weight alone (now {sum(hits(rows).values()):g}):")
    for scale, weights in key.CHORD_WEIGHTS.items():
        for chord, now in weights.items():
            moved = [round(now + d, 2) for d in (-0.2, -0.1, 0.1, 0.2)]
            counts = [sum(hits(rows, weights={(scale, chord): v}).values()) for v in moved]
            print(f"  {scale} {chord} {now}: " + ", ".join(f"{v} {n:g}" for v, n in zip(moved, counts)))
    moved = [round(key.OUT_OF_KEY + d, 2) for d in (-0.2, -0.1, 0.1, 0.2)]
    print(f"  OUT_OF_KEY {key.OUT_OF_KEY}: "
          + ", ".join(f"{v} {sum(hits(rows, weights={'OUT_OF_KEY': v}).values()):g}" for v in moved))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "djp-key-chords-features.json")
    ap.add_argument("--workdir", type=Path, default=GENERATED_WORKDIR)
    args = ap.parse_args()
    import numpy as np

    from services.essentia_api.analysis import key

    rows = material(args.cache, args.workdir)
    off = [r["clip"] for r in rows
           if [list(c) for c in key.classify_bars(np.array(r["bars"]).reshape(-1, 12))] != r["chords"]]
    if off:
        sys.exit(f"the replay differs from the analyzer on {len(off)} clips (features cached from another build? "
                 f"delete {args.cache}): {off[:5]}")
    sizes = Counter(r["group"] for r in rows)
    print(f"{len(rows)} tuning clips: {dict(sizes)}; replay matches the analyzer's chords on every clip")
    for factor in FACTORS:
        h = hits(rows, factor=factor)
        mark = "  <- now" if factor == key.DOM7_MATCH_FACTOR else ""
        print(f"DOM7_MATCH_FACTOR {factor:.2f}: {sum(h.values()):g} / {len(rows)} {dict(h)}{mark}")
    weight_scan(rows)


if __name__ == "__main__":
    main()
