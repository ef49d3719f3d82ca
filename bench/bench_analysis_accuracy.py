"""Tempo and key accuracy on a generated set: 24 keys x 4 tempi (70-175 BPM), drums + bass + chords.

    .venv/bin/python bench/bench_analysis_accuracy.py [--per-key 4] [--seconds 30] [--format wav|mp3]
                                                      [--seed N] [--synth numpy|fluidsynth] [--rotate]
                                                      [--no-baseline] [--compare-opening-weight W]

Clips come from tests/essentia_api/audio_fixtures.py (styles by tempo: hip-hop < 100, house < 135,
techno < 155, drum and bass above; four progressions per mode, one of them minor i-VI-III-VII,
which shares its chords with the relative major's vi-IV-I-V). Every clip opens on the tonic chord
unless --rotate: then each clip starts its progression at a random bar, so most open on another
chord (the opening-bar tie-break in the key estimator gets no free help).

Metrics: tempo Acc1 (within 4%) and Acc2 (also x2, x3, /2, /3), beat F-measure (+-70 ms, as
mir_eval) and beat phase (on the beat / half a beat off), key exact and the MIREX weighted
score as mir_eval computes it (same 1.0, estimate a fifth above 0.5, relative 0.3, parallel 0.2).
The baseline is plain Essentia: RhythmExtractor2013(multifeature) + KeyExtractor(edma) at 44.1 kHz.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from multiprocessing import get_context
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from services.common.camelot import PITCH_CLASSES
from tests.essentia_api.audio_fixtures import (
    _MAJOR_PROGRESSIONS,
    _MINOR_PROGRESSIONS,
    accuracy_set,
    encode,
    render_fluidsynth,
    synth_clip,
    write_wav,
)

_PC = {n: i for i, n in enumerate(PITCH_CLASSES)} | {"A#": 10, "D#": 3, "G#": 8, "Db": 1, "Gb": 6}


def clip_paths(specs, workdir: Path, *, synth: str, fmt: str, seed: int, seconds: float, rotate: bool = False,
               phrase_crash: bool = False) -> list[str]:
    """The generated set's files in `workdir` (rendered once, then reused; the name says what made them)."""
    workdir.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, s in enumerate(specs):
        rot = (f"_rot{s.rotation}" if rotate else "") + ("_crash" if phrase_crash else "")
        name = f"{synth}_s{seed}_{seconds:g}s_clip{i:03d}_{s.bpm}_{PITCH_CLASSES[s.tonic]}{s.scale[:3]}{rot}"
        out = workdir / f"{name}.{fmt}"
        if not out.exists():
            # Per-run temporary names and an atomic rename: two runs sharing the workdir (the default)
            # must not read each other's half-written files.
            tag = f"{os.getpid()}_{i}"
            tmp = workdir / f"tmp{tag}.wav"
            wav = render_fluidsynth(s, tmp) if synth == "fluidsynth" else write_wav(tmp, synth_clip(s))
            if fmt == "wav":
                wav.replace(out)
            else:
                part = workdir / f"tmp{tag}.{fmt}"
                encode(wav, part)
                wav.unlink()
                part.replace(out)
        paths.append(str(out))
    return paths


def _ours(path: str, opening_weight: float | None = None) -> dict:
    sys.path.insert(0, str(ROOT))
    from services.essentia_api.analysis.pipeline import AnalysisOptions, analyze_file

    opts = AnalysisOptions() if opening_weight is None else AnalysisOptions(key_opening_weight=opening_weight)
    r = analyze_file(path=path, options=opts)
    return {"bpm": r.bpm, "key": r.key, "scale": r.scale, "bpm_raw": r.bpm_raw, "beats": r.beats}


