"""Local search: closed-form gains are exact and the result is a true local optimum."""

from __future__ import annotations

import numpy as np
import pytest

from services.ga_service.local_search import _or_opt, _swap, _two_opt, apply_index, local_search
from tests.ga_service.helpers import random_problem


def _brute_force_improvement(p, x) -> str | None:
    """Any improving 2-opt, or-opt (segments 1..3, reversed or not) or swap-in move? (slow reference)"""
    L, lo, hi = p.length, p.lo, p.hi
    best = p.evaluate(x) + 1e-9
    for i in range(lo, hi + 1):
        for j in range(i + 1, hi + 1):
            y = x.copy()
            y[i : j + 1] = y[i : j + 1][::-1]
            if p.evaluate(y) > best:
                return f"2opt {i} {j}"
    for s in (1, 2, 3):
        for i in range(lo, hi - s + 2):
            seg, rest = list(x[i : i + s]), list(x[:i]) + list(x[i + s : L])
            for t in range(lo, hi - s + 2):
                for sg in (seg, seg[::-1]):
                    y = np.array(rest[:t] + sg + rest[t:] + list(x[L:]))
                    if p.evaluate(y) > best:
                        return f"oropt {i} {t} {s}"
    for k in range(lo, hi + 1):
        for o in range(L, len(x)):
            y = x.copy()
            y[k], y[o] = y[o], y[k]
            if p.evaluate(y) > best:
                return f"swap {k} {o}"
    return None


def _start(p, seed):
    rng = np.random.default_rng(seed)
    free = [i for i in range(p.n) if i not in (p.first, p.last)]
    rng.shuffle(free)
    order = ([p.first] if p.first is not None else []) + free
    if p.last is not None:
        order.insert(p.length - 1, p.last)
    return np.array(order)


@pytest.mark.parametrize("seed", range(6))
def test_closed_form_gains_are_exact_without_window(seed):
    n = 11
    p = random_problem(n, seed, window=1, length=n - 3 if seed % 2 else n, first=0 if seed % 3 == 0 else None)
    x = _start(p, seed)
    q = np.zeros(p.length + 1)
    cands = [_two_opt(p, x[: p.length], q, True, None), *_or_opt(p, x[: p.length], q, True, None)]
    if p.n > p.length:
        cands.append(_swap(p, x, q, True))
    f = p.evaluate(x)
    for c in cands:
        maps = apply_index(n, c.kind, c.a, c.b, c.s, c.rev)
        exact = p.evaluate(x[maps]) - f
        np.testing.assert_allclose(c.delta, exact, atol=1e-9)


@pytest.mark.parametrize("seed", range(8))
def test_result_is_local_optimum_with_window_and_fixed_ends(seed):
    n = 9 + seed % 4
    select = seed % 2 == 0
    p = random_problem(
        n,
        seed,
        window=1 + seed % 3,
        length=n - 3 if select else n,
        first=0 if seed % 3 == 0 else None,
        last=1 if seed % 4 == 1 else None,
    )
    start = _start(p, seed)
    res = local_search(p, start)
    x = res.perm
    assert sorted(x.tolist()) == list(range(n))
    assert res.score == pytest.approx(p.evaluate(x))
    assert res.score >= p.evaluate(start) - 1e-12
    if p.first is not None:
        assert x[0] == p.first
    if p.last is not None:
        assert x[p.length - 1] == p.last
    assert _brute_force_improvement(p, x) is None
