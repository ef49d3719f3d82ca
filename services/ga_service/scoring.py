"""Vectorized twin of services/common/transition.py: the matrices the optimizers work on.

A `Problem` holds
* T (n x n): transition score a->b (tempo, key, similarity, minus adjacent artist/album repeats),
* E (n x L): weighted energy fit of track i at position k of a set of length L,
* S (n x n): symmetric artist/album repeat penalty used for tracks 2..window slots apart (/ distance),
so the objective of an order is a gather: sum T[p_k, p_k+1] + sum E[p_k, k] - sum_d S[p_k, p_k+d] / d.
For select mode the permutation runs over the whole pool and only its first L entries count.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from services.common.camelot import CamelotKey
from services.common.transition import (
    HALF_DOUBLE_FACTOR,
    NEUTRAL,
    TEMPO_STEP_VIOLATION,
    TrackFeatures,
    TransitionOptions,
    energy_fit,
    energy_scale,
    energy_targets,
    key_score,
    window_decay,
)


@dataclass
class Problem:
    T: np.ndarray
    E: np.ndarray
    S: np.ndarray | None
    window: int
    length: int
    first: int | None = None
    last: int | None = None

    @property
    def n(self) -> int:
        return self.T.shape[0]

    @property
    def lo(self) -> int:
        """First movable position."""
        return 1 if self.first is not None else 0

    @property
    def hi(self) -> int:
        """Last movable position (inclusive)."""
        return self.length - 2 if self.last is not None else self.length - 1

    def has_window(self) -> bool:
        return self.S is not None and self.window >= 2

    def evaluate(self, perms: np.ndarray) -> np.ndarray:
        """Objective for one permutation (1-D) or a batch (K x m); only the first `length` entries count."""
        p = np.asarray(perms)
        single = p.ndim == 1
        x = p[None, : self.length] if single else p[:, : self.length]
        total = self.E[x, np.arange(self.length)].sum(axis=1)
        if self.length > 1:
            total += self.T[x[:, :-1], x[:, 1:]].sum(axis=1)
        total -= self.window_penalty(x)
        return total[0] if single else total

    def window_penalty(self, x: np.ndarray) -> np.ndarray:
        """Penalty of repeats 2..window slots apart for a batch (K x >=length)."""
        x = x[:, : self.length]
        out = np.zeros(x.shape[0])
        if not self.has_window():
            return out
        for d in range(2, min(self.window, self.length - 1) + 1):
            out += window_decay(d) * self.S[x[:, :-d], x[:, d:]].sum(axis=1)
        return out

    def window_cut_penalty(self, x: np.ndarray) -> np.ndarray:
        """q[c] = penalty of the window pairs (a, b) with a < c <= b, for c in 0..length.

        Any move that cuts the order at positions c can remove at most the sum of q over its cuts,
        which bounds the gain local search can expect from the window term.
        """
        q = np.zeros(self.length + 2)
        if not self.has_window():
            return q[: self.length + 1]
        x = x[: self.length]
        for d in range(2, min(self.window, self.length - 1) + 1):
            pen = window_decay(d) * self.S[x[:-d], x[d:]]  # pair (k, k+d) crosses cuts k+1..k+d
            k = np.nonzero(pen)[0]
            np.add.at(q, k + 1, pen[k])
            np.add.at(q, k + d + 1, -pen[k])
        return np.cumsum(q)[: self.length + 1]

    def sub(self, idx: np.ndarray, length: int | None = None) -> Problem:
        """The problem restricted to the pool entries `idx` (fixed tracks must be included)."""
        idx = np.asarray(idx)
        pos = {int(v): i for i, v in enumerate(idx)}
        return Problem(
            T=self.T[np.ix_(idx, idx)],
            E=self.E[idx],
            S=None if self.S is None else self.S[np.ix_(idx, idx)],
            window=self.window,
            length=self.length if length is None else length,
            first=None if self.first is None else pos[self.first],
            last=None if self.last is None else pos[self.last],
        )


def _key_table(options: TransitionOptions) -> np.ndarray:
    keys = [CamelotKey(n, letter) for n in range(1, 13) for letter in ("A", "B")]
    table = np.empty((24, 24))
    for i, a in enumerate(keys):
        for j, b in enumerate(keys):
            table[i, j] = key_score(
                a, b, allow_energy_boost=options.allow_energy_boost, allow_semitone=options.allow_semitone
            )[0]
    return table


def key_index(key: CamelotKey | None) -> int:
    return -1 if key is None else (key.number - 1) * 2 + (key.letter == "B")


def tempo_matrix(bpm: np.ndarray, options: TransitionOptions) -> np.ndarray:
    """Raw tempo term for every pair; NaN bpm -> neutral. Mirrors transition.tempo_match exactly."""
    a = bpm[:, None]
    b = bpm[None, :]
    factors = [1.0, 2.0, 0.5] if options.allow_half_double else [1.0]
    with np.errstate(invalid="ignore", divide="ignore"):
        pitches = np.stack([np.abs(b * f / a - 1.0) for f in factors])
        choice = np.argmin(np.where(np.isnan(pitches), np.inf, pitches), axis=0)
        pitch = np.take_along_axis(pitches, choice[None], axis=0)[0] * 100.0
        factor = np.asarray(factors)[choice]
        score = np.maximum(0.0, 1.0 - (pitch / options.pitch_range_pct) ** 2)
        score = np.where(choice != 0, score * HALF_DOUBLE_FACTOR, score)
        if options.max_bpm_step is not None:
            delta = b * factor - a
            score = np.where(np.abs(delta) > options.max_bpm_step + 1e-9, TEMPO_STEP_VIOLATION, score)
    missing = np.isnan(a) | np.isnan(b)
    return np.where(missing, NEUTRAL, score)


def similarity_matrix(feats: list[TrackFeatures]) -> np.ndarray:
    n = len(feats)
    sim = np.full((n, n), NEUTRAL)
    # Tags: Jaccard through a sparse-ish binary matrix product.
    vocab: dict[str, int] = {}
    for f in feats:
        for t in f.tags:
            vocab.setdefault(t, len(vocab))
    if vocab:
        B = np.zeros((n, len(vocab)), dtype=np.float64)
        for i, f in enumerate(feats):
            B[i, [vocab[t] for t in f.tags]] = 1.0
        sizes = B.sum(axis=1)
        inter = B @ B.T
        union = sizes[:, None] + sizes[None, :] - inter
        has = sizes > 0
        both = has[:, None] & has[None, :]
        with np.errstate(invalid="ignore", divide="ignore"):
            sim = np.where(both, inter / np.where(union > 0, union, 1.0), sim)
    # Embeddings win when both tracks have a usable one.
    dims = {len(f.embedding) for f in feats if f.embedding is not None}
    if len(dims) == 1:
        d = dims.pop()
        U = np.zeros((n, d))
        ok = np.zeros(n, dtype=bool)
        for i, f in enumerate(feats):
            if f.embedding is not None:
                v = np.asarray(f.embedding, dtype=np.float64)
                norm = np.sqrt((v * v).sum())
                if norm > 0:
                    U[i] = v / norm
                    ok[i] = True
        cos = np.clip(U @ U.T, -1.0, 1.0)
        sim = np.where(ok[:, None] & ok[None, :], (1.0 + cos) / 2.0, sim)
    return sim


def repeat_matrices(feats: list[TrackFeatures]) -> tuple[np.ndarray, np.ndarray]:
    """(same_artist, same_album) boolean n x n matrices."""
    n = len(feats)
    vocab: dict[str, int] = {}
    for f in feats:
        for a in f.artists:
            vocab.setdefault(a, len(vocab))
    if vocab:
        A = np.zeros((n, len(vocab)), dtype=np.float32)
        for i, f in enumerate(feats):
            A[i, [vocab[a] for a in f.artists]] = 1.0
        same_artist = (A @ A.T) > 0
    else:
        same_artist = np.zeros((n, n), dtype=bool)
    albums: dict[str, int] = {}
    codes = np.array([-1 if f.album is None else albums.setdefault(f.album, len(albums)) for f in feats])
    same_album = (codes[:, None] == codes[None, :]) & (codes[:, None] >= 0)
    return same_artist, same_album


def build_problem(
    feats: list[TrackFeatures],
    options: TransitionOptions,
    *,
    length: int,
    curve: str | list[tuple[float, float]] | None = None,
    first: int | None = None,
    last: int | None = None,
) -> tuple[Problem, list[float] | None]:
    """Matrices for `feats`; returns the problem and the per-position energy targets (or None)."""
    w = options.weights
    bpm = np.array([np.nan if f.bpm is None else f.bpm for f in feats], dtype=np.float64)
    tempo = tempo_matrix(bpm, options)
    kidx = np.array([key_index(f.key) for f in feats])
    key = _key_table(options)[kidx[:, None], kidx[None, :]]
    key = np.where((kidx[:, None] < 0) | (kidx[None, :] < 0), NEUTRAL, key)
    sim = similarity_matrix(feats)
    same_artist, same_album = repeat_matrices(feats)
    repeat = w.artist * same_artist + w.album * same_album
    T = w.tempo * tempo + w.key * key + w.similarity * sim
    if options.artist_window >= 1:
        T = T - repeat
    S = repeat.astype(np.float64) if options.artist_window >= 2 and repeat.any() else None

    targets = energy_targets(curve, length, [f.energy for f in feats])
    if targets is None or w.energy == 0:
        E = np.zeros((len(feats), length))
    else:
        tgt = np.asarray(targets)
        en = np.array([np.nan if f.energy is None else f.energy for f in feats])
        scale = energy_scale([f.energy for f in feats], targets)
        fit = np.maximum(0.0, 1.0 - np.abs(en[:, None] - tgt[None, :]) / scale)
        E = w.energy * np.where(np.isnan(en)[:, None], NEUTRAL, fit)
    problem = Problem(T=T, E=E, S=S, window=options.artist_window, length=length, first=first, last=last)
    return problem, targets


__all__ = ["Problem", "build_problem", "energy_fit", "similarity_matrix", "tempo_matrix"]
