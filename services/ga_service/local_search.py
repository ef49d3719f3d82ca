"""Local search on a Problem: 2-opt, or-opt and (select mode) swap-in/swap-out, until no move improves.

Every neighbourhood is scored at once with numpy: the transition and energy parts of each move's
gain are exact closed forms (prefix sums; reversals of asymmetric transitions included). The
artist/album window term (pairs 2..window apart) is not: for it we use an upper bound - a move can
only remove window penalty from pairs that straddle one of its cut points - then evaluate the
promising moves exactly in batches. So when `local_search` returns, no move in the neighbourhoods
improves the full objective: the result is a true local optimum.

Each round applies the best exact move plus any other improving moves whose spans are far enough
apart not to interact (their gains then add up exactly), which makes polishing a nearest-neighbour
tour of hundreds of tracks take a few dozen rounds instead of hundreds.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from services.ga_service.scoring import Problem

EPS = 1e-9
BATCH = 128
OR_FULL_MAX_LEN = 250  # longer sets only try or-opt moves within +/- OR_MAX_SHIFT positions
OR_MAX_SHIFT = 100
ALL_MOVES = ("2opt", "oropt", "swap")

# Move kinds in candidate arrays.
_REV, _OR, _SWAP = 0, 1, 2


@dataclass
class LSResult:
    perm: np.ndarray
    score: float
    moves: int
    rounds: int
    timed_out: bool = False


@dataclass
class _Cands:
    kind: np.ndarray
    a: np.ndarray
    b: np.ndarray
    s: np.ndarray  # or-opt segment length (0 otherwise)
    rev: np.ndarray  # or-opt: segment reversed
    delta: np.ndarray  # exact gain without the window term
    bound: np.ndarray  # upper bound on the extra gain from the window term


def _two_opt(p: Problem, x: np.ndarray, q: np.ndarray, use_e: bool, max_seg: int | None) -> _Cands | None:
    L, lo, hi = p.length, p.lo, p.hi
    if hi - lo < 1:
        return None
    T, E = p.T, p.E
    I, J = np.triu_indices(hi - lo + 1, k=1)
    if max_seg is not None:
        keep = (J - I) <= max_seg
        I, J = I[keep], J[keep]
    I = I + lo
    J = J + lo
    cF = np.concatenate(([0.0], np.cumsum(T[x[:-1], x[1:]])))
    cB = np.concatenate(([0.0], np.cumsum(T[x[1:], x[:-1]])))
    d = (cB[J] - cB[I]) - (cF[J] - cF[I])  # inner transitions now run backwards
    prev = x[np.maximum(I - 1, 0)]
    d += np.where(I > 0, T[prev, x[J]] - T[prev, x[I]], 0.0)
    nxt = x[np.minimum(J + 1, L - 1)]
    d += np.where(J < L - 1, T[x[I], nxt] - T[x[J], nxt], 0.0)
    if use_e:
        # Reversing [i, j] puts x[i+j-k] at k: for a fixed s = i+j the gain is a range sum over k.
        k = np.arange(L)
        s = np.arange(2 * L - 1)[:, None]
        src = s - k[None, :]
        valid = (src >= 0) & (src < L)
        G = np.where(valid, E[x[np.clip(src, 0, L - 1)], k[None, :]] - E[x, k][None, :], 0.0)
        C = np.concatenate((np.zeros((2 * L - 1, 1)), np.cumsum(G, axis=1)), axis=1)
        S = I + J
        d += C[S, J + 1] - C[S, I]
    zeros = np.zeros_like(I)
    return _Cands(np.full_like(I, _REV), I, J, zeros, zeros.astype(bool), d, q[I] + q[J + 1])


@lru_cache(maxsize=64)
def _or_geometry(L: int, lo: int, hi: int, s: int, max_shift: int | None):
    """Index arrays of every or-opt move of a segment of length s (cached: they only depend on shape)."""
    i, t = np.meshgrid(np.arange(lo, hi - s + 2), np.arange(lo, hi - s + 2), indexing="ij")
    keep = i != t
    if max_shift is not None:
        keep &= np.abs(i - t) <= max_shift
    i, t = i[keep], t[keep]
    g = {"i": i, "t": t}
    g["has_prev"] = i > 0
    g["has_next"] = i + s < L
    g["ip"] = np.maximum(i - 1, 0)
    g["inx"] = np.minimum(i + s, L - 1)
    # Neighbours at the insertion point, in the order with the segment removed.
    g["rl"] = np.clip(np.where(t - 1 < i, t - 1, t - 1 + s), 0, L - 1)
    g["rr"] = np.clip(np.where(t < i, t, t + s), 0, L - 1)
    g["has_l"] = t > 0
    g["has_r"] = t < L - s
    g["fwd"] = t > i
    g["cut"] = np.minimum(np.where(t > i, t + s, t), L)
    g["ts"] = np.minimum(t + s, L)
    for arr in g.values():
        arr.setflags(write=False)
    return g


def _or_opt(p: Problem, x: np.ndarray, q: np.ndarray, use_e: bool, max_shift: int | None) -> list[_Cands]:
    L, lo, hi = p.length, p.lo, p.hi
    T, E = p.T, p.E
    out = []
    k = np.arange(L)
    for s in (1, 2, 3):
        if hi - lo + 1 <= s:
            break
        g = _or_geometry(L, lo, hi, s, max_shift)
        i, t = g["i"], g["t"]
        xi, xl, xr = x[i], x[g["rl"]], x[g["rr"]]
        xe = x[i + s - 1]
        # Removing the segment closes the gap x[i-1] -> x[i+s]; inserting it splits r[t-1] -> r[t].
        base = (
            -np.where(g["has_prev"], T[x[g["ip"]], xi], 0.0)
            - np.where(g["has_next"], T[xe, x[g["inx"]]], 0.0)
            + np.where(g["has_prev"] & g["has_next"], T[x[g["ip"]], x[g["inx"]]], 0.0)
            - np.where(g["has_l"] & g["has_r"], T[xl, xr], 0.0)
        )
        if use_e:
            sl = np.zeros(L)
            sl[s:] = E[x[s:], k[s:] - s] - E[x[s:], k[s:]]
            sr = np.zeros(L)
            sr[: L - s] = E[x[: L - s], k[: L - s] + s] - E[x[: L - s], k[: L - s]]
            CL = np.concatenate(([0.0], np.cumsum(sl)))
            CR = np.concatenate(([0.0], np.cumsum(sr)))
            base = base + np.where(g["fwd"], CL[g["ts"]] - CL[i + s], CR[i] - CR[t])
            old_e = sum(E[x[i + m], i + m] for m in range(s))
            base = base - old_e
        bound = q[i] + q[i + s] + q[g["cut"]]
        for rev in (False, True) if s > 1 else (False,):
            first, last = (xe, xi) if rev else (xi, xe)
            d = base + np.where(g["has_l"], T[xl, first], 0.0) + np.where(g["has_r"], T[last, xr], 0.0)
            if rev:
                for m in range(s - 1):
                    d = d + T[x[i + m + 1], x[i + m]] - T[x[i + m], x[i + m + 1]]
            if use_e:
                for m in range(s):
                    src = x[i + s - 1 - m] if rev else x[i + m]
                    d = d + E[src, t + m]
            out.append(
                _Cands(np.full(i.shape, _OR), i, t, np.full(i.shape, s), np.full(i.shape, rev), d, bound)
            )
    return out


def _swap(p: Problem, perm: np.ndarray, q: np.ndarray, use_e: bool) -> _Cands | None:
    L, lo, hi, n = p.length, p.lo, p.hi, len(perm)
    if n <= L or hi < lo:
        return None
    T, E = p.T, p.E
    x = perm[:L]
    k = np.arange(lo, hi + 1)[:, None]
    o = np.arange(L, n)[None, :]
    y = perm[o]
    xk = x[k]
    kp = np.maximum(k - 1, 0)
    kn = np.minimum(k + 1, L - 1)
    d = np.where(k > 0, T[x[kp], y] - T[x[kp], xk], 0.0)
    d = d + np.where(k < L - 1, T[y, x[kn]] - T[xk, x[kn]], 0.0)
    if use_e:
        d = d + E[y, k] - E[xk, k]
    bound = np.broadcast_to(q[k] + q[k + 1], d.shape)
    kk = np.broadcast_to(k, d.shape).ravel()
    oo = np.broadcast_to(o, d.shape).ravel()
    zeros = np.zeros_like(kk)
    return _Cands(np.full_like(kk, _SWAP), kk, oo, zeros, zeros.astype(bool), d.ravel(), bound.ravel())


def apply_index(n: int, kind: np.ndarray, a: np.ndarray, b: np.ndarray, s: np.ndarray, rev: np.ndarray):
    """Index maps (K x n): new_perm = perm[idx] for each move."""
    pos = np.arange(n)[None, :]
    kind, a, b, s, rev = (np.asarray(v)[:, None] for v in (kind, a, b, s, rev))
    idx = np.broadcast_to(pos, (kind.shape[0], n)).copy()
    # 2-opt: reverse [a, b].
    in_rev = (kind == _REV) & (pos >= a) & (pos <= b)
    idx = np.where(in_rev, a + b - pos, idx)
    # or-opt: segment [a, a+s) moved to start at b (position in the order without the segment).
    seg_off = pos - b
    seg_src = np.where(rev, a + s - 1 - seg_off, a + seg_off)
    in_seg = (kind == _OR) & (pos >= b) & (pos < b + s)
    fwd = (kind == _OR) & (b > a) & (pos >= a) & (pos < b)  # shifted left
    back = (kind == _OR) & (b < a) & (pos >= b + s) & (pos < a + s)  # shifted right
    idx = np.where(in_seg, seg_src, idx)
    idx = np.where(fwd, pos + s, idx)
    idx = np.where(back, pos - s, idx)
    # swap: exchange positions a (in the set) and b (outside it).
    idx = np.where((kind == _SWAP) & (pos == a), b, idx)
    idx = np.where((kind == _SWAP) & (pos == b), a, idx)
    return idx


def _span(kind: int, a: int, b: int, s: int) -> tuple[int, int]:
    if kind == _REV:
        return a, b
    if kind == _OR:
        return min(a, b), max(a, b) + s - 1
    return a, a


def _best_exact(p: Problem, cur: np.ndarray, f: float, cand: _Cands) -> list[tuple[int, float]]:
    """Improving candidates with their exact gains, best first (from the first batch that has any)."""
    ub = cand.delta + cand.bound
    idx = np.nonzero(ub > EPS)[0]
    if idx.size == 0:
        return []
    idx = idx[np.argsort(-ub[idx], kind="stable")]
    for start in range(0, idx.size, BATCH):
        batch = idx[start : start + BATCH]
        maps = apply_index(
            len(cur), cand.kind[batch], cand.a[batch], cand.b[batch], cand.s[batch], cand.rev[batch]
        )
        gains = p.evaluate(cur[maps]) - f
        good = np.nonzero(gains > EPS)[0]
        if good.size:
            return [(int(batch[g]), float(gains[g])) for g in good[np.argsort(-gains[good], kind="stable")]]
    return []


def local_search(
    problem: Problem,
    perm: np.ndarray,
    *,
    moves: tuple[str, ...] = ALL_MOVES,
    deadline: float | None = None,
    max_rounds: int | None = None,
) -> LSResult:
    """Improve `perm` (a permutation of range(problem.n) or of the pool, fixed ends in place)."""
    p = problem
    cur = np.array(perm, dtype=np.int64)
    n, L = len(cur), p.length
    f = float(p.evaluate(cur))
    use_e = bool(np.any(p.E))
    # Long orders: bound reversal length and or-opt shift so one round stays O(L * 50..300), not O(L^2).
    max_seg = None if L <= 600 else 300
    max_shift = None if L <= OR_FULL_MAX_LEN else OR_MAX_SHIFT
    margin = max(1, p.window if p.has_window() else 1)
    total_moves = rounds = 0
    while True:
        if deadline is not None and time.perf_counter() > deadline:
            return LSResult(cur, f, total_moves, rounds, timed_out=True)
        if max_rounds is not None and rounds >= max_rounds:
            break
        rounds += 1
        x = cur[:L]
        q = p.window_cut_penalty(x)
        # Cheap neighbourhoods first; or-opt only when they have nothing (variable neighbourhood descent).
        chosen: list[tuple[int, float]] = []
        cand = None
        parts: list[_Cands] = []
        stages = []
        if "2opt" in moves or "swap" in moves:
            stages.append(("2opt", "swap"))
        if "oropt" in moves:
            stages.append(("oropt",))
        for stage in stages:
            parts = []
            if "2opt" in stage and "2opt" in moves and (c := _two_opt(p, x, q, use_e, max_seg)) is not None:
                parts.append(c)
            if "swap" in stage and "swap" in moves and (c := _swap(p, cur, q, use_e)) is not None:
                parts.append(c)
            if "oropt" in stage:
                parts.extend(_or_opt(p, x, q, use_e, max_shift))
            if not parts:
                continue
            # Drop hopeless moves per part before concatenating: most of the neighbourhood is.
            kept = []
            for c in parts:
                m = (c.delta + c.bound) > EPS
                if m.any():
                    kept.append([getattr(c, fld)[m] for fld in _Cands.__dataclass_fields__])
            if not kept:
                continue
            cand = _Cands(*(np.concatenate(cols) for cols in zip(*kept, strict=True)))
            chosen = _best_exact(p, cur, f, cand)
            if chosen:
                break
        if not chosen:
            break
        # Best move plus non-interacting ones (spans more than `margin` apart, distinct outside slots).
        picked: list[int] = []
        spans: list[tuple[int, int]] = []
        used_out: set[int] = set()
        for c, _gain in chosen:
            kind = int(cand.kind[c])
            lo_, hi_ = _span(kind, int(cand.a[c]), int(cand.b[c]), int(cand.s[c]))
            if any(lo_ <= h + margin and hi_ >= l_ - margin for l_, h in spans):
                continue
            if kind == _SWAP and int(cand.b[c]) in used_out:
                continue
            picked.append(c)
            spans.append((lo_, hi_))
            if kind == _SWAP:
                used_out.add(int(cand.b[c]))
        new = cur
        for c in picked:
            m = apply_index(n, cand.kind[[c]], cand.a[[c]], cand.b[[c]], cand.s[[c]], cand.rev[[c]])[0]
            new = new[m]
        f_new = float(p.evaluate(new))
        expected = f + sum(g for c, g in chosen if c in set(picked))
        if f_new < expected - 1e-7 or f_new <= f + EPS:
            # Safety net: the moves interacted after all; fall back to the single best one.
            c = chosen[0][0]
            m = apply_index(n, cand.kind[[c]], cand.a[[c]], cand.b[[c]], cand.s[[c]], cand.rev[[c]])[0]
            new = cur[m]
            f_new = float(p.evaluate(new))
            picked = [c]
        cur, f = new, f_new
        total_moves += len(picked)
    return LSResult(cur, f, total_moves, rounds)