def _key_sweep(path: str, weights: tuple[float, ...], param: str = "opening") -> list[dict]:
    """Decode and track the beat once, then run only the key stage for each opening (or phrase) weight."""
    sys.path.insert(0, str(ROOT))
    from services.essentia_api.analysis.key import analyze_key
    from services.essentia_api.analysis.loading import load_audio
    from services.essentia_api.analysis.phrase import find_phrases
    from services.essentia_api.analysis.rhythm import analyze_rhythm
    from services.essentia_api.analysis.spectral import stft

    audio = load_audio(path=path)
    st = stft(signal=audio.mono_lo, sample_rate=audio.lo_rate)
    rhythm = analyze_rhythm(st=st, duration=audio.duration, bpm_min=70.0, bpm_max=180.0)
    phrases = find_phrases(st=st, beats=rhythm.beats)
    out = []
    for w in weights:
        k = analyze_key(
            signal=audio.mono_lo,
            sample_rate=audio.lo_rate,
            bar_seconds=4 * 60.0 / rhythm.bpm if rhythm.bpm > 0 else None,
            first_beat=rhythm.first_beat,
            phrases=phrases,
            **({"phrase_weight": w} if param == "phrase" else {"opening_weight": w}),
        )
        out.append({"bpm": rhythm.bpm, "key": k.key, "scale": k.scale, "beats": list(rhythm.beats)})
    return out


def _baseline(path: str) -> dict:
    sys.path.insert(0, str(ROOT))
    from services.essentia_api.analysis import ess

    es = ess()
    audio = es.MonoLoader(filename=path, sampleRate=44100)()
    bpm, ticks, *_ = es.RhythmExtractor2013(method="multifeature")(audio)
    key, scale, _ = es.KeyExtractor(profileType="edma")(audio)
    return {"bpm": float(bpm), "key": key, "scale": scale, "beats": [float(t) for t in ticks]}


def tempo_class(est: float, ref: float) -> str:
    if abs(est - ref) <= 0.04 * ref:
        return "correct"
    for name, f in (("double", 2), ("half", 0.5), ("triple", 3), ("third", 1 / 3)):
        if abs(est - ref * f) <= 0.04 * ref * f:
            return name
    return "other"


def beat_f_measure(est: list[float], ref_bpm: float, seconds: float, *, window: float = 0.07) -> float:
    """mir_eval's beat F-measure (+-70 ms, beats before 5 s ignored) against the clip's own grid:
    every clip has a beat at t = 0 and then one each 60/bpm s."""
    ref = np.arange(0.0, seconds, 60.0 / ref_bpm)
    ref = ref[ref >= 5.0]
    est_a = np.asarray([b for b in est if b >= 5.0])
    if ref.size == 0 or est_a.size == 0:
        return 0.0
    dist = np.abs(est_a[:, None] - ref[None, :])
    # Greedy one-to-one matching is exact here: both sequences are sorted and the window is far
    # below half a beat.
    hits = int((dist.min(axis=1) <= window).sum())
    hits = min(hits, int((dist.min(axis=0) <= window).sum()))
    precision, recall = hits / est_a.size, hits / ref.size
    return 0.0 if hits == 0 else 2 * precision * recall / (precision + recall)


def beat_phase_class(est: list[float], ref_bpm: float) -> str:
    """Where the estimated beats sit within the true beat: on it, or half a beat off (off-beat)."""
    est_a = np.asarray([b for b in est if b >= 5.0])
    if est_a.size == 0:
        return "none"
    period = 60.0 / ref_bpm
    frac = np.mod(est_a / period, 1.0)
    off = float(np.median(np.minimum(frac, 1 - frac)))  # 0 = on the beat, 0.5 = off-beat
    if off * period <= 0.07:
        return "on_beat"
    return "off_beat" if abs(off - 0.5) * period <= 0.07 else "other"


