"""Held-Karp against brute force."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from services.ga_service.exact import held_karp
from tests.ga_service.helpers import random_problem


@pytest.mark.parametrize(("first", "last"), [(None, None), (2, None), (None, 3), (2, 3)])
def test_held_karp_is_optimal(first, last):
    p = random_problem(7, 11, window=1, first=first, last=last)
    order, score = held_karp(p)
    brute = max(
        p.evaluate(np.array(q))
        for q in itertools.permutations(range(7))
        if (first is None or q[0] == first) and (last is None or q[-1] == last)
    )
    assert score == pytest.approx(brute)
    assert p.evaluate(order) == pytest.approx(score)


def test_held_karp_refuses_window_terms():
    p = random_problem(6, 1, window=3)
    if p.S is not None:
        with pytest.raises(ValueError):
            held_karp(p)
