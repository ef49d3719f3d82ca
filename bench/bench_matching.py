"""Benchmark: precision and recall of auto-accept for enrichment track matching.

Two tables of tricky real-world pairs (a library track as Discogs has it vs what a platform returns),
written independently: `bench/matching/tuning.csv` (electronic / dance) is the only one the threshold
and the scorer were tuned on; `bench/matching/test.csv` (hip-hop, rock, pop, J-pop, Russian) was written
before any tuning and then frozen (its SHA-256 is printed and stored with the results).

For each split it reports, at the documented threshold (`matching.DEFAULT_THRESHOLD`):
precision and recall of "accept", how many pairs land in review / reject, the misses; plus two plain
baselines on the same pairs: case-insensitive exact artist+title equality, and rapidfuzz `ratio` >= 90
on "artist title". The sweep over thresholds is computed on the tuning split only.

    .venv/bin/python bench/bench_matching.py            # prints a summary, writes bench/matching_results/<date>.json
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import platform
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from services.domain.enrichment.matching import DEFAULT_THRESHOLD, decide, score
from services.domain.enrichment.models import Candidate, TrackQuery

HERE = Path(__file__).resolve().parent
TUNING = HERE / "matching" / "tuning.csv"
TEST = HERE / "matching" / "test.csv"
RESULTS = HERE / "matching_results"
TARGET_PRECISION, TARGET_RECALL = 0.99, 0.85


@dataclass(frozen=True)
class Pair:
    query: TrackQuery
    candidate: Candidate
    expected: bool
    note: str


def _seconds(text: str) -> float | None:
    text = (text or "").strip()
    return float(text) if text else None


def load_pairs(path: Path) -> list[Pair]:
    pairs = []
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            expected = row["expected"].strip()
            if expected not in ("match", "no-match"):
                raise ValueError(f"{path.name}: expected must be match/no-match, got {expected!r}")
            pairs.append(Pair(
                query=TrackQuery(artist=row["query_artist"], title=row["query_title"],
                                 duration_seconds=_seconds(row["query_duration"])),
                candidate=Candidate(source="bench", url="", external_id="", artist=row["candidate_artist"],
                                    title=row["candidate_title"], duration_seconds=_seconds(row["candidate_duration"])),
                expected=expected == "match",
                note=row.get("note", ""),
            ))
    return pairs


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _metrics(accepted: list[bool], expected: list[bool]) -> dict:
    tp = sum(a and e for a, e in zip(accepted, expected, strict=True))
    fp = sum(a and not e for a, e in zip(accepted, expected, strict=True))
    fn = sum(e and not a for a, e in zip(accepted, expected, strict=True))
    return {
        "pairs": len(expected), "matches": sum(expected), "accepted": tp + fp, "true_positives": tp,
        "false_positives": fp, "false_negatives": fn,
        "precision": round(tp / (tp + fp), 4) if tp + fp else 1.0,
        "recall": round(tp / (tp + fn), 4) if tp + fn else 1.0,
    }


def evaluate(pairs: list[Pair], threshold: float = DEFAULT_THRESHOLD) -> dict:
    """Auto-accept metrics of the scorer at `threshold`, with each pair's decision for the misses."""
    scores = [score(p.query, p.candidate) for p in pairs]
    decisions = [decide(s, threshold) for s in scores]
    out = _metrics([d == "accept" for d in decisions], [p.expected for p in pairs])
    out["threshold"] = threshold
    out["review"] = sum(d == "review" for d in decisions)
    out["reject"] = sum(d == "reject" for d in decisions)
    out["matches_in_review"] = sum(d == "review" and p.expected for d, p in zip(decisions, pairs, strict=True))
    out["errors"] = [
        {"query": f"{p.query.artist} - {p.query.title}", "candidate": f"{p.candidate.artist} - {p.candidate.title}",
         "expected": "match" if p.expected else "no-match", "decision": d, "score": s.value, "note": p.note,
         "evidence": s.evidence}
        for p, s, d in zip(pairs, scores, decisions, strict=True)
        if (d == "accept") != p.expected
    ]
    return out


def baseline_exact(pairs: list[Pair]) -> dict:
    """Case-insensitive exact artist and title equality."""
    accepted = [p.query.artist.strip().casefold() == p.candidate.artist.strip().casefold()
                and p.query.title.strip().casefold() == p.candidate.title.strip().casefold() for p in pairs]
    return _metrics(accepted, [p.expected for p in pairs])


