"""EBU R128 readings of two analyzer builds on the same held-out clips, side by side.

    # once per build (the other checked out beside it: git worktree add /tmp/old <commit>)
    PYTHONPATH=/tmp/old .venv/bin/python bench/compare_loudness.py read --out /tmp/loud-old.json
    PYTHONPATH=.        .venv/bin/python bench/compare_loudness.py read --out /tmp/loud-new.json
    .venv/bin/python bench/compare_loudness.py diff /tmp/loud-old.json /tmp/loud-new.json --out RESULT.json

`read` analyses every clip a held-out result lists (`--clips-from`, default the 1.14 run; the clips come from
the held-out cache, rendered by bench_analysis_heldout.py) with the build on PYTHONPATH. `diff` reports the
differences in integrated loudness and loudness range, overall and per format.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CLIPS = ROOT / "bench/analysis_heldout_results/2026-12-07-1.14.json"
FIELDS = ("lufs", "lra")


def read(clips_from: Path, cache_dir: Path, out: Path) -> None:
    from services.common.contracts.analysis import ANALYZER_VERSION
    from services.essentia_api.analysis.pipeline import AnalysisOptions, analyze_file

    cached: dict[str, list[Path]] = {}
    for path in cache_dir.glob("*/*/*"):  # <generator>/s<seed>/<clip_id>.<format>
        cached.setdefault(path.stem, []).append(path)
    clips = {}
    for row in json.loads(clips_from.read_text())["per_clip"]:
        paths = cached.get(row["clip_id"], [])
        if len(paths) != 1:
            sys.exit(f"{row['clip_id']}: {len(paths)} files in {cache_dir} (render the held-out clips first)")
        result = analyze_file(path=str(paths[0]), options=AnalysisOptions())
        clips[row["clip_id"]] = {"format": paths[0].suffix[1:], "lufs": result.loudness_lufs,
                                 "lra": result.loudness_range_lu}
    out.write_text(json.dumps({"analyzer_version": ANALYZER_VERSION, "clips": clips}, indent=1))
    print(f"{ANALYZER_VERSION}: {len(clips)} clips -> {out}")


def _summary(diffs: list[float]) -> dict:
    size = sorted(abs(d) for d in diffs)
    return {"n": len(diffs), "median_abs": round(statistics.median(size), 3),
            "p95_abs": round(size[int(0.95 * (len(size) - 1))], 3), "max_abs": round(size[-1], 3),
            "mean": round(statistics.mean(diffs), 3)}


def diff(old: Path, new: Path, out: Path | None) -> None:
    a, b = json.loads(old.read_text()), json.loads(new.read_text())
    common = sorted(a["clips"].keys() & b["clips"].keys())
    report = {"old": a["analyzer_version"], "new": b["analyzer_version"], "clips": len(common)}
    for field in FIELDS:
        report[field] = {"all": _summary([b["clips"][c][field] - a["clips"][c][field] for c in common])}
        for fmt in sorted({a["clips"][c]["format"] for c in common}):
            report[field][fmt] = _summary([b["clips"][c][field] - a["clips"][c][field] for c in common
                                           if a["clips"][c]["format"] == fmt])
    print(json.dumps(report, indent=1))
    if out:
        out.write_text(json.dumps(report, indent=1))


def main() -> None:
    sys.path.append(str(ROOT))  # after PYTHONPATH: the build to read is the one PYTHONPATH names
    from bench.analysis_heldout.clips import DEFAULT_CACHE

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("read")
    r.add_argument("--out", type=Path, required=True)
    r.add_argument("--clips-from", type=Path, default=DEFAULT_CLIPS)
    r.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE)
    d = sub.add_parser("diff")
    d.add_argument("old", type=Path)
    d.add_argument("new", type=Path)
    d.add_argument("--out", type=Path)
    args = parser.parse_args()
    if args.command == "read":
        read(args.clips_from, args.cache_dir, args.out)
    else:
        diff(args.old, args.new, args.out)


if __name__ == "__main__":
    main()
