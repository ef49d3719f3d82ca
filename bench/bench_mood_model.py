"""The bundled MusiCNN mood model on the held-out clips: what its excerpts cost and how far they lie from the
whole track, and what it says per genre.

    .venv/bin/python bench/bench_mood_model.py --split tuning   # or test; run the two side by side
    .venv/bin/python bench/bench_mood_model.py --limit 4        # smoke

Per clip, two readings of the same model (services/essentia_api/analysis/musicnn.py):
- "analyzer": what the analysis stores, patch_count(duration) excerpts (1-8 of 3 s, centred in equal parts)
  cut from the decoded file at its own rate and resampled to 16 kHz;
- "all patches": musicnn's own recipe, the plain-library baseline: the whole track resampled to 16 kHz and
  every non-overlapping 187-frame patch from the start (musicnn.extractor's default), averaged.
Reported per split: the difference of the five mood scores between the two (median, p95, max), the model's
time per patch, the mood stage's cost per audio minute, and mean scores per genre. There are no mood labels
for this material (rendered clips of one composer), so nothing here measures whether a mood is right.
Results: bench/analysis_heldout_results/<date>-moods-<split>.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import soundfile
import soxr

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.analysis_heldout.clips import DEFAULT_CACHE, generator_available, render_clip  # noqa: E402
from bench.analysis_heldout.specs import load_manifest  # noqa: E402
from services.common.contracts.analysis import ANALYZER_VERSION, MOOD_NAMES  # noqa: E402
from services.essentia_api.analysis import musicnn  # noqa: E402
from services.essentia_api.analysis.loading import mono_excerpts  # noqa: E402
from services.essentia_api.analysis.mood import MusicnnMood, musicnn_moods  # noqa: E402


def all_patches(tagger: musicnn.MusicnnTagger, mono: np.ndarray, rate: float) -> np.ndarray:
    at16k = soxr.resample(mono, rate, musicnn.SAMPLE_RATE, quality="HQ")
    step = musicnn.PATCH_FRAMES * musicnn.HOP
    count = (len(at16k) - musicnn.PATCH_SAMPLES) // step + 1
    patches = np.stack([musicnn.log_mel_patch(at16k[i * step:]) for i in range(count)])
    return np.concatenate([
        tagger.session.run(None, {tagger.input_name: patches[i:i + 8]})[0] for i in range(0, count, 8)
    ])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--split", choices=("tuning", "test"), required=True)
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()

    tagger = musicnn.MusicnnTagger()
    plan = MusicnnMood()  # where the analysis cuts its excerpts
    rows, seen = [], defaultdict(int)
    model_seconds = patches_run = 0.0
    stage_seconds = audio_seconds = 0.0
    for split, spec in load_manifest():
        if split != args.split or not generator_available(spec.generator):
            continue
        key = (spec.generator, spec.seed)
        if args.limit is not None and seen[key] >= args.limit:
            continue
        seen[key] += 1
        path = render_clip(spec, args.cache_dir)
        audio, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
        duration = len(audio) / rate

        t = time.process_time()  # the analyzer's mood stage: cut, resample, front end, model
        starts = plan.excerpt_starts(duration)
        count = len(starts)
        excerpts = mono_excerpts(audio, int(rate), starts, plan.excerpt_seconds)
        patches = musicnn.excerpt_patches(excerpts, rate)
        m = time.process_time()
        analyzer = tagger.tags(patches)
        done = time.process_time()
        stage_seconds += done - t
        model_seconds += done - m
        patches_run += count
        audio_seconds += duration

        full = all_patches(tagger, audio[:, :2].mean(axis=1, dtype=np.float32), rate)
        baseline = dict(zip(musicnn.MSD_TAGS, full.mean(axis=0).tolist(), strict=True))
        a, b = musicnn_moods(analyzer), musicnn_moods(baseline)
        rows.append({
            "file": path.name, "generator": spec.generator, "seed": spec.seed, "genre": spec.genre,
            "seconds": round(duration, 1), "patches": count, "all_patches": len(full),
            "analyzer": {k: round(v, 4) for k, v in a.items()},
            "all_patches_moods": {k: round(v, 4) for k, v in b.items()},
            "max_abs_diff": round(max(abs(a[k] - b[k]) for k in MOOD_NAMES), 4),
            "top_tags": sorted(analyzer, key=analyzer.get, reverse=True)[:3],
        })
        print(f"{path.name} {count}/{len(full)} patches, max |d| {rows[-1]['max_abs_diff']:.3f}", flush=True)

    diffs = np.array([r["max_abs_diff"] for r in rows])
    per_genre = {
        genre: {m: round(float(np.mean([r["analyzer"][m] for r in rows if r["genre"] == genre])), 3)
                for m in MOOD_NAMES}
        for genre in sorted({r["genre"] for r in rows})
    }
    report = {
        "date": dt.date.today().isoformat(),
        "analyzer_version": ANALYZER_VERSION,
        "model": musicnn.MODEL_NAME,
        "split": args.split,
        "command": "python " + " ".join([f"bench/{Path(__file__).name}", *sys.argv[1:]]),
        "clips": len(rows),
        "audio_minutes": round(audio_seconds / 60, 1),
        "patches": int(patches_run),
        "model_ms_per_patch": round(1000 * model_seconds / max(patches_run, 1), 1),
        "mood_stage_cpu_seconds_per_audio_minute": round(60 * stage_seconds / max(audio_seconds, 1e-9), 3),
        "max_abs_mood_diff_vs_all_patches": {
            "median": round(float(np.median(diffs)), 3), "p95": round(float(np.percentile(diffs, 95)), 3),
            "max": round(float(diffs.max()), 3),
        },
        "mood_percentiles": {
            m: [round(float(v), 3) for v in np.percentile([r["analyzer"][m] for r in rows], [5, 50, 95])]
            for m in MOOD_NAMES
        },
        "mean_moods_per_genre": per_genre,
        "clips_detail": rows,
    }
    results = ROOT / "bench" / "analysis_heldout_results"
    out = args.out or results / f"{report['date']}-moods-{args.split}.json"
    out.write_text(json.dumps(report, indent=1))
    print(json.dumps({k: v for k, v in report.items() if k != "clips_detail"}, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