def baseline_ratio(pairs: list[Pair], cutoff: float = 90.0) -> dict:
    """rapidfuzz `ratio` of lower-cased "artist title" strings at `cutoff`."""
    from rapidfuzz.fuzz import ratio

    accepted = [ratio(f"{p.query.artist} {p.query.title}".lower(),
                      f"{p.candidate.artist} {p.candidate.title}".lower()) >= cutoff for p in pairs]
    return _metrics(accepted, [p.expected for p in pairs])


def sweep(pairs: list[Pair]) -> list[dict]:
    """Precision and recall at thresholds 0.50..0.99 (tuning split only)."""
    values = [(score(p.query, p.candidate).value, p.expected) for p in pairs]
    rows = []
    for i in range(50, 100):
        t = i / 100
        m = _metrics([v >= t for v, _ in values], [e for _, e in values])
        rows.append({"threshold": t, "precision": m["precision"], "recall": m["recall"],
                     "false_positives": m["false_positives"]})
    return rows


def best_threshold(rows: list[dict], min_precision: float = TARGET_PRECISION, margin: float = 0.05) -> float | None:
    """The threshold tuning recommends: among thresholds whose precision stays >= `min_precision` even
    `margin` lower (robust, not balanced on one pair), those with the highest recall form a plateau; its
    middle (rounded down to 0.01) is the recommendation."""
    by_t = {r["threshold"]: r for r in rows}
    ok = [r for r in rows if r["precision"] >= min_precision
          and all(by_t[t]["precision"] >= min_precision for t in by_t if r["threshold"] - margin - 1e-9 <= t <= r["threshold"])
          and r["threshold"] - margin >= min(by_t) - 1e-9]
    if not ok:
        return None
    top = max(r["recall"] for r in ok)
    plateau = [r["threshold"] for r in ok if r["recall"] == top]
    return int((min(plateau) + max(plateau)) / 2 * 100) / 100


def run(split_names: tuple[str, ...] = ("tuning", "test")) -> dict:
    paths = {"tuning": TUNING, "test": TEST}
    splits = {name: load_pairs(paths[name]) for name in split_names}
    started = time.perf_counter()
    result = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "threshold": DEFAULT_THRESHOLD,
        "target": {"precision": TARGET_PRECISION, "recall": TARGET_RECALL},
        "test_table_sha256": sha256(TEST),
        "tuning_table_sha256": sha256(TUNING),
        "splits": {},
    }
    tuning_sweep = sweep(splits["tuning"])
    result["tuning_sweep_best_threshold"] = best_threshold(tuning_sweep)
    result["tuning_sweep"] = tuning_sweep
    for name, pairs in splits.items():
        scorer = evaluate(pairs)
        result["splits"][name] = {
            "scorer": scorer,
            "baseline_exact": baseline_exact(pairs),
            "baseline_ratio90": baseline_ratio(pairs),
            "meets_target": scorer["precision"] >= TARGET_PRECISION and scorer["recall"] >= TARGET_RECALL,
        }
    result["seconds"] = round(time.perf_counter() - started, 3)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--tuning-only", action="store_true",
                        help="while tuning: never look at the test split (implies --no-write)")
    args = parser.parse_args()
    result = run(("tuning",) if args.tuning_only else ("tuning", "test"))
    print(f"threshold {result['threshold']} (best on tuning sweep: {result['tuning_sweep_best_threshold']}); "
          f"test.csv sha256 {result['test_table_sha256'][:16]}...")
    for name, split in result["splits"].items():
        s, e, r = split["scorer"], split["baseline_exact"], split["baseline_ratio90"]
        print(f"{name:7s} pairs {s['pairs']:3d} (matches {s['matches']}): scorer P {s['precision']:.3f} "
              f"R {s['recall']:.3f} (FP {s['false_positives']}, review {s['review']}, reject {s['reject']}) | "
              f"exact P {e['precision']:.3f} R {e['recall']:.3f} | ratio>=90 P {r['precision']:.3f} "
              f"R {r['recall']:.3f} | target met: {split['meets_target']}")
        for err in s["errors"]:
            print(f"    {err['expected']:8s} -> {err['decision']:6s} {err['score']:.3f}  {err['query']!r} vs "
                  f"{err['candidate']!r}  [{err['note']}]")
    if not (args.no_write or args.tuning_only):
        RESULTS.mkdir(exist_ok=True)
        out = RESULTS / f"{datetime.now(UTC):%Y-%m-%d}.json"
        out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"wrote {out.relative_to(HERE.parent)}")


if __name__ == "__main__":
    main()
