"""Greedy baseline and instant-feedback mode: nearest neighbour, then 2-opt (swap-in too when selecting)."""

from __future__ import annotations

import numpy as np

from services.common.transition import window_decay
from services.ga_service.local_search import LSResult, local_search
from services.ga_service.scoring import Problem


def nearest_neighbour(problem: Problem, start: int | None = None) -> np.ndarray:
    """Grow the set one track at a time, taking the best next track for its position.

    Returns a permutation of range(n): the first `length` entries are the set, the rest follow in index order.
    """
    p = problem
    n, L = p.n, p.length
    used = np.zeros(n, dtype=bool)
    if p.last is not None:
        used[p.last] = True  # reserved for the final slot
    first = p.first if p.first is not None else (start if start is not None else 0)
    seq = [first]
    used[first] = True
    for k in range(1, L):
        if k == L - 1 and p.last is not None:
            seq.append(p.last)
            break
        score = p.T[seq[-1]] + p.E[:, k]
        if p.has_window():
            for d in range(2, min(p.window, k) + 1):
                score = score - window_decay(d) * p.S[seq[k - d]]
        score = np.where(used, -np.inf, score)
        nxt = int(np.argmax(score))
        seq.append(nxt)
        used[nxt] = True
    if p.last is not None:
        used[p.last] = True
    rest = np.nonzero(~used)[0]
    return np.concatenate([np.asarray(seq, dtype=np.int64), rest])


def start_candidates(problem: Problem, limit: int = 8) -> list[int]:
    """Where to start nearest neighbour: every track for small inputs, else the most promising few."""
    p = problem
    if p.first is not None:
        return [p.first]
    pool = [i for i in range(p.n) if i != p.last]
    if len(pool) <= limit * 3:
        return pool
    promise = p.E[pool, 0] + np.sort(p.T[pool][:, pool], axis=1)[:, -3:].mean(axis=1)
    order = np.argsort(-promise, kind="stable")[:limit]
    return [pool[i] for i in order]


def greedy_solve(problem: Problem, *, deadline: float | None = None) -> LSResult:
    select = problem.n > problem.length
    tours = np.stack([nearest_neighbour(problem, s) for s in start_candidates(problem)])
    best = tours[int(np.argmax(problem.evaluate(tours)))]
    moves = ("2opt", "swap") if select else ("2opt",)
    return local_search(problem, best, moves=moves, deadline=deadline)
