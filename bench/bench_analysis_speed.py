"""Speed of the analysis pipeline on 5-minute tracks (mp3 and flac).

    .venv/bin/python bench/bench_analysis_speed.py [--repeats 5] [--pool-tracks 8] [--no-baseline]

Reports the real-time factor per core (one process, analyze_file sequentially, decoding included),
per-stage medians, tracks per minute through the service's process pool on all cores, and, for
comparison, the same analysis with descriptor moods (MOOD_MODEL=descriptor, runs interleaved) and plain
Essentia (AudioLoader + RhythmExtractor2013 multifeature + KeyExtractor edma +
Danceability + LoudnessEBUR128, all at 44.1 kHz) on the same file.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from services.common.contracts.analysis import ANALYZER_VERSION
from services.essentia_api.analysis import ess, essentia_version
from services.essentia_api.analysis.pipeline import AnalysisOptions, analyze_file
from services.essentia_api.pool import AnalysisPool
from tests.essentia_api.audio_fixtures import ClipSpec, encode, synth_clip, write_wav

SECONDS = 300.0


def cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    return platform.processor() or "unknown"


def make_tracks(workdir: Path, count: int) -> list[Path]:
    """`count` distinct 5-minute stereo tracks, alternating mp3 and flac."""
    paths = []
    for i in range(count):
        ext = ".mp3" if i % 2 == 0 else ".flac"
        out = workdir / f"track{i}{ext}"
        if not out.exists():
            spec = ClipSpec(
                bpm=[124, 174, 86, 140][i % 4] + i * 0.1,
                tonic=i % 12,
                scale="minor" if i % 3 else "major",
                seconds=SECONDS,
                progression=i,
                seed=i,
            )
            wav = write_wav(workdir / f"track{i}.wav", synth_clip(spec, stereo=True))
            encode(wav, out)
            wav.unlink()
        paths.append(out)
    return paths


def baseline(path: Path) -> float:
    es = ess()
    t = time.perf_counter()
    audio = es.AudioLoader(filename=str(path))()[0]
    mono = es.MonoMixer()(audio, 2)
    es.RhythmExtractor2013(method="multifeature")(mono)
    es.KeyExtractor(profileType="edma")(mono)
    es.Danceability()(mono)
    es.LoudnessEBUR128()(audio)
    return time.perf_counter() - t


async def pool_run(paths: list[Path], workers: int, options: AnalysisOptions) -> float:
    pool = AnalysisPool(workers=workers, timeout_seconds=600)
    pool.start()
    try:
        # Warm the workers (spawn + Essentia import) before timing.
        await asyncio.gather(*(pool.analyze(path=str(paths[0]), options=options) for _ in range(workers)))
        t = time.perf_counter()
        await asyncio.gather(*(pool.analyze(path=str(p), options=options) for p in paths))
        return time.perf_counter() - t
    finally:
        pool.shutdown()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--pool-tracks", type=int, default=8)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--no-baseline", action="store_true")
    ap.add_argument("--no-descriptor", action="store_true", help="skip the MOOD_MODEL=descriptor runs")
    ap.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "djp-bench-analysis-speed")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "analysis_results" / "speed.json")
    args = ap.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    paths = make_tracks(args.workdir, max(2, args.pool_tracks))
    report: dict = {
        "machine": {
            "cpu": cpu_model(),
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "essentia": essentia_version(),
        },
        "analyzer_version": ANALYZER_VERSION,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "track_seconds": SECONDS,
        "command": "python " + " ".join([f"bench/{Path(__file__).name}", *sys.argv[1:]]),
    }
    analyze_file(path=str(paths[0]))  # warm-up: imports, FFT plans
    for fmt, path in (("mp3", paths[0]), ("flac", paths[1])):
        times, stages, descriptor_times = [], [], []
        for _ in range(args.repeats):
            t = time.perf_counter()
            res = analyze_file(path=str(path))
            times.append(time.perf_counter() - t)
            stages.append(res.timings_ms)
            if not args.no_descriptor:
                t = time.perf_counter()
                analyze_file(path=str(path), options=AnalysisOptions(mood_model="descriptor"))
                descriptor_times.append(time.perf_counter() - t)
        med = statistics.median(times)
        report[fmt] = {
            "mood_model": res.mood_model,
            "median_seconds": round(med, 3),
            "min_seconds": round(min(times), 3),
            "realtime_factor_per_core": round(SECONDS / med, 1),
            "stage_median_ms": {k: round(statistics.median(s[k] for s in stages), 1) for k in stages[0]},
        }
        if descriptor_times:
            d = statistics.median(descriptor_times)
            report[fmt]["descriptor_moods_seconds"] = round(d, 3)
            report[fmt]["descriptor_moods_realtime_factor"] = round(SECONDS / d, 1)
        if not args.no_baseline:
            b = statistics.median(baseline(path) for _ in range(max(1, args.repeats // 2)))
            report[fmt]["plain_essentia_seconds"] = round(b, 3)
            report[fmt]["plain_essentia_realtime_factor"] = round(SECONDS / b, 1)
        print(fmt, json.dumps(report[fmt]), flush=True)
    pools = [("pool", AnalysisOptions())]
    if not args.no_descriptor:
        pools.append(("pool_descriptor_moods", AnalysisOptions(mood_model="descriptor")))
    for name, options in pools:
        wall = asyncio.run(pool_run(paths[: args.pool_tracks], args.workers, options))
        report[name] = {
            "workers": args.workers,
            "tracks": args.pool_tracks,
            "wall_seconds": round(wall, 2),
            "tracks_per_minute": round(args.pool_tracks / wall * 60, 1),
            "realtime_factor_total": round(args.pool_tracks * SECONDS / wall, 1),
        }
        print(name, json.dumps(report[name]), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
