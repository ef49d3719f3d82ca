"""Retrieval quality of similar tracks (services/domain/embeddings/similar.py) on a generated collection whose
true neighbours are known: tracks sharing artist + style + tempo band. Results in docs/benchmarks.md.

    .venv/bin/python bench/bench_similarity.py [--tracks 600] [--tuning-seed 11] [--test-seed 2027]

Each track's text vector is the active provider's embedding of `features.text_source(track)` and its audio
vector `features.audio_vector(track)`: the same recipe `service.embed_tracks` stores (called directly, without
a database). A query is one track; hit rate@10 = share of queries with at least one true neighbour among the
10 best others (queries without any true neighbour are not counted). Rankings: text, audio features, blended (WEIGHTS), the app's score (blended similarity plus
MIX_WEIGHT of tempo and key compatibility, services.common.transition), and two baselines: BPM-only nearest
and a random track of the same style. The text weight and MIX_WEIGHT are chosen on the tuning seed and
reported, with the app's current values, on a different (frozen) test seed.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ARTISTS = [f"{a} {b}" for a in ("Dark", "Solar", "Velvet", "Iron", "Neon", "Quiet", "Red", "Deep")
           for b in ("Vector", "Garden", "Pulse", "Echo", "Harbor")]
STYLES = {"Deep House": 122, "Techno": 130, "Drum n Bass": 172, "Disco": 118, "Dub Techno": 125, "Ambient": 90,
          "Acid House": 126, "Electro": 128, "Minimal": 127, "Breaks": 132}
WORDS = ["night", "drive", "city", "light", "river", "storm", "dream", "motion", "fire", "glass", "heart", "echo",
         "signal", "ocean", "dust", "gold", "shadow", "bloom", "static", "orbit"]
TEXT_WEIGHTS = (0.3, 0.5, 0.7, 0.9)
MIX_WEIGHTS = (0.0, 0.1, 0.25, 0.4)
K = 10


def generate(n: int, seed: int):
    """Tracks of artist x style groups: each group has a tempo (its band), a home key and a sound profile
    (energy, danceability, loudness, brightness, onsets) its tracks vary around."""
    from services.common.models import Track

    rng = random.Random(seed)
    profiles: dict[tuple[str, str], dict] = {}
    tracks, groups = [], []
    for i in range(n):
        artist, style = rng.choice(ARTISTS), rng.choice(list(STYLES))
        p = profiles.setdefault((artist, style), {
            "bpm": STYLES[style] + rng.uniform(-4, 4), "key": rng.randint(1, 12), "letter": rng.choice("AB"),
            "energy": rng.uniform(3, 9), "dance": rng.uniform(0.4, 0.9), "lufs": rng.uniform(-14, -6),
            "centroid": rng.uniform(800, 3500), "onsets": rng.uniform(1, 6)})
        bpm = p["bpm"] + rng.uniform(-1.5, 1.5)
        key = p["key"] if rng.random() < 0.6 else rng.randint(1, 12)
        t = Track(id=i, track_id=str(i), library_id=1, title=" ".join(rng.sample(WORDS, 2)).title(), artist=artist,
                  styles=[style], genres=["Electronic"], bpm=bpm, camelot=f"{key}{p['letter']}",
                  energy=min(10.0, max(1.0, p["energy"] + rng.gauss(0, 0.8))),
                  danceability=min(1.0, max(0.0, p["dance"] + rng.gauss(0, 0.08))),
                  loudness_lufs=p["lufs"] + rng.gauss(0, 1.0),
                  analysis={"energy_features": {"spectral_centroid_hz": p["centroid"] * rng.uniform(0.85, 1.15),
                                                "onset_rate": p["onsets"] + rng.gauss(0, 0.5)}})
        tracks.append(t)
        groups.append((artist, style, int(bpm // 4)))
    return tracks, groups


def text_vectors(tracks) -> tuple[np.ndarray, str]:
    from services.domain.embeddings import features, service

    provider = service.active_provider()
    texts = [features.text_source(t) for t in tracks]
    vectors = []
    for start in range(0, len(texts), 64):
        vectors += provider.embed(texts[start:start + 64])
    return np.asarray(vectors, dtype=np.float32), provider.model


def audio_vectors(tracks) -> np.ndarray:
    from services.domain.embeddings import features

    return np.asarray([features.audio_vector(t) for t in tracks], dtype=np.float32)


def mix_matrix(tracks) -> np.ndarray:
    """(tempo score + key score) / 2 of every pair, from services.common.transition (what similar.py adds)."""
    from services.common.transition import key_score, tempo_match
    from services.domain.embeddings.similar import PITCH_RANGE_PCT, camelot_of

    keys = [camelot_of(t) for t in tracks]
    n = len(tracks)
    m = np.zeros((n, n), dtype=np.float32)
    for i in range(n):
        for j in range(n):
            if i != j:
                tempo = tempo_match(tracks[i].bpm, tracks[j].bpm, pitch_range_pct=PITCH_RANGE_PCT).score
                m[i, j] = (tempo + key_score(keys[i], keys[j])[0]) / 2
    return m


def hit_rate(score: np.ndarray, groups: list) -> float:
    """Share of the queries having a true neighbour that find one among their K best others."""
    score = score.copy()
    np.fill_diagonal(score, -np.inf)
    hits = queries = 0
    for i, row in enumerate(score):
        if groups.count(groups[i]) < 2:
            continue  # no true neighbour to find
        queries += 1
        top = np.argpartition(-row, K)[:K]
        hits += any(groups[j] == groups[i] for j in top)
    return round(hits / max(1, queries), 3)


def evaluate(n: int, seed: int, text_weight: float, mix_weight: float) -> dict:
    tracks, groups = generate(n, seed)
    started = time.perf_counter()
    t, model = text_vectors(tracks)
    embed_s = time.perf_counter() - started
    a = audio_vectors(tracks)
    st, sa, mix = t @ t.T, a @ a.T, mix_matrix(tracks)
    bpm = np.array([x.bpm for x in tracks])
    rng = np.random.default_rng(seed)
    styles = np.array([x.styles[0] for x in tracks])

    def blended(w: float) -> np.ndarray:
        return w * st + (1 - w) * sa

    def app(w: float, m: float) -> np.ndarray:
        return (1 - m) * blended(w) + m * mix

    grid = {f"text {w} / mix {m}": hit_rate(app(w, m), groups) for w in TEXT_WEIGHTS for m in MIX_WEIGHTS}
    return {
        "seed": seed, "tracks": n, "queries": sum(groups.count(g) > 1 for g in groups),
        "model": model, "embed_s": round(embed_s, 1),
        "text": hit_rate(st, groups), "audio": hit_rate(sa, groups),
        "blended": hit_rate(blended(text_weight), groups), "app_score": hit_rate(app(text_weight, mix_weight), groups),
        "baseline_bpm_nearest": hit_rate(-np.abs(bpm[:, None] - bpm[None, :]), groups),
        "baseline_same_style_random": hit_rate((styles[:, None] == styles[None, :]) + rng.random((n, n)), groups),
        "grid": grid,
    }


def main() -> None:
    from services.domain.embeddings.similar import MIX_WEIGHT, WEIGHTS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracks", type=int, default=600)
    parser.add_argument("--tuning-seed", type=int, default=11)
    parser.add_argument("--test-seed", type=int, default=2027)
    args = parser.parse_args()
    current = (WEIGHTS["text"] / (WEIGHTS["text"] + WEIGHTS["audio"]), MIX_WEIGHT)
    tuning = evaluate(args.tracks, args.tuning_seed, *current)
    best = max(tuning["grid"], key=lambda k: (tuning["grid"][k], k))
    w, m = (float(part.split()[-1]) for part in best.split(" / "))
    test_best = evaluate(args.tracks, args.test_seed, w, m)
    test_current = evaluate(args.tracks, args.test_seed, *current) if (w, m) != current else test_best
    out = {"current": {"text_weight": current[0], "mix_weight": current[1]},
           "tuned": {"text_weight": w, "mix_weight": m},
           "tuning": tuning, "test_with_tuned": test_best, "test_with_current": test_current}
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
