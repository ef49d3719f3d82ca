"""Tempo and key on held-out material: generators and seeds the analyzer was never tuned on.

    .venv/bin/python bench/bench_analysis_heldout.py                 # both splits (~190 clips)
    .venv/bin/python bench/bench_analysis_heldout.py --split tuning  # the only split to tune on
    .venv/bin/python bench/bench_analysis_heldout.py --limit 4       # first 4 clips of each set (smoke)
    .venv/bin/python bench/bench_analysis_heldout.py --refreeze      # rewrite manifest.json (never after tuning)

Material: bench/analysis_heldout/ (genre bands 70-178 BPM with their grooves, all 24 keys,
arrangements with drum-only / bass-only intros and drumless breakdowns, progressions that start
anywhere, phrase marks on half of the clips, 30 s - 3 min, mp3/flac/ogg). Splits by generator and seed
(`SETS` in specs.py): tuning = FluidSynth + FluidR3_GM seed 1; test = FluidSynth + FluidR3_GM seed 2,
the numpy synth seed 3, FluidSynth + TimGM6mb seed 4. The test split's clips are frozen in
bench/analysis_heldout/manifest.json; the run refuses to go on when the code would make other clips.

Each clip goes through the analyzer in process (analyze_file, as bench_analysis_accuracy.py) and
through plain Essentia (RhythmExtractor2013 multifeature + KeyExtractor edma at 44.1 kHz) in the same
run. Reported per split, per set (generator + seed) and per generator: tempo Acc1 (within 4%), Acc2
(also x2, x3, /2, /3), key exact, MIREX (mir_eval weights), misses by kind and by genre band, and how
well the analyzer's stated confidences hold (`calibration`: key_confidence against key exact, the chosen
tempo's confidence against Acc1; bins, ECE, Brier, AUC).
"+styles" rows: the same readings after the library's style rule (services/domain/analysis/style_tempo.py),
given the clip's genre as the Discogs style a record of it would carry (STYLE_OF_GENRE); for plain Essentia,
which reports no octave candidates, half and double time count as likely as its reading.
Clips are cached in ~/.cache/djp-heldout (--cache-dir). Results: bench/analysis_heldout_results/<date>.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.analysis_heldout.clips import DEFAULT_CACHE, generator_available, render_clip  # noqa: E402
from bench.analysis_heldout.metrics import miss_record, score  # noqa: E402
from bench.analysis_heldout.specs import (  # noqa: E402
    MANIFEST,
    SETS,
    load_manifest,
    manifest_is_current,
    write_manifest,
)

ANALYZERS = ("analyzer", "essentia")
STYLED = ("analyzer+styles", "essentia+styles")
REPORTED = ANALYZERS + STYLED
# The Discogs style a record of each generated genre carries.
STYLE_OF_GENRE = {"boom_bap": "Boom Bap", "downtempo": "Downtempo", "house": "House", "techno": "Techno",
                  "trance": "Trance", "dubstep": "Dubstep", "drum_and_bass": "Drum n Bass", "breaks": "Breaks"}


def _analyse(path: str) -> dict:
    """Both the analyzer and plain Essentia on one file (one worker process, same decode path)."""
    sys.path.insert(0, str(ROOT))
    from services.essentia_api.analysis import ess
    from services.essentia_api.analysis.pipeline import AnalysisOptions, analyze_file

    t = time.perf_counter()
    r = analyze_file(path=path, options=AnalysisOptions())
    chosen = [c.confidence for c in r.bpm_candidates or [] if c.relation == "chosen"]
    ours = {"bpm": float(r.bpm), "key": r.key, "scale": r.scale, "bpm_raw": float(r.bpm_raw),
            "key_confidence": r.key_confidence, "bpm_confidence": chosen[0] if chosen else None,
            "bpm_candidates": [c.model_dump(mode="json") for c in r.bpm_candidates or []],
            "seconds": round(time.perf_counter() - t, 2)}
    t = time.perf_counter()
    es = ess()
    audio = es.MonoLoader(filename=path, sampleRate=44100)()
    bpm, *_ = es.RhythmExtractor2013(method="multifeature")(audio)
    key, scale, _ = es.KeyExtractor(profileType="edma")(audio)
    base = {"bpm": float(bpm), "key": key, "scale": scale, "seconds": round(time.perf_counter() - t, 2)}
    return {"analyzer": ours, "essentia": base}


def with_styles(spec, reading: dict) -> dict:
    """The reading after the style rule, as the library stores it for a record of the clip's genre."""
    from services.domain.analysis.style_tempo import style_tempo

    decided = style_tempo(bpm=reading["bpm"], candidates=reading.get("bpm_candidates"),
                          styles=[STYLE_OF_GENRE[spec.genre]], genres=["Electronic"])
    return reading | {"bpm": decided.bpm} if decided else reading


