"""Choose the chord reading's constants (analysis/key.py) on tuning material only (issue 17).

    .venv/bin/python bench/tune_key_chords.py            # features (cached), replay check, DOM7_MATCH_FACTOR scan

Material: as bench/tune_tempo_octave.py: the held-out benchmark's tuning split, its EXTRA_TUNING seeds and the
generated set (accuracy_set seed 1234); the test split is never read here.

1. For every clip, the mean chord chroma of each bar of the analyzer's beat grid (key.bar_chromas), cached in
   --cache (they do not depend on the constants scanned).
2. Replay: key.classify_bars + key.chord_key_scores (the analyzer's own functions) with the constants in the
   code must give the chords the analyzer reads on every clip; the script stops if not.
3. The chord decision alone (the best chord score; phrase starts and the KeyExtractor fallback are left out, so
   the counts are the chords' share of the analyzer's key) per group for each DOM7_MATCH_FACTOR.
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


def _features(job: tuple[str, int, str, str, str]) -> dict:
    path, tonic, mode, clip, group = job
    sys.path.insert(0, str(ROOT))
    from services.essentia_api.analysis import key
    from services.essentia_api.analysis.loading import load_audio
    from services.essentia_api.analysis.rhythm import analyze_rhythm
    from services.essentia_api.analysis.spectral import stft

    audio = load_audio(path=path)
    st = stft(signal=audio.mono_lo, sample_rate=audio.lo_rate)
    rhythm = analyze_rhythm(st=st, duration=audio.duration, bpm_min=70.0, bpm_max=180.0)
    ch = key.chromas(signal=audio.mono_lo, sample_rate=audio.lo_rate)
    bars = key.bar_chromas(ch, beats=rhythm.beats)
    return {"clip": clip, "group": group, "tonic": tonic, "mode": mode, "bars": bars.tolist(),
            "chords": [list(c) for c in key.classify_bars(bars)]}


def material(cache: Path, workdir: Path) -> list[dict]:
    if cache.exists():
        return json.loads(cache.read_text())
    jobs = [(c["path"], c["tonic"], c["mode"], c["clip"], c["group"]) for c in tuning_clips(workdir)]
    with ProcessPoolExecutor(2, mp_context=get_context("spawn")) as ex:
        rows = list(ex.map(_features, jobs))
    cache.write_text(json.dumps(rows))
    return rows


def hits(rows: list[dict], factor: float) -> Counter:
    """Clips whose chord decision is their key, per group, with DOM7_MATCH_FACTOR set to `factor`."""
    import numpy as np

    from services.essentia_api.analysis import key

    saved = key.DOM7_MATCH_FACTOR
    try:
        key.DOM7_MATCH_FACTOR = factor
        out = Counter()
        for row in rows:
            chords = key.classify_bars(np.array(row["bars"]).reshape(-1, 12))
            if len(chords) >= key.MIN_CHORD_BARS:
                scores = key.chord_key_scores(chords)
                out[row["group"]] += max(scores, key=scores.get) == (row["tonic"], row["mode"])
        return out
    finally:
        key.DOM7_MATCH_FACTOR = saved


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
        h = hits(rows, factor)
        mark = "  <- now" if factor == key.DOM7_MATCH_FACTOR else ""
        print(f"DOM7_MATCH_FACTOR {factor:.2f}: {sum(h.values())} / {len(rows)} {dict(h)}{mark}")


if __name__ == "__main__":
    main()
