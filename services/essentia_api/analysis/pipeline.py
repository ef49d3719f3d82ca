"""analyze_file: decode once, share the low-rate mix and its STFT, run every feature, build the contract."""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from services.common.camelot import key_to_camelot, pitch_class
from services.common.contracts.analysis import AnalysisResult
from services.essentia_api.analysis import ess, essentia_version
from services.essentia_api.analysis.alternatives import key_confidence, tempo_candidates
from services.essentia_api.analysis.energy import (
    danceability,
    energy_rating,
    pulse_features,
    spectral_summary,
)
from services.essentia_api.analysis.key import PHRASE_WEIGHT, analyze_key
from services.essentia_api.analysis.loading import load_audio
from services.essentia_api.analysis.loudness import loudness_ebu
from services.essentia_api.analysis.mood import DESCRIPTOR, MoodInputs, predict_moods, select_mood_backend
from services.essentia_api.analysis.phrase import find_phrases
from services.essentia_api.analysis.rhythm import analyze_rhythm
from services.essentia_api.analysis.spectral import stft
from services.essentia_api.analysis.waveform import waveform
from services.essentia_api.errors import SilentAudio


@dataclass(frozen=True)
class AnalysisOptions:
    bpm_min: float = 70.0
    bpm_max: float = 180.0
    mood_models_dir: str | None = None
    # MOOD_MODEL: "auto" (Essentia models in mood_models_dir, else the bundled MusiCNN model) or "descriptor"
    mood_model: str = "auto"
    # Weight of the opening bar's bass in the relative major/minor decision (0 disables it). Off by
    # default: it assumes tracks open on the tonic chord (see analysis/key.py, OPENING_WEIGHT).
    key_opening_weight: float = 0.0
    # Weight of the bass at marked phrase starts in the same decision (0 disables it).
    key_phrase_weight: float = PHRASE_WEIGHT
    max_seconds: float | None = None  # longer files are refused (413) before decoding


@lru_cache(maxsize=4)
def _mood_backend(models_dir: str | None, mood_model: str):
    # Once per worker process: model discovery touches the disk and loads graphs lazily.
    return select_mood_backend(
        models_dir=Path(models_dir) if models_dir else None, es_module=ess(), bundled=mood_model != DESCRIPTOR
    )[0]