def calibration(rows: list) -> dict:
    """How well the analyzer's stated confidences match how often it is right: key_confidence
    against key exact, the chosen tempo's confidence against Acc1 (bench/calibrate_key_confidence.py
    fits the key weights on the tuning split)."""
    from bench.analysis_heldout.metrics import key_kind, tempo_kind
    from bench.calibrate_key_confidence import reliability

    key = [(r["analyzer"]["key_confidence"], key_kind(r["analyzer"]["key"], r["analyzer"]["scale"], s.tonic, s.mode)[0] == "same")
           for s, r in rows if r["analyzer"].get("key_confidence") is not None]
    tempo = [(r["analyzer"]["bpm_confidence"], tempo_kind(r["analyzer"]["bpm"], s.bpm) == "correct")
             for s, r in rows if r["analyzer"].get("bpm_confidence") is not None]
    return {name: reliability([c for c, _ in xs], [ok for _, ok in xs]) for name, xs in (("key", key), ("tempo", tempo)) if xs}


def _render(args: tuple) -> str:
    spec, cache_dir = args
    return str(render_clip(spec, cache_dir))


def _table(report: dict) -> str:
    lines = [
        "| split | set | n | analyzer Acc1 | Acc2 | key | MIREX | Essentia Acc1 | Acc2 | key | MIREX "
        "| Acc1 +styles: analyzer | Essentia |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]

    def row(split, name, r):
        a, e = r["analyzer"], r["essentia"]
        return (
            f"| {split} | {name} | {a['n']} | {a['tempo_acc1']:.3f} | {a['tempo_acc2']:.3f} | {a['key_exact']:.3f} | "
            f"{a['key_mirex']:.3f} | {e['tempo_acc1']:.3f} | {e['tempo_acc2']:.3f} | {e['key_exact']:.3f} | {e['key_mirex']:.3f} "
            f"| {r['analyzer+styles']['tempo_acc1']:.3f} | {r['essentia+styles']['tempo_acc1']:.3f} |"
        )

    for split, block in report["splits"].items():
        for set_name, s in block["sets"].items():
            lines.append(row(split, set_name, s))
        lines.append(row(split, "**all**", block))
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--split", choices=("tuning", "test", "all"), default="all")
    ap.add_argument("--limit", type=int, default=None, help="only the first N clips of each set (smoke runs)")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE)
    ap.add_argument("--refreeze", action="store_true", help="rewrite manifest.json from the code, then run")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()

    if args.refreeze:
        write_manifest()
        print(f"wrote {MANIFEST}")
    elif not manifest_is_current():
        sys.exit(
            f"{MANIFEST} differs from what bench/analysis_heldout makes today: the frozen test split would change. "
            "Revert the change, or --refreeze (only before tuning, and say so in docs/benchmarks.md)."
        )
    clips = load_manifest()
    wanted = {"all": ("tuning", "test")}.get(args.split, (args.split,))
    skipped = sorted({s.generator for _, s in clips if not generator_available(s.generator)})
    chosen, seen = [], defaultdict(int)
    for split, spec in clips:
        key = (split, spec.generator, spec.seed)
        if split not in wanted or spec.generator in skipped:
            continue
        if args.limit is not None and seen[key] >= args.limit:
            continue
        seen[key] += 1
        chosen.append((split, spec))
    if skipped:
        print(f"skipped (renderer missing): {', '.join(skipped)}", flush=True)

    ctx = get_context("spawn")
    t = time.perf_counter()
    with ProcessPoolExecutor(args.workers, mp_context=ctx) as ex:
        paths = list(ex.map(_render, [(s, args.cache_dir) for _, s in chosen]))
    render_s = time.perf_counter() - t
    audio_s = sum(s.seconds for _, s in chosen)
    print(f"{len(chosen)} clips ({audio_s / 60:.0f} min of audio) ready in {render_s:.0f} s ({args.cache_dir})", flush=True)

    t = time.perf_counter()
    with ProcessPoolExecutor(args.workers, mp_context=ctx) as ex:
        results = []
        for i, r in enumerate(ex.map(_analyse, paths), 1):
            results.append(r)
            if i % 12 == 0 or i == len(paths):
                print(f"analysed {i}/{len(paths)} ({time.perf_counter() - t:.0f} s)", flush=True)
    analyse_s = time.perf_counter() - t

    from services.common.contracts.analysis import ANALYZER_VERSION
    from services.essentia_api.analysis import essentia_version

    report: dict = {
        "date": dt.date.today().isoformat(),
        "analyzer_version": ANALYZER_VERSION,
        "essentia_version": essentia_version(),
        "command": "python " + " ".join([f"bench/{Path(__file__).name}", *sys.argv[1:]]),
        "sets": [{"split": a, "generator": b, "seed": c} for a, b, c in SETS if b not in skipped],
        "skipped_generators": skipped,
        "clips": len(chosen),
        "audio_minutes": round(audio_s / 60, 1),
        "render_seconds": round(render_s, 1),
        "analyse_seconds": round(analyse_s, 1),
        "cpu_seconds": {a: round(sum(r[a]["seconds"] for r in results), 1) for a in ANALYZERS},
        "splits": {},
        "by_generator": {},
        "misses": {},
    }
    for (_, spec), r in zip(chosen, results):
        for styled, plain in zip(STYLED, ANALYZERS):
            r[styled] = with_styles(spec, r[plain])
    rows = list(zip(chosen, results))
    for split in wanted:
        in_split = [(s, r) for (sp, s), r in rows if sp == split]
        if not in_split:
            continue
        block = {a: score([(s, r[a]) for s, r in in_split]) for a in REPORTED}
        block["sets"] = {}
        for _, gen, seed in (x for x in SETS if x[0] == split):
            in_set = [(s, r) for s, r in in_split if s.generator == gen and s.seed == seed]
            if in_set:
                block["sets"][f"{gen} s{seed}"] = {a: score([(s, r[a]) for s, r in in_set]) for a in REPORTED}
        block["analyzer"]["calibration"] = calibration(in_split)
        report["splits"][split] = block
    for gen in dict.fromkeys(s.generator for _, s in chosen):
        in_gen = [(s, r) for (_, s), r in rows if s.generator == gen]
        report["by_generator"][gen] = {a: score([(s, r[a]) for s, r in in_gen]) for a in REPORTED}
    for a in REPORTED:
        report["misses"][a] = [
            {"split": sp} | m for (sp, s), r in rows if (m := miss_record(s, r[a])) is not None
        ]
    report["per_clip"] = [
        {"split": sp, "clip_id": s.clip_id, "ref_bpm": s.bpm, "ref_key": s.key_name}
        | {a: {k: v for k, v in r[a].items() if k != "seconds"} for a in REPORTED}
        for (sp, s), r in rows
    ]
    out = args.out or ROOT / "bench" / "analysis_heldout_results" / f"{report['date']}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1) + "\n")
    print(_table(report))
    for split, block in report["splits"].items():
        for a in REPORTED:
            print(f"{split} {a}: tempo misses {block[a]['tempo_misses']}, key misses {block[a]['key_misses']}")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
