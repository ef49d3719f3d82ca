"""Benchmark: a DJ's own files matched to the library's tracks (services/domain/local_audio).

What goes wrong when audio is attached by tags is the *wrong* track getting a file (the DJ plays the wrong
record), so precision comes first; recall says how much is left to choose by hand.

**Material.** Per split, a library of `--tracks` generated tracks (bench/search/library.py: the "syllables"
generator, seed 4101, is the tuning split; "wordlist", seed 4202, the frozen test split; a tenth of the
artists have a neighbour one letter away, 3 % non-Latin names), 80 % with a duration (150-480 s; Discogs often
has none). For `--files` sampled tracks, one file per kind of tagging a DJ's folder holds:
exact tags; other case; one typo; "(Original Mix)" added; "(feat. X)" added; no tags, named "NN - Artist -
Title.mp3"; no tags, scene-named "NN-artist-title.mp3"; tags without a length; a length 2 s off. Plus
*versions*: for a tenth of the sample a "(Dub)" of the track is added to the library, and both the plain file
and the dub's file must find their own; and *negatives*: as many files of tracks that are not in the library
(same artists' pool): they must not be attached.

**Measured** (`match_tags`, the service the API and the CLI call, against the real PostgreSQL): per kind,
attached to the right track / to a wrong one / left ambiguous (and whether the right track is among the
candidates) / unmatched; the time per file. **Baseline**, same files, same run: the plain way (a script's
case-insensitive exact artist + title lookup, attached when exactly one track has them).

Targets, set before the first run: attached to a wrong track <= 1 % of attachments on each split (precision
>= 0.99), negatives attached <= 1 %, right track attached >= 90 % of the positive files.

    .venv/bin/python bench/bench_local_audio.py               # both splits, 20,000 tracks, 200 files per kind
    .venv/bin/python bench/bench_local_audio.py --tracks 2000 --files 30   # a quick look
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.search.library import FIRST_B, Generator, _edit  # noqa: E402
from bench.servers import bench_servers  # noqa: E402

SPLITS = {"tuning": ("syllables", 4101), "test": ("wordlist", 4202)}
RESULTS = ROOT / "bench" / "local_audio_results"
KINDS = ("exact", "case", "typo", "original_mix", "feat", "named", "scene_named", "no_length", "length_off",
         "versions", "negative")


def _typo(text: str, rng: random.Random) -> str:
    words = text.split()
    long_words = [i for i, w in enumerate(words) if len(w) >= 4]
    if not long_words:
        return text
    i = rng.choice(long_words)
    words[i] = _edit(words[i], rng)
    return " ".join(words)


def _scene(text: str) -> str:
    return "_".join(text.lower().split())


def files_for(track: dict, kind: str, n: int, rng: random.Random):
    """The FileTags a file of `track` of this kind gives (tags, or what its name says)."""
    from services.domain.local_audio.tags import FileTags, from_filename

    length = track["duration"] + rng.uniform(-1, 1) if track["duration"] else round(rng.uniform(150, 480), 1)
    artist, title = track["artist"], track["title"]
    if kind == "case":
        artist, title = artist.lower(), title.upper()
    elif kind == "typo":
        title = _typo(title, rng) if rng.random() < 0.5 else title
        artist = _typo(artist, rng) if title == track["title"] else artist
    elif kind == "original_mix":
        title = f"{title} (Original Mix)"
    elif kind == "feat":
        title = f"{title} (feat. {rng.choice(FIRST_B)})"
    elif kind in ("named", "scene_named"):
        name = (f"{n:02d} - {artist} - {title}.mp3" if kind == "named"
                else f"{n:02d}-{_scene(artist)}-{_scene(title)}.mp3")
        read_artist, read_title = from_filename(name)
        return FileTags(artist=read_artist, title=read_title, duration_seconds=length, source="filename")
    elif kind == "no_length":
        length = None
    elif kind == "length_off":
        length = (track["duration"] or length) + 2.0
    return FileTags(artist=artist, title=title, duration_seconds=length)


def load(n: int, kind: str, seed: int, files: int):
    """Fresh tables; one user and library of n generated tracks; the sample and the negatives."""
    from sqlalchemy import text

    from services.common.db import get_engine

    gen = Generator(kind, seed)
    rng = random.Random(seed + 1)
    generated = gen.tracks(n + files)
    library, outside = generated[:n], generated[n:]
    rows = [{"artist": t.artist, "title": t.title, "album": t.album,
             "duration": round(rng.uniform(150, 480), 1) if rng.random() < 0.8 else None} for t in library]
    sample = rng.sample(range(n), files)
    dubbed = sample[: max(1, files // 10)]
    for i in dubbed:
        rows.append({**rows[i], "title": f"{rows[i]['title']} (Dub)",
                     "duration": rows[i]["duration"] + 60 if rows[i]["duration"] else None})
    with get_engine().begin() as conn:
        conn.execute(text("TRUNCATE tracks, albums, libraries, users RESTART IDENTITY CASCADE"))
        user_id = conn.execute(text("INSERT INTO users (username, password_hash) VALUES ('bench', 'x') "
                                    "RETURNING id")).scalar()
        library_id = conn.execute(text("INSERT INTO libraries (owner_id, name, settings) VALUES "
                                       "(:u, 'Bench crates', '{}') RETURNING id"), {"u": user_id}).scalar()
        cur = conn.connection.driver_connection.cursor()
        with cur.copy("COPY tracks (track_id, library_id, title, artist, album, duration_seconds) FROM STDIN") as copy:
            for i, row in enumerate(rows, 1):
                copy.write_row((f"{i}-A1", library_id, row["title"], row["artist"], row["album"], row["duration"]))
    with get_engine().connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE tracks"))
    for pk, row in enumerate(rows, 1):
        row["pk"] = pk  # ids follow the COPY order (RESTART IDENTITY)
    negatives = [{"artist": t.artist, "title": t.title, "duration": round(rng.uniform(150, 480), 1), "pk": None}
                 for t in outside]
    return user_id, library_id, rows, sample, {i: n + j + 1 for j, i in enumerate(dubbed)}, negatives


def baseline_index(rows: list[dict]) -> dict:
    index: dict[tuple[str, str], list[int]] = {}
    for row in rows:
        index.setdefault((row["artist"].casefold(), row["title"].casefold()), []).append(row["pk"])
    return index


def baseline(index: dict, tags) -> int | None:
    found = index.get(((tags.artist or "").casefold(), (tags.title or "").casefold()), [])
    return found[0] if len(found) == 1 else None


def cases(rows, sample, dubs, negatives, rng):
    """(kind, expected track pk or None, FileTags)."""
    out = []
    for n, i in enumerate(sample, 1):
        for kind in KINDS[:-2]:
            out.append((kind, rows[i]["pk"], files_for(rows[i], kind, n, rng)))
    for i, dub_pk in dubs.items():
        out.append(("versions", rows[i]["pk"], files_for(rows[i], "exact", 0, rng)))
        out.append(("versions", dub_pk, files_for(rows[dub_pk - 1], "exact", 0, rng)))
    for n, row in enumerate(negatives, 1):
        out.append(("negative", None, files_for(row, "exact", n, rng)))
    return out


def run_split(split: str, tracks: int, files: int) -> dict:
    from services.common.db import session_scope
    from services.common.models import User
    from services.domain.local_audio.service import match_tags

    kind, seed = SPLITS[split]
    t0 = time.perf_counter()
    user_id, library_id, rows, sample, dubs, negatives = load(tracks, kind, seed, files)
    load_s = time.perf_counter() - t0
    rng = random.Random(seed + 2)
    todo = cases(rows, sample, dubs, negatives, rng)
    index = baseline_index(rows)
    tally: dict[str, Counter] = {k: Counter() for k in KINDS}
    plain: dict[str, Counter] = {k: Counter() for k in KINDS}
    times, wrong = [], []
    with session_scope() as s:
        user = s.get(User, user_id)
        for kind_name, expected, tags in todo:
            t = time.perf_counter()
            found = match_tags(session=s, user=user, library_id=library_id, tags=tags)
            times.append((time.perf_counter() - t) * 1000)
            c = tally[kind_name]
            c["files"] += 1
            if found.status == "matched":
                ok = found.track_pk == expected
                c["right" if ok else "wrong"] += 1
                if not ok:
                    wrong.append({"kind": kind_name, "tags": tags.model_dump(), "expected": expected,
                                  "attached_to": found.track_pk, "score": found.score})
            elif found.status == "ambiguous":
                c["ambiguous"] += 1
                c["ambiguous_with_right"] += any(x.track_pk == expected for x in found.candidates)
            else:
                c["unmatched"] += 1
            p = plain[kind_name]
            p["files"] += 1
            got = baseline(index, tags)
            p["none" if got is None else ("right" if got == expected else "wrong")] += 1
    return {"generator": kind, "seed": seed, "tracks": len(rows), "load_s": round(load_s, 1),
            "ms_per_file": {"median": round(statistics.median(times), 1),
                            "p95": round(sorted(times)[int(len(times) * 0.95) - 1], 1)},
            "matcher": {k: dict(v) for k, v in tally.items()}, "baseline": {k: dict(v) for k, v in plain.items()},
            "summary": {"matcher": summary(tally), "baseline": summary(plain)}, "wrong_attachments": wrong[:50]}


def summary(tally: dict[str, Counter]) -> dict:
    positives = [k for k in KINDS if k != "negative"]
    right = sum(tally[k]["right"] for k in positives)
    wrong = sum(tally[k]["wrong"] for k in positives) + tally["negative"]["wrong"]
    files = sum(tally[k]["files"] for k in positives)
    return {"recall": round(right / files, 4) if files else None,
            "precision": round(right / (right + wrong), 4) if right + wrong else None,
            "negatives_attached": round(tally["negative"]["wrong"] / max(1, tally["negative"]["files"]), 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tracks", type=int, default=20_000)
    parser.add_argument("--files", type=int, default=200, help="sampled tracks (files per kind)")
    parser.add_argument("--split", choices=("tuning", "test", "both"), default="both")
    args = parser.parse_args()
    os.environ.pop("MEILISEARCH_HOST", None)
    report = {"machine": f"{os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}",
              "date": datetime.now(UTC).isoformat(timespec="seconds"), "tracks": args.tracks, "files": args.files}
    with bench_servers("djp-bench-local-audio-", redis=False):
        from services.common.db import get_engine
        from services.domain.startup import migrate

        migrate(get_engine())
        for split in (("tuning", "test") if args.split == "both" else (args.split,)):
            report[split] = run_split(split, args.tracks, args.files)
            print(json.dumps({split: {k: report[split][k] for k in ("summary", "ms_per_file", "matcher")}},
                             indent=1), flush=True)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"{datetime.now(UTC):%Y-%m-%dT%H%M}-{args.split}-{args.tracks}x{args.files}.json"
    out.write_text(json.dumps(report, indent=1, ensure_ascii=False))
    print(f"written {out}")


if __name__ == "__main__":
    main()
