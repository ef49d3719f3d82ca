"""DEAP genetic algorithm over permutations, polished by local search (a memetic GA).

Encoding: an individual is the list of free (not fixed) pool indices. Decoding puts the fixed first
track in front and the fixed last track at position length-1; in select mode only the first `length`
entries form the set, the tail is the reserve that crossover and mutation can swap in.

Operators: ordered (OX) or partially matched (PMX) crossover, inversion or shuffle-index mutation,
tournament selection, elitism, stop after `stagnation` generations without improvement (or at the
deadline). Every few generations the best individual is polished by local search and put back, and
the final answer is the best of the polished elites, so it is always a local optimum.

DEAP's operators draw from the module-level `random`; we seed it per island and hold a lock while an
island runs, so concurrent requests in one process cannot interleave their random streams.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field

import numpy as np
from deap import base, creator, tools

from services.ga_service.greedy import nearest_neighbour, start_candidates
from services.ga_service.local_search import local_search
from services.ga_service.scoring import Problem

if not hasattr(creator, "SetFitness"):
    creator.create("SetFitness", base.Fitness, weights=(1.0,))
if not hasattr(creator, "SetIndividual"):
    creator.create("SetIndividual", list, fitness=creator.SetFitness)

_RANDOM_LOCK = threading.Lock()


@dataclass
class GAParams:
    population: int | None = None
    max_generations: int = 1000
    stagnation: int | None = None
    cxpb: float = 0.8
    mutpb: float = 0.3
    tournament: int = 3
    elites: int = 2
    ls_every: int | None = None  # default: every generation for small problems, sparser for big ones
    final_polish: int = 3


@dataclass
class IslandResult:
    perm: list[int]
    score: float
    generations: int
    evaluations: int
    ls_moves: int
    stopped: str  # "converged" (stagnation), "generations" (limit) or "budget" (deadline)
    local_optimum: bool = True  # the final polish was not cut short by the deadline
    history: list[float] = field(default_factory=list)


def mut_inversion(ind: list[int]) -> tuple[list[int]]:
    """Reverse a random slice: the GA counterpart of a 2-opt move."""
    if len(ind) > 1:
        i, j = sorted(random.sample(range(len(ind) + 1), 2))
        ind[i:j] = ind[i:j][::-1]
    return (ind,)


class _Codec:
    """Individual <-> full permutation of the problem's pool."""

    def __init__(self, p: Problem):
        self.p = p
        fixed = [i for i in (p.first, p.last) if i is not None]
        self.free = np.array([i for i in range(p.n) if i not in fixed], dtype=np.int64)
        self.m = p.length - len(fixed)  # free slots inside the set

    def decode(self, inds: np.ndarray) -> np.ndarray:
        """Batch (K x nfree) of free-index orders -> (K x n) pool permutations."""
        p = self.p
        k = inds.shape[0]
        cols = []
        if p.first is not None:
            cols.append(np.full((k, 1), p.first))
        cols.append(inds[:, : self.m])
        if p.last is not None:
            cols.append(np.full((k, 1), p.last))
        cols.append(inds[:, self.m :])
        return np.concatenate(cols, axis=1)

    def encode(self, perm: np.ndarray) -> list[int]:
        fixed = {i for i in (self.p.first, self.p.last) if i is not None}
        return [int(v) for v in perm if int(v) not in fixed]


def _clone(ind):
    """Much cheaper than toolbox.clone's deepcopy for a list of ints."""
    new = creator.SetIndividual(ind)
    if ind.fitness.valid:
        new.fitness.values = ind.fitness.values
    return new


def default_population(n_free: int) -> int:
    return int(min(120, max(40, n_free)))


def run_island(
    problem: Problem,
    seed: int,
    params: GAParams,
    deadline: float | None = None,
    polish_deadline: float | None = None,
) -> IslandResult:
    """One GA run. `deadline` ends the evolution; polishing may continue until `polish_deadline`."""
    with _RANDOM_LOCK:
        return _run(problem, seed, params, deadline, polish_deadline)