def analyze_file(*, path: str, options: AnalysisOptions = AnalysisOptions()) -> AnalysisResult:
    timings: dict[str, float] = {}
    t = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal t
        now = time.perf_counter()
        timings[name] = round((now - t) * 1000, 1)
        t = now

    mood_backend = _mood_backend(options.mood_models_dir, options.mood_model)
    audio = load_audio(
        path=path,
        max_seconds=options.max_seconds,
        excerpt_starts=getattr(mood_backend, "excerpt_starts", None),
        excerpt_seconds=getattr(mood_backend, "excerpt_seconds", 0.0),
    )
    lap("load")
    loud = loudness_ebu(
        stereo=audio.stereo_lo, sample_rate=audio.lo_rate, correction_db=audio.loudness_correction_db
    )
    if not np.isfinite(loud.integrated_lufs) or loud.integrated_lufs < -69:
        raise SilentAudio("audio is silent (below the EBU R128 absolute gate)")
    lap("loudness")
    st = stft(signal=audio.mono_lo, sample_rate=audio.lo_rate)
    lap("stft")
    rhythm = analyze_rhythm(st=st, duration=audio.duration, bpm_min=options.bpm_min, bpm_max=options.bpm_max)
    phrases = find_phrases(st=st, beats=rhythm.beats)
    lap("rhythm")
    key = analyze_key(
        signal=audio.mono_lo,
        sample_rate=audio.lo_rate,
        bar_seconds=4 * 60.0 / rhythm.bpm if rhythm.bpm > 0 else None,
        first_beat=rhythm.first_beat,
        opening_weight=options.key_opening_weight,
        phrases=phrases,
        phrase_weight=options.key_phrase_weight,
        beats=rhythm.beats,
    )
    bpm_candidates = tempo_candidates(
        st=st, bpm=rhythm.bpm, first_beat=rhythm.first_beat, duration=audio.duration,
        odfs=getattr(rhythm, "octave_odfs", None), margins=rhythm.octave_margins,
    )
    key_conf = key_confidence(
        key=key.key, scale=key.scale, chroma12=getattr(key, "chroma12", None),
        tonic_scores={(pitch_class(k), s): sc for k, s, sc in key.candidates},
        chord_scores=key.chord_scores,
    )
    lap("key")
    pulse = pulse_features(st=st, beats=rhythm.beats, bpm=rhythm.bpm, duration=audio.duration)
    dance, dance_raw = danceability(signal=audio.mono_lo, sample_rate=audio.lo_rate, pulse=pulse)
    lap("danceability")
    spec = spectral_summary(st=st)
    energy, energy_score = energy_rating(
        lufs=loud.integrated_lufs,
        onset_rate=pulse.onset_rate,
        centroid_hz=spec.centroid_hz,
        flux=spec.flux,
        bpm=rhythm.bpm,
        dance=dance,
        lra=loud.range_lu,
    )
    short = loud.short_term[np.isfinite(loud.short_term) & (loud.short_term > -70)]
    dyn = float(np.percentile(short, 95) - np.percentile(short, 10)) if short.size else 0.0
    lap("energy")
    moods, mood_model = predict_moods(
        backend=mood_backend,
        inputs=MoodInputs(
            path=path,
            bpm=rhythm.bpm,
            scale=key.scale,
            energy_score=energy_score,
            danceability=dance,
            centroid_hz=spec.centroid_hz,
            loudness_lufs=loud.integrated_lufs,
            onset_rate=pulse.onset_rate,
            flux=spec.flux,
            excerpts=audio.excerpts,
            excerpt_rate=audio.sample_rate,
        ),
    )
    lap("mood")
    wave = waveform(signal=audio.mono_lo, sample_rate=audio.lo_rate, st=st, duration=audio.duration)
    lap("waveform")
    cam = key_to_camelot(key.key, key.scale)
    return AnalysisResult(
        essentia_version=essentia_version(),
        duration_seconds=round(audio.duration, 3),
        sample_rate=audio.sample_rate,
        channels=audio.channels,
        codec=audio.codec,
        bpm=rhythm.bpm,
        bpm_confidence=round(rhythm.confidence, 3),
        bpm_raw=rhythm.bpm_raw,
        bpm_alternative=(
            {"bpm": rhythm.alternative_bpm, "score": round(rhythm.alternative_score, 3)}
            if rhythm.alternative_bpm
            else None
        ),
        bpm_candidates=[
            {"bpm": c.bpm, "confidence": c.confidence, "relation": c.relation} for c in bpm_candidates
        ] or None,
        beats=[round(float(b), 3) for b in rhythm.beats],
        first_beat=round(rhythm.first_beat, 3),
        phrase_starts=[round(float(t), 3) for t in phrases.starts] if phrases else [],
        phrase_confidence=round(phrases.confidence, 3) if phrases else 0.0,
        key=key.key,
        scale=key.scale,
        camelot=str(cam),
        open_key=cam.open_key,
        key_strength=round(key.strength, 3),
        key_candidates=[
            {"key": k, "scale": s, "camelot": str(key_to_camelot(k, s)), "score": sc}
            for k, s, sc in key.candidates
        ],
        key_confidence=key_conf.confidence,
        key_alternative=(
            {"key": key_conf.alternative.key, "scale": key_conf.alternative.scale,
             "camelot": str(key_to_camelot(key_conf.alternative.key, key_conf.alternative.scale)),
             "confidence": key_conf.alternative.confidence}
            if key_conf.alternative
            else None
        ),
        danceability=round(dance, 3),
        danceability_raw=round(dance_raw, 4),
        energy=energy,
        energy_score=round(energy_score, 3),
        energy_features={
            "loudness_lufs": round(loud.integrated_lufs, 2),
            "rms_db": round(spec.rms_db, 2),
            "onset_rate": round(pulse.onset_rate, 3),
            "spectral_centroid_hz": round(spec.centroid_hz, 1),
            "spectral_flux": round(spec.flux, 4),
            "low_energy_ratio": round(spec.low_ratio, 4),
            "dynamic_range_db": round(dyn, 2),
            "bpm": rhythm.bpm,
            "danceability": round(dance, 3),
        },
        loudness_lufs=round(loud.integrated_lufs, 2),
        loudness_range_lu=round(loud.range_lu, 2),
        moods=moods,
        mood_model=mood_model,
        waveform=wave,
        timings_ms=timings,
    )
