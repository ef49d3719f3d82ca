"""generate_set: request in, ordered set out. The HTTP layer (app.py) is a thin wrapper around this."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from concurrent.futures import Executor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from itertools import pairwise

import numpy as np

from services.common.contracts.setbuilder import (
    GenerateRequest,
    GenerateResponse,
    SearchInfo,
    SetOptions,
    Transition,
    UnanalysedTrack,
)
from services.common.transition import (
    TrackFeatures,
    TransitionOptions,
    explain_transition,
    missing_analysis,
    repeat_penalty,
    transition_score,
    window_decay,
)
from services.ga_service.genetic import GAParams, IslandResult, run_island
from services.ga_service.greedy import greedy_solve
from services.ga_service.local_search import local_search
from services.ga_service.scoring import Problem, build_problem

# Islands below this many free tracks run in-process: shipping them to workers costs more than it saves.
POOL_MIN_FREE = 10
# Select mode: the GA works on the most promising candidates, local search then swaps from the whole pool.
SELECT_POOL_FACTOR = 8
SELECT_POOL_MIN = 150
# Share of the time budget for evolution; the rest is reserved for the final polish.
EVOLVE_SHARE = 0.75


class SetBuilderError(ValueError):
    """Impossible or invalid request (HTTP 422)."""


@dataclass
class _Solved:
    perm: np.ndarray
    score: float
    info: SearchInfo


def track_features(request: GenerateRequest) -> list[TrackFeatures]:
    return [t.features() for t in request.tracks]


def _curve(o: SetOptions):
    if isinstance(o.energy_curve, list):
        return [(p.t, p.energy) for p in o.energy_curve]
    return None if o.energy_curve == "none" else o.energy_curve


def generate_set(
    *,
    request: GenerateRequest,
    executor: Executor | None = None,
    max_tracks: int | None = None,
    on_broken_pool: Callable[[Executor], None] | None = None,
) -> GenerateResponse:
    t0 = time.perf_counter()
    o = request.options
    tracks = request.tracks
    if max_tracks is not None and len(tracks) > max_tracks:
        raise SetBuilderError(
            f"{len(tracks)} tracks is more than the maximum of {max_tracks} (GA_MAX_TRACKS)"
        )
    select = request.mode == "select" or (request.mode == "greedy" and (o.count or o.minutes))
    if request.mode == "order" and (o.count is not None or o.minutes is not None):
        raise SetBuilderError(
            "count and minutes apply to select mode (or greedy); order mode uses every track"
        )

    warnings: list[str] = []
    ids = [t.id for t in tracks]
    fixed_ids = {i for i in (o.first_id, o.last_id) if i is not None}
    feats_all = track_features(request)
    # Tracks lacking BPM, key or energy cannot be placed on merit: they stay out of the optimisation
    # and go after the analysed tracks (unanalysed="end") or are left out ("exclude"). Fixed ends stay.
    missing = [missing_analysis(f) for f in feats_all]
    unanalysed = [i for i in range(len(tracks)) if missing[i] and ids[i] not in fixed_ids]
    pool = [i for i in range(len(tracks)) if not missing[i] or ids[i] in fixed_ids]

    def in_range(i: int) -> bool:
        lo_b, hi_b = o.bpm_min or 0.0, o.bpm_max or math.inf
        return tracks[i].bpm is not None and lo_b <= tracks[i].bpm <= hi_b

    # BPM range: filters the pool in select mode; in order mode every track stays, with a warning.
    if o.bpm_min is not None or o.bpm_max is not None:
        outside = [i for i in range(len(tracks)) if not in_range(i)]
        if outside:
            if select:
                pool = [i for i in pool if in_range(i) or ids[i] in fixed_ids]
                kept = [ids[i] for i in outside if ids[i] in fixed_ids]
                warnings.append(
                    f"{len(outside) - len(kept)} tracks outside the BPM range (or without BPM) left out"
                )
                if kept:
                    warnings.append(f"fixed tracks outside the BPM range kept: {', '.join(kept)}")
            else:
                warnings.append(f"tracks outside the BPM range: {', '.join(ids[i] for i in outside[:20])}")

    # Unanalysed tracks that go into the set, after the analysed ones.
    fill: list[int] = []
    if o.unanalysed == "end" and unanalysed:
        if not select:
            fill = unanalysed
        else:
            spare = [i for i in unanalysed if o.bpm_min is None and o.bpm_max is None or in_range(i)]
            if o.count is not None and o.count > len(pool):
                fill = spare[: o.count - len(pool)]
            elif o.minutes is not None:
                short = o.minutes * 60 - sum(tracks[i].duration or 0.0 for i in pool)
                for i in spare:
                    if short <= 0:
                        break
                    fill.append(i)
                    short -= tracks[i].duration or 0.0
    available = len(pool) + len(fill)
    note = f" ({len(unanalysed)} more lack analysis)" if unanalysed and not fill else ""
    if select and o.count is not None and o.count > available:
        raise SetBuilderError(
            f"count {o.count} is larger than the {available} tracks within the BPM range{note}"
        )
    if select and o.minutes is not None and sum(tracks[i].duration or 0 for i in pool + fill) < o.minutes * 60:
        raise SetBuilderError(f"the tracks within the BPM range last less than {o.minutes} min{note}")
    if not pool and not fill:
        raise SetBuilderError(
            "none of the tracks has BPM, key and energy: analyse them, or keep them with unanalysed='end'"
        )

    feats = [feats_all[i] for i in pool]
    curve = _curve(o)
    local = {ids[g]: k for k, g in enumerate(pool)}
    first = local.get(o.first_id) if o.first_id else None
    last = local.get(o.last_id) if o.last_id else None
    budget_end = t0 + o.time_budget_s

    def solve(length: int) -> tuple[_Solved, Problem, list[float] | None]:
        problem, targets = build_problem(feats, o, length=length, curve=curve, first=first, last=last)
        if request.mode == "greedy":
            res = greedy_solve(problem, deadline=budget_end)
            info = SearchInfo(
                algorithm="greedy+2opt",
                local_search_moves=res.moves,
                elapsed_s=0.0,
                stopped="budget" if res.timed_out else "greedy",
                local_optimum=not res.timed_out,
            )
            return _Solved(res.perm, res.score, info), problem, targets
        return _solve_ga(problem, o, select, executor, t0, on_broken_pool), problem, targets

    if not pool:
        problem, targets, solved = None, None, None
        ga_order: list[int] = []
    else:
        if not select or fill:
            solved, problem, targets = solve(len(pool))  # every analysed track (select: the fill tops up)
        elif o.count is not None:
            solved, problem, targets = solve(o.count)
        else:
            solved, problem, targets = _solve_minutes(
                solve, [tracks[g].duration or 0.0 for g in pool], o, first, last
            )
        ga_order = [pool[int(k)] for k in solved.perm[: problem.length]]

    # The unanalysed tracks follow the analysed ones, before a fixed last track.
    cut = len(ga_order) - 1 if last is not None else len(ga_order)
    order_idx = ga_order[:cut] + fill + ga_order[cut:]
    position_targets: list[float | None] | None = None
    if targets is not None:
        by_track = dict(zip(ga_order, targets, strict=True))
        position_targets = [by_track.get(i) for i in order_idx]
    energy = 0.0 if problem is None else float(problem.E[solved.perm[: problem.length], np.arange(problem.length)].sum())
    resp = _response(request, feats_all, order_idx, energy, position_targets, o, warnings)
    resp.unanalysed_tracks = [
        UnanalysedTrack(id=ids[i], missing=missing[i], position=order_idx.index(i) if i in order_idx else None)
        for i in range(len(tracks))
        if missing[i]
    ]
    placed = [u for u in resp.unanalysed_tracks if u.position is not None and u.id not in fixed_ids]
    left_out = [u for u in resp.unanalysed_tracks if u.position is None]
    if placed:
        resp.warnings.append(f"{len(placed)} tracks lack BPM, key or energy: put after the analysed tracks")
    if left_out:
        resp.warnings.append(f"{len(left_out)} tracks lack BPM, key or energy: left out")
    info = solved.info if solved is not None else SearchInfo(algorithm="trivial", elapsed_s=0.0, stopped="trivial")
    info.elapsed_s = round(time.perf_counter() - t0, 4)
    resp.search = info
    return resp


def _solve_minutes(solve, durations: list[float], o: SetOptions, first, last):
    """Smallest-ish set lasting at least `minutes`: estimate the count, re-solve when over/short."""
    target = o.minutes * 60
    fixed = [i for i in (first, last) if i is not None]
    median = float(np.median(durations)) or 1.0
    n = len(durations)
    length = min(n, max(len(fixed), 1, math.ceil(target / median)))
    best = None
    tried: set[int] = set()
    for _ in range(8):
        tried.add(length)
        solved, problem, targets = solve(length)
        chosen = [durations[int(k)] for k in solved.perm[:length]]
        total = sum(chosen)
        if total >= target:
            best = (solved, problem, targets)
            free = [durations[int(k)] for k in solved.perm[:length] if int(k) not in fixed]
            if free and total - min(free) >= target and length - 1 not in tried and length - 1 >= len(fixed):
                length -= 1  # a track could be dropped: try one fewer
                continue
            break
        if best is not None or length >= n:
            break
        length = min(n, length + max(1, math.ceil((target - total) / median)))
    if best is None:
        raise SetBuilderError(f"could not reach {o.minutes} min with the tracks given")
    return best


def _island_seeds(seed: int, islands: int) -> list[int]:
    return [(seed * 1_000_003 + i) % (2**31 - 1) for i in range(islands)]


def _prefilter(problem: Problem, keep: int) -> np.ndarray:
    """Most promising candidates for select mode: good best-in and best-out transitions and energy fit."""
    n = problem.n
    fixed = [i for i in (problem.first, problem.last) if i is not None]
    k = min(5, n - 1)
    T = problem.T.copy()
    np.fill_diagonal(T, -np.inf)
    out_best = np.sort(T, axis=1)[:, -k:].mean(axis=1)
    in_best = np.sort(T, axis=0)[-k:, :].mean(axis=0)
    promise = out_best + in_best + problem.E.max(axis=1)
    promise[fixed] = np.inf
    order = np.argsort(-promise, kind="stable")
    return np.sort(order[:keep])


def _solve_ga(
    problem: Problem, o: SetOptions, select: bool, executor: Executor | None, t0: float, on_broken_pool
) -> _Solved:
    params = GAParams(population=o.population, max_generations=o.max_generations or 1000)
    seeds = _island_seeds(o.seed, o.islands)
    ga_problem, sub_idx = problem, None
    if select:
        keep = max(SELECT_POOL_FACTOR * problem.length, SELECT_POOL_MIN)
        if problem.n > keep:
            sub_idx = _prefilter(problem, keep)
            ga_problem = problem.sub(sub_idx)
    nfree = ga_problem.n - sum(i is not None for i in (ga_problem.first, ga_problem.last))
    use_pool = executor is not None and nfree >= POOL_MIN_FREE and len(seeds) > 1
    budget = o.time_budget_s
    results: list[IslandResult] = []
    if use_pool:
        slots = getattr(executor, "_max_workers", len(seeds))
        waves = math.ceil(len(seeds) / max(1, slots))
        deadline = t0 + EVOLVE_SHARE * budget / waves
        polish = t0 + budget / waves
        try:
            futures = [executor.submit(run_island, ga_problem, s, params, deadline, polish) for s in seeds]
            results = [f.result() for f in futures]
        except BrokenProcessPool:
            if on_broken_pool is not None:
                on_broken_pool(executor)
            results = []
    if not results:
        share = budget / len(seeds)
        now = time.perf_counter()
        for k, s in enumerate(seeds):
            start = max(now, t0) + k * share
            results.append(run_island(ga_problem, s, params, start + EVOLVE_SHARE * share, start + share))
    # Best island; ties go to the lowest island index so the answer does not depend on timing.
    best = max(range(len(results)), key=lambda i: (results[i].score, -i))
    r = results[best]
    perm = np.asarray(r.perm, dtype=np.int64)
    moves = sum(x.ls_moves for x in results)
    local_optimum = r.local_optimum
    if sub_idx is not None:
        # Back to the whole pool, then let swap-in moves consider every candidate.
        rest = np.setdiff1d(np.arange(problem.n), sub_idx[perm], assume_unique=True)
        perm = np.concatenate([sub_idx[perm], rest])
        final = local_search(problem, perm, deadline=t0 + budget * 1.1)
        perm, moves = final.perm, moves + final.moves
        local_optimum = not final.timed_out
    stops = {x.stopped for x in results}
    stopped = "budget" if "budget" in stops else "generations" if "generations" in stops else "converged"
    info = SearchInfo(
        algorithm="ga+local_search",
        generations=sum(x.generations for x in results),
        evaluations=sum(x.evaluations for x in results),
        local_search_moves=moves,
        islands=len(results),
        elapsed_s=0.0,
        stopped=stopped,
        local_optimum=local_optimum,
    )
    return _Solved(perm, float(problem.evaluate(perm)), info)


def _response(
    request: GenerateRequest,
    feats: list[TrackFeatures],
    order_idx: list[int],
    energy_term: float,
    targets: list[float | None] | None,
    topts: TransitionOptions,
    warnings: list[str],
) -> GenerateResponse:
    """The set in `order_idx` with its transitions explained and the objective split by term."""
    tracks = request.tracks
    transitions: list[Transition] = []
    terms = {"tempo": 0.0, "key": 0.0, "similarity": 0.0, "artist": 0.0, "album": 0.0}
    for pos, (a, b) in enumerate(pairwise(order_idx)):
        br = transition_score(feats[a], feats[b], options=topts)
        for k, v in br.terms.items():
            terms[k] += v
        if br.tempo.step_violation:
            warnings.append(f"{tracks[a].id} -> {tracks[b].id}: tempo step exceeds {topts.max_bpm_step} BPM")
        transitions.append(
            Transition(
                position=pos,
                from_id=tracks[a].id,
                to_id=tracks[b].id,
                score=round(br.total, 6),
                terms={k: round(v, 6) for k, v in br.terms.items()},
                bpm_from=tracks[a].bpm,
                bpm_to=tracks[b].bpm,
                bpm_delta=None if br.tempo.bpm_delta is None else round(br.tempo.bpm_delta, 3),
                pitch_pct=None if br.tempo.pitch_pct is None else round(br.tempo.pitch_pct, 3),
                tempo_mode=br.tempo.mode,
                tempo_step_violation=br.tempo.step_violation,
                key_from=None if feats[a].key is None else str(feats[a].key),
                key_to=None if feats[b].key is None else str(feats[b].key),
                key_move=None if br.key_move is None else br.key_move.value,
                key_label=br.key_label,
                energy_from=tracks[a].energy,
                energy_to=tracks[b].energy,
                energy_step=None if br.energy_step is None else round(br.energy_step, 4),
                similarity=round(br.raw["similarity"], 6),
                similarity_source=br.similarity_source,
                neutral=list(br.neutral),
                mix=explain_transition(feats[a], feats[b], options=topts, breakdown=br),
            )
        )
    terms["energy"] = energy_term
    window = 0.0
    if topts.artist_window >= 2:
        for d in range(2, topts.artist_window + 1):
            for a, b in zip(order_idx, order_idx[d:], strict=False):
                window += sum(repeat_penalty(feats[a], feats[b], topts.weights)) * window_decay(d)
    terms["window"] = -window
    durations = [tracks[i].duration for i in order_idx]
    mixes = [t.mix.score for t in transitions]
    return GenerateResponse(
        order=[tracks[i].id for i in order_idx],
        transitions=transitions,
        score=round(sum(terms.values()), 6),
        score_terms={k: round(v, 6) for k, v in terms.items()},
        mean_transition=round(float(np.mean([t.score for t in transitions])) if transitions else 0.0, 6),
        set_score=round(float(np.mean(mixes)), 1) if mixes else None,
        energy_targets=None if targets is None else [None if t is None else round(t, 4) for t in targets],
        total_duration_s=float(sum(d for d in durations if d is not None)),
        durations_unknown=sum(d is None for d in durations),
        unanalyzed=[tracks[i].id for i in order_idx if missing_analysis(feats[i])],
        warnings=warnings,
        search=SearchInfo(algorithm="pending", elapsed_s=0.0, stopped="trivial"),
    )
