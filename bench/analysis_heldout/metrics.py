"""Scores: tempo Acc1/Acc2, key exact, MIREX (mir_eval's weights), misses by kind and by genre band."""

from __future__ import annotations

from collections import Counter, defaultdict

from bench.analysis_heldout.specs import PITCH_CLASSES, HeldoutSpec

PC = {n: i for i, n in enumerate(PITCH_CLASSES)} | {
    "Db": 1, "D#": 3, "Gb": 6, "G#": 8, "A#": 10, "Cb": 11, "B#": 0, "E#": 5, "Fb": 4,
}


def tempo_kind(est: float, ref: float) -> str:
    """correct (within 4%), double, half, triple, third or other."""
    for name, f in (("correct", 1.0), ("double", 2.0), ("half", 0.5), ("triple", 3.0), ("third", 1 / 3)):
        if abs(est - ref * f) <= 0.04 * ref * f:
            return name
    return "other"


def key_kind(est_key: str, est_mode: str, ref_pc: int, ref_mode: str) -> tuple[str, float]:
    """(kind, MIREX weight): same 1.0, fifth above 0.5 (fifth below is 0 in mir_eval, listed as
    fifth), relative 0.3, parallel 0.2, other 0."""
    est_pc = PC.get(est_key)
    if est_pc is None or est_mode not in ("major", "minor"):
        return "other", 0.0
    d = (est_pc - ref_pc) % 12
    if est_mode == ref_mode:
        if d == 0:
            return "same", 1.0
        if d == 7:
            return "fifth", 0.5
        if d == 5:
            return "fifth", 0.0
        return "other", 0.0
    if (ref_mode == "major" and d == 9) or (ref_mode == "minor" and d == 3):
        return "relative", 0.3
    if d == 0:
        return "parallel", 0.2
    return "other", 0.0


def _summary(rows: list[tuple[HeldoutSpec, dict]]) -> dict:
    n = len(rows)
    if n == 0:
        return {"n": 0}
    tempo = Counter(tempo_kind(r["bpm"], s.bpm) for s, r in rows)
    keys = [key_kind(r["key"], r["scale"], s.tonic, s.mode) for s, r in rows]
    kinds = Counter(k for k, _ in keys)
    return {
        "n": n,
        "tempo_acc1": round(tempo["correct"] / n, 4),
        "tempo_acc2": round((n - tempo["other"]) / n, 4),
        "key_exact": round(kinds["same"] / n, 4),
        "key_mirex": round(sum(w for _, w in keys) / n, 4),
        "tempo_misses": {k: v for k, v in sorted(tempo.items()) if k != "correct"},
        "key_misses": {k: v for k, v in sorted(kinds.items()) if k != "same"},
        "key_misses_by_mode": dict(
            sorted(Counter(s.mode for (s, _), (k, _) in zip(rows, keys) if k != "same").items())
        ),
    }


_ROMAN = {0: "I", 2: "II", 3: "III", 4: "III", 5: "IV", 7: "V", 8: "VI", 9: "VI", 10: "VII", 11: "VII"}


def progression_name(spec: HeldoutSpec) -> str:
    """The progression as written (before rotation), e.g. "minor i VI III VII"."""
    from bench.analysis_heldout.specs import MAJOR_PROGRESSIONS, MINOR_PROGRESSIONS

    progs = MINOR_PROGRESSIONS if spec.mode == "minor" else MAJOR_PROGRESSIONS
    chords = progs[spec.progression % len(progs)]
    names = [
        (_ROMAN[d].lower() if q == "min" else _ROMAN[d]) + ("7" if q == "7" else "") for d, q in chords
    ]
    return f"{spec.mode} {' '.join(names)}"


def score(rows: list[tuple[HeldoutSpec, dict]]) -> dict:
    """The summary, plus the same per genre band, and key exact per progression."""
    by_band: dict[str, list] = defaultdict(list)
    by_prog: dict[str, list] = defaultdict(list)
    for s, r in rows:
        by_band[s.band].append((s, r))
        by_prog[progression_name(s)].append(key_kind(r["key"], r["scale"], s.tonic, s.mode)[0])
    out = _summary(rows)
    out["by_band"] = {
        band: {k: v for k, v in _summary(by_band[band]).items() if k != "key_misses_by_mode"}
        for band in sorted(by_band)
    }
    out["key_by_progression"] = {
        p: {"n": len(k), "key_exact": round(k.count("same") / len(k), 4), "misses": dict(Counter(x for x in k if x != "same"))}
        for p, k in sorted(by_prog.items())
    }
    return out


def miss_record(spec: HeldoutSpec, result: dict) -> dict | None:
    tk = tempo_kind(result["bpm"], spec.bpm)
    kk = key_kind(result["key"], result["scale"], spec.tonic, spec.mode)[0]
    if tk == "correct" and kk == "same":
        return None
    return {
        "clip_id": spec.clip_id,
        "genre": spec.genre,
        "ref_bpm": spec.bpm,
        "bpm": round(result["bpm"], 2),
        "tempo": tk,
        "ref_key": spec.key_name,
        "key": f"{result['key']} {result['scale']}",
        "key_kind": kk,
        "intro": spec.intro,
        "phrase_marks": spec.phrase_marks,
        "opens_on": spec.progression_chords()[0],
    }