def key_class(est_pc: int, est_scale: str, ref_pc: int, ref_scale: str) -> tuple[str, float]:
    if est_pc == ref_pc and est_scale == ref_scale:
        return "same", 1.0
    if est_scale == ref_scale and (est_pc - ref_pc) % 12 == 7:
        return "fifth_above", 0.5
    if est_scale == ref_scale and (est_pc - ref_pc) % 12 == 5:
        return "fifth_below", 0.0  # mir_eval gives 0; listed because DJs treat it as compatible
    if ref_scale == "major" and est_scale == "minor" and (est_pc - ref_pc) % 12 == 9:
        return "relative", 0.3
    if ref_scale == "minor" and est_scale == "major" and (est_pc - ref_pc) % 12 == 3:
        return "relative", 0.3
    if est_pc == ref_pc:
        return "parallel", 0.2
    return "other", 0.0


def opens_on_tonic(spec) -> bool:
    progs = _MINOR_PROGRESSIONS if spec.scale == "minor" else _MAJOR_PROGRESSIONS
    prog = progs[spec.progression % len(progs)]
    return prog[spec.rotation % len(prog)][0] == 0


def score(specs, results) -> dict:
    tempo = Counter(tempo_class(r["bpm"], s.bpm) for s, r in zip(specs, results))
    beat_f = [beat_f_measure(r["beats"], s.bpm, s.seconds) for s, r in zip(specs, results)]
    phase = Counter(beat_phase_class(r["beats"], s.bpm) for s, r in zip(specs, results))
    keys = [key_class(_PC[r["key"]], r["scale"], s.tonic, s.scale) for s, r in zip(specs, results)]
    n = len(specs)
    return {
        "n": n,
        "tempo_acc1": round(tempo["correct"] / n, 4),
        "tempo_acc2": round((n - tempo["other"]) / n, 4),
        "tempo_errors": {k: v for k, v in tempo.items() if k != "correct"},
        "beat_f_measure": round(float(np.mean(beat_f)), 4),
        "beat_phase": dict(phase),
        "key_exact": round(sum(1 for c, _ in keys if c == "same") / n, 4),
        "key_mirex": round(sum(w for _, w in keys) / n, 4),
        "key_confusions": dict(Counter(c for c, _ in keys if c != "same")),
        "key_errors_by_mode": dict(Counter(s.scale for s, (c, _) in zip(specs, keys) if c != "same")),
        "key_errors_by_opening": dict(
            Counter(
                "tonic" if opens_on_tonic(s) else "other_chord"
                for s, (c, _) in zip(specs, keys)
                if c != "same"
            )
        ),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--per-key", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--format", choices=("wav", "mp3", "flac"), default="mp3")
    ap.add_argument("--seed", type=int, default=1234, help="1234 = tuning set; anything else = held-out set")
    ap.add_argument(
        "--synth",
        choices=("numpy", "fluidsynth"),
        default="numpy",
        help="numpy synthesis, or the same arrangement as General MIDI rendered by FluidSynth",
    )
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--no-baseline", action="store_true")
    ap.add_argument("--rotate", action="store_true", help="start each progression at a random bar")
    ap.add_argument(
        "--phrase-crash",
        action="store_true",
        help="mark every phrase start (the progression's first bar) with a crash cymbal",
    )
    ap.add_argument(
        "--sweep-opening",
        type=str,
        default=None,
        help="comma-separated opening weights: key-only sweep (tuning sets only), then exit",
    )
    ap.add_argument(
        "--sweep-phrase",
        type=str,
        default=None,
        help="comma-separated phrase-start weights: key-only sweep (tuning sets only), then exit",
    )
    ap.add_argument(
        "--compare-opening-weight",
        type=float,
        default=None,
        help="also run ours with this key_opening_weight (reported as ours_opening_weight_<W>)",
    )
    ap.add_argument(
        "--opening-weight",
        type=float,
        default=None,
        help="override AnalysisOptions.key_opening_weight (0 = ablation without opening-bar evidence)",
    )
    ap.add_argument(
        "--workdir", type=Path, default=Path(tempfile.gettempdir()) / "djp-bench-analysis-accuracy"
    )
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "analysis_results" / "accuracy.json")
    args = ap.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    specs = accuracy_set(
        args.per_key, seconds=args.seconds, seed=args.seed, rotate=args.rotate, phrase_crash=args.phrase_crash
    )
    t = time.perf_counter()
    paths = clip_paths(specs, args.workdir, synth=args.synth, fmt=args.format, seed=args.seed, seconds=args.seconds,
                       rotate=args.rotate, phrase_crash=args.phrase_crash)
    print(f"{len(specs)} clips ready in {time.perf_counter() - t:.1f} s ({args.workdir})", flush=True)
    report: dict = {
        "clips": len(specs),
        "seconds": args.seconds,
        "format": args.format,
        "seed": args.seed,
        "synth": args.synth,
        "rotate": args.rotate,
        "phrase_crash": args.phrase_crash,
        "opening_on_tonic": sum(opens_on_tonic(s) for s in specs),
        "opening_weight": args.opening_weight,
        "command": "python " + " ".join([f"bench/{Path(__file__).name}", *sys.argv[1:]]),
    }
    if args.sweep_opening or args.sweep_phrase:
        param = "phrase" if args.sweep_phrase else "opening"
        weights = tuple(float(w) for w in (args.sweep_phrase or args.sweep_opening).split(","))
        with ProcessPoolExecutor(args.workers, mp_context=get_context("spawn")) as ex:
            per_clip = list(ex.map(partial(_key_sweep, weights=weights, param=param), paths))
        report["sweep"] = {"param": f"{param}_weight"}
        for j, w in enumerate(weights):
            sc = score(specs, [r[j] for r in per_clip])
            report["sweep"][str(w)] = {k: sc[k] for k in sc if k.startswith("key_")}
            print(f"{param}_weight={w:g}", json.dumps(report["sweep"][str(w)]), flush=True)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2))
        print(f"wrote {args.out}")
        return
    with ProcessPoolExecutor(args.workers, mp_context=get_context("spawn")) as ex:
        t = time.perf_counter()
        ours = list(ex.map(partial(_ours, opening_weight=args.opening_weight), paths))
        report["ours"] = score(specs, ours) | {"wall_seconds": round(time.perf_counter() - t, 1)}
        print("ours", json.dumps(report["ours"]), flush=True)
        if args.compare_opening_weight is not None:
            t = time.perf_counter()
            alt = list(ex.map(partial(_ours, opening_weight=args.compare_opening_weight), paths))
            name = f"ours_opening_weight_{args.compare_opening_weight:g}"
            report[name] = score(specs, alt) | {"wall_seconds": round(time.perf_counter() - t, 1)}
            print(name, json.dumps(report[name]), flush=True)
        if not args.no_baseline:
            t = time.perf_counter()
            base = list(ex.map(_baseline, paths))
            report["baseline"] = score(specs, base) | {"wall_seconds": round(time.perf_counter() - t, 1)}
            print("baseline", json.dumps(report["baseline"]), flush=True)
    report["misses"] = [
        {
            "ref_bpm": s.bpm,
            "style": s.resolved_style(),
            "ref_key": f"{PITCH_CLASSES[s.tonic]} {s.scale}",
            "progression": s.progression % 4,
            "rotation": s.rotation,
            "opens_on_tonic": opens_on_tonic(s),
            "bpm": r["bpm"],
            "beat_phase": beat_phase_class(r["beats"], s.bpm),
            "key": f"{r['key']} {r['scale']}",
            "tempo": tempo_class(r["bpm"], s.bpm),
            "key_class": key_class(_PC[r["key"]], r["scale"], s.tonic, s.scale)[0],
        }
        for s, r in zip(specs, ours)
        if tempo_class(r["bpm"], s.bpm) != "correct"
        or beat_phase_class(r["beats"], s.bpm) != "on_beat"
        or key_class(_PC[r["key"]], r["scale"], s.tonic, s.scale)[0] != "same"
    ]
    for m in report["misses"]:
        print("miss", json.dumps(m))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
