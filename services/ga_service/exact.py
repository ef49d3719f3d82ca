"""Held-Karp dynamic programming: the exact optimum of an order problem, for the benchmark and tests.

State (subset, last track); the position of the next track is the subset size, so the position-
dependent energy term is exact. The artist/album window term for tracks 2+ slots apart would need the
last `window` tracks in the state, so it is left out: compare against Held-Karp with window <= 1
(adjacent repeats are part of the transition matrix and stay exact).
"""

from __future__ import annotations

import numpy as np

from services.ga_service.scoring import Problem

MAX_N = 14


def held_karp(problem: Problem) -> tuple[np.ndarray, float]:
    """Optimal order of all n tracks (order mode) and its objective."""
    p = problem
    n = p.n
    if n > MAX_N:
        raise ValueError(f"Held-Karp is limited to {MAX_N} tracks (got {n})")
    if p.length != n:
        raise ValueError("Held-Karp solves order problems (length == n)")
    if p.has_window():
        raise ValueError("Held-Karp cannot handle the window term; build the problem with window <= 1")
    full = (1 << n) - 1
    dp = np.full((1 << n, n), -np.inf)
    parent = np.full((1 << n, n), -1, dtype=np.int8)
    starts = [p.first] if p.first is not None else [j for j in range(n) if j != p.last or n == 1]
    for j in starts:
        dp[1 << j, j] = p.E[j, 0]
    masks = np.arange(1 << n)
    popcount = np.zeros(1 << n, dtype=np.int64)
    for b in range(n):
        popcount += (masks >> b) & 1
    for size in range(1, n):
        layer = masks[popcount == size]
        for j in range(n):
            if j == p.first:
                continue
            if j == p.last and size != n - 1:
                continue  # the fixed last track only closes the order
            sel = layer[((layer >> j) & 1) == 0]
            if sel.size == 0:
                continue
            vals = dp[sel] + p.T[:, j][None, :]
            best = np.argmax(vals, axis=1)
            v = vals[np.arange(sel.size), best]
            ok = np.isfinite(v)
            tgt = sel[ok] | (1 << j)
            dp[tgt, j] = v[ok] + p.E[j, size]
            parent[tgt, j] = best[ok]
    last = p.last if p.last is not None else int(np.argmax(dp[full]))
    score = float(dp[full, last])
    order = [last]
    mask = full
    while len(order) < n:
        prev = int(parent[mask, order[-1]])
        mask ^= 1 << order[-1]
        order.append(prev)
    return np.asarray(order[::-1], dtype=np.int64), score
