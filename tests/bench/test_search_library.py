"""The search benchmark's generated libraries are the same in every process (a frozen split must be)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DIGEST = """
import hashlib, sys
from bench.search.library import Generator, queries
kind, seed = sys.argv[1], int(sys.argv[2])
tracks = Generator(kind, seed).tracks(3000)
qs = queries(tracks, seed + 1)
print(hashlib.sha256(repr(([(t.title, t.artist, t.album, t.genres, t.styles, t.bpm) for t in tracks],
                           [sorted(vars(q).items()) for q in qs])).encode()).hexdigest())
"""


@pytest.mark.parametrize(("kind", "seed"), [("syllables", 1234), ("wordlist", 2027)])
def test_a_split_is_the_same_whatever_the_hash_seed(kind, seed):
    digests = set()
    for hash_seed in ("1", "2"):  # str hashing (set order) differs between these two processes
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        out = subprocess.run([sys.executable, "-c", DIGEST, kind, str(seed)], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=120, check=True)
        digests.add(out.stdout.strip())
    assert len(digests) == 1
