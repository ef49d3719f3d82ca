"""Choose the cadence switch's constants (analysis/key.py, analyzer 1.13) on tuning material only (issue 17).

    .venv/bin/python bench/tune_key_cadence.py            # features (cached), replay check, the scan below

Material: as bench/tune_key_chords.py (the held-out benchmark's tuning split, its EXTRA_TUNING seeds and the
generated set s1234); the test split is never read here.

1. For every clip, through the analyzer's own functions (rhythm, phrases, analyze_key): its key with the
   cadence switch off, each key's chord score and the cadence chroma over 4- and 8-bar groups, and its key
   with the constants in the code (cached in --cache).
2. Replay: the switch applied to the first must give the second on every clip; the script stops if not.
3. The scan: clips right for each group length, chord-score margin and ratio, with what each switch gains
   and loses per group.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.tune_key_chords import key_stage_inputs, material
from bench.tune_tempo_octave import GENERATED_WORKDIR
from services.essentia_api.analysis.alternatives import relative_of

BARS = (4, 8)
MARGINS = (0.0, 0.02, 0.05, 0.1, 0.15, 0.2)
RATIOS = (1.0, 1.5, 2.0, 3.0, 5.0)


def _features(job: tuple[str, int, str, str, str]) -> dict:
    path, tonic, mode, clip, group = job
    from services.common.camelot import pitch_class
    from services.essentia_api.analysis import key
    from services.essentia_api.analysis.phrase import find_phrases

    audio, st, rhythm, ch = key_stage_inputs(path)
    phrases = find_phrases(st=st, beats=rhythm.beats)
    compute, key.chromas = key.chromas, lambda **_: ch  # one chroma pass for both readings
    ratio = key.CADENCE_RATIO
    try:
        readings = []
        for switch_ratio in (math.inf, ratio):  # the switch off, then as in the code
            key.CADENCE_RATIO = switch_ratio
            r = key.analyze_key(signal=audio.mono_lo, sample_rate=audio.lo_rate,
                                bar_seconds=4 * 60.0 / rhythm.bpm if rhythm.bpm > 0 else None,
                                first_beat=rhythm.first_beat, phrases=phrases, beats=rhythm.beats)
            readings.append([pitch_class(r.key), r.scale])
    finally:
        key.chromas, key.CADENCE_RATIO = compute, ratio
    cadences = {str(bars): key.cadence_chroma(ch, beats=rhythm.beats, bars=bars) for bars in BARS}
    return {"clip": clip, "group": group, "tonic": tonic, "mode": mode, "without": readings[0],
            "analyzer": readings[1], "chord_scores": r.chord_scores and [[t, s, v] for (t, s), v in
                                                                        r.chord_scores.items()],
            "cadence": {bars: None if c is None else c.tolist() for bars, c in cadences.items()}}


def switched(row: dict, *, bars: int, margin: float, ratio: float) -> tuple[int, str]:
    """The key after the cadence switch with these constants (analysis/key.py's rule)."""
    from services.essentia_api.analysis import key

    chosen = tuple(row["without"])
    cadence = row["cadence"][str(bars)]
    if not row["chord_scores"] or cadence is None:
        return chosen
    scores = {(t, s): v for t, s, v in row["chord_scores"]}
    other = relative_of(*chosen)
    near_tie = abs(scores[chosen] - scores[other]) <= margin + key.CHORD_TIE
    if near_tie and cadence[other[0]] > ratio * cadence[chosen[0]]:
        return other
    return chosen


def scan(rows: list[dict]) -> None:
    from services.essentia_api.analysis import key

    now = (key.CADENCE_BARS, key.CADENCE_CHORD_MARGIN, key.CADENCE_RATIO)
    for bars in BARS:
        cadences = [(r["cadence"][str(bars)], r["tonic"], relative_of(r["tonic"], r["mode"])[0])
                    for r in rows]
        above = sum(c is not None and c[tonic] > c[other] for c, tonic, other in cadences)
        print(f"{bars}-bar phrase ends: the tonic sounds above its relative's tonic on {above} / {len(rows)} "
              "clips")
    base = sum(tuple(r["without"]) == (r["tonic"], r["mode"]) for r in rows)
    print(f"without the cadence switch: {base} / {len(rows)} right")
    for bars in BARS:
        for margin in MARGINS:
            cells = []
            for ratio in RATIOS:
                gained, lost = Counter(), Counter()
                for r in rows:
                    truth, before = (r["tonic"], r["mode"]), tuple(r["without"])
                    after = switched(r, bars=bars, margin=margin, ratio=ratio)
                    gained[r["group"]] += after == truth != before
                    lost[r["group"]] += before == truth != after
                mark = "*" if (bars, margin, ratio) == now else ""
                cells.append(f"{ratio:g}{mark}: {base + sum(gained.values()) - sum(lost.values())} "
                             f"(+{sum(gained.values())} -{sum(lost.values())})")
                if mark:
                    per_group = {g: f"+{gained[g]} -{lost[g]}" for g in sorted(set(gained) | set(lost))}
            print(f"{bars} bars, margin {margin:g}: " + ", ".join(cells))
    print(f"now ({now[0]} bars, margin {now[1]}, ratio {now[2]}) per group: {per_group}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "djp-key-cadence-features.json")
    ap.add_argument("--workdir", type=Path, default=GENERATED_WORKDIR)
    args = ap.parse_args()
    from services.essentia_api.analysis import key

    rows = material(args.cache, args.workdir, features=_features)
    now = dict(bars=key.CADENCE_BARS, margin=key.CADENCE_CHORD_MARGIN, ratio=key.CADENCE_RATIO)
    off = [r["clip"] for r in rows if list(switched(r, **now)) != r["analyzer"]]
    if off:
        sys.exit(f"the replay differs from the analyzer on {len(off)} clips (features cached from another "
                 f"build? delete {args.cache}): {off[:5]}")
    print(f"{len(rows)} tuning clips: {dict(Counter(r['group'] for r in rows))}; "
          "replay matches the analyzer's key on every clip")
    scan(rows)


if __name__ == "__main__":
    main()