def _run(
    p: Problem, seed: int, params: GAParams, deadline: float | None, polish_deadline: float | None
) -> IslandResult:
    random.seed(seed)
    codec = _Codec(p)
    nfree = len(codec.free)
    pop_size = params.population or default_population(nfree)
    stagnation = params.stagnation or (40 if nfree <= 60 else min(100, nfree))
    evaluations = ls_moves = 0

    toolbox = base.Toolbox()
    toolbox.register("select", tools.selTournament, tournsize=params.tournament)

    # Local indices 0..nfree-1 keep DEAP's operators (which assume range(n) contents) valid.
    def to_pool(inds: list[list[int]]) -> np.ndarray:
        return codec.decode(codec.free[np.asarray(inds, dtype=np.int64)])

    def evaluate(inds: list) -> None:
        nonlocal evaluations
        if not inds:
            return
        scores = p.evaluate(to_pool(inds))
        for ind, s in zip(inds, scores, strict=True):
            ind.fitness.values = (float(s),)
        evaluations += len(inds)

    local_of = {int(v): i for i, v in enumerate(codec.free)}

    last_polish_complete = True

    def polish(ind) -> tuple[object, bool]:
        nonlocal ls_moves, last_polish_complete
        res = local_search(p, to_pool([ind])[0], deadline=polish_deadline)
        ls_moves += res.moves
        last_polish_complete = not res.timed_out
        new = creator.SetIndividual(local_of[v] for v in codec.encode(res.perm))
        new.fitness.values = (res.score,)
        return new, res.moves > 0

    if nfree <= 1:
        ind = creator.SetIndividual(range(nfree))
        evaluate([ind])
        perm = to_pool([ind])[0]
        return IslandResult([int(v) for v in perm], ind.fitness.values[0], 0, evaluations, 0, "converged")

    # Start from polished nearest-neighbour tours (a different start per island) plus random orders;
    # small problems also polish some random orders so the population starts among local optima.
    small = nfree <= 60
    starts = start_candidates(p)
    n_nn = min(len(starts), max(1, pop_size // 4) if small else 2)
    pop = []
    for k in range(n_nn):
        nn = nearest_neighbour(p, starts[(seed + k) % len(starts)])
        pop.append(polish(creator.SetIndividual(local_of[v] for v in codec.encode(nn)))[0])
    n_rand_polished = pop_size // 4 if small else 0
    while len(pop) < pop_size:
        ind = creator.SetIndividual(random.sample(range(nfree), nfree))
        if n_rand_polished > 0:
            ind = polish(ind)[0]
            n_rand_polished -= 1
        pop.append(ind)
    evaluate([ind for ind in pop if not ind.fitness.valid])
    polished: set[tuple[int, ...]] = {tuple(ind) for ind in pop[: pop_size // 2]}
    ls_every = params.ls_every or (1 if nfree <= 20 else 2 if nfree <= 60 else 4 if nfree <= 120 else 8)

    best = tools.selBest(pop, 1)[0]
    best_score = best.fitness.values[0]
    history = [best_score]
    since = 0
    stopped = "generations"
    gen = 0
    for gen in range(1, params.max_generations + 1):
        if deadline is not None and time.perf_counter() > deadline:
            stopped = "budget"
            break
        elites = [_clone(e) for e in tools.selBest(pop, params.elites)]
        offspring = [_clone(o) for o in toolbox.select(pop, len(pop) - params.elites)]
        for c1, c2 in zip(offspring[::2], offspring[1::2], strict=False):
            if random.random() < params.cxpb:
                if random.random() < 0.5:
                    tools.cxOrdered(c1, c2)
                else:
                    tools.cxPartialyMatched(c1, c2)
                del c1.fitness.values, c2.fitness.values
        for mutant in offspring:
            if random.random() < params.mutpb:
                if random.random() < 0.5:
                    mut_inversion(mutant)
                else:
                    tools.mutShuffleIndexes(mutant, indpb=min(0.5, 2.0 / nfree))
                del mutant.fitness.values
        evaluate([o for o in offspring if not o.fitness.valid])
        pop = elites + offspring

        if gen % ls_every == 0:
            # Lamarckian step: polish the best new offspring and a random one, write them back.
            ranked = sorted(range(params.elites, len(pop)), key=lambda i: -pop[i].fitness.values[0])
            picks = [next((i for i in ranked if tuple(pop[i]) not in polished), None)]
            picks.append(random.randrange(params.elites, len(pop)))
            for i in {i for i in picks if i is not None}:
                if tuple(pop[i]) in polished:
                    continue
                new, _ = polish(pop[i])
                polished.add(tuple(pop[i]))
                polished.add(tuple(new))
                pop[i] = new
            if len(polished) > 20000:
                polished.clear()

        top = tools.selBest(pop, 1)[0]
        if top.fitness.values[0] > best_score + 1e-9:
            best_score = top.fitness.values[0]
            since = 0
        else:
            since += 1
        history.append(best_score)
        if since >= stagnation:
            stopped = "converged"
            break

    # Final answer: best of the polished top elites (distinct orders only).
    finals = []
    seen: set[tuple[int, ...]] = set()
    for ind in tools.selBest(pop, len(pop)):
        if tuple(ind) in seen:
            continue
        seen.add(tuple(ind))
        finals.append((polish(ind)[0], last_polish_complete))
        if len(finals) >= params.final_polish:
            break
    winner, complete = max(finals, key=lambda f: f[0].fitness.values[0])
    perm = to_pool([winner])[0]
    score = float(p.evaluate(perm))
    return IslandResult([int(v) for v in perm], score, gen, evaluations, ls_moves, stopped, complete, history)
