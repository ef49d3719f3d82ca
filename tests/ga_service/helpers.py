"""Helpers for the set builder tests: reproducible random libraries and problems."""

from __future__ import annotations

import numpy as np

from services.common.camelot import CamelotKey
from services.common.transition import TransitionOptions, features
from services.ga_service.scoring import build_problem


def make_tracks(n: int, seed: int = 0, *, artists: int | None = None, missing: float = 0.0) -> list[dict]:
    """Track dicts as the API receives them: house tempos plus some half/double-time ones."""
    rng = np.random.default_rng(seed)
    artists = artists or max(2, n // 3)
    out = []
    for i in range(n):
        bpm = float(
            rng.choice(
                [rng.uniform(118, 132), rng.uniform(85, 95), rng.uniform(168, 176)], p=[0.7, 0.15, 0.15]
            )
        )
        t = {
            "id": f"t{i}",
            "bpm": round(bpm, 2),
            "camelot": f"{rng.integers(1, 13)}{'AB'[rng.integers(0, 2)]}",
            "energy": round(float(rng.random()), 3),
            "duration": round(float(rng.uniform(180, 420)), 1),
            "artist": f"artist {rng.integers(0, artists)}",
            "album": f"album {rng.integers(0, 2 * artists)}",
            "genres": ["house"] if rng.random() < 0.7 else ["techno"],
            "styles": [f"style {s}" for s in rng.choice(6, size=2, replace=False)],
            "moods": [],
        }
        if rng.random() < missing:
            t["bpm"] = None
        if rng.random() < missing:
            t["camelot"] = None
        if rng.random() < missing:
            t["energy"] = None
        out.append(t)
    return out


def random_problem(
    n: int,
    seed: int,
    *,
    window: int = 3,
    curve: str | None = "peak",
    length: int | None = None,
    first: int | None = None,
    last: int | None = None,
    missing: float = 0.1,
):
    rng = np.random.default_rng(seed)
    feats = []
    for i in range(n):
        feats.append(
            features(
                str(i),
                bpm=None
                if rng.random() < missing
                else float(rng.choice([rng.uniform(118, 132), rng.uniform(85, 95)])),
                key=None
                if rng.random() < missing
                else CamelotKey(int(rng.integers(1, 13)), "AB"[int(rng.integers(0, 2))]),
                energy=None if rng.random() < missing else float(rng.random()),
                artist=f"a{rng.integers(0, 3)}",
                album=f"al{rng.integers(0, 6)}",
                tags=[f"g{g}" for g in rng.choice(8, size=3, replace=False)],
            )
        )
    problem, _ = build_problem(
        feats,
        TransitionOptions(artist_window=window),
        length=length or n,
        curve=curve,
        first=first,
        last=last,
    )
    return problem
