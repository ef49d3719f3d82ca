"""Phrase starts, and what they decide: a minor loop against its relative major's identical loop,
plus the beat grid's phase (on the beat, not the off-beat)."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pytest

from services.essentia_api.analysis.loading import load_audio
from services.essentia_api.analysis.phrase import find_phrases
from services.essentia_api.analysis.pipeline import analyze_file
from services.essentia_api.analysis.rhythm import analyze_rhythm
from services.essentia_api.analysis.spectral import stft
from tests.essentia_api.audio_fixtures import (
    SOUNDFONT,
    SR,
    ClipSpec,
    _add,
    _crash,
    render_fluidsynth,
    synth_clip,
    write_wav,
)

BPM = 126.0
BAR = 4 * 60 / BPM
# A minor i-VI-III-VII started at its third bar plays C G Am F: C major's I-V-vi-IV, note for note.
# C major I-V-vi-IV started at its third bar plays Am F C G: A minor's loop. Only the phrase marks
# (a crash on each phrase's first chord) tell them apart.
MINOR_FROM_BAR_3 = ClipSpec(
    bpm=BPM, tonic=9, scale="minor", seconds=30, style="house", progression=0, rotation=2, seed=5
)
MAJOR_FROM_BAR_3 = ClipSpec(
    bpm=BPM, tonic=0, scale="major", seconds=30, style="house", progression=0, rotation=2, seed=6
)


def _marked(spec: ClipSpec) -> ClipSpec:
    return dataclasses.replace(spec, phrase_crash=True)


def _analyze(tmp_path: Path, name: str, signal: np.ndarray):
    return analyze_file(path=str(write_wav(tmp_path / f"{name}.wav", signal)))


@pytest.mark.parametrize(
    ("spec", "key", "scale"), [(MINOR_FROM_BAR_3, "A", "minor"), (MAJOR_FROM_BAR_3, "C", "major")]
)
def test_phrase_marks_decide_between_a_key_and_its_relative(tmp_path, spec, key, scale):
    res = _analyze(tmp_path, "marked", synth_clip(_marked(spec)))
    assert (res.key, res.scale) == (key, scale)
    # The clip starts at the phrase's third bar, so the first phrase starts two bars in.
    assert res.phrase_starts[0] == pytest.approx(2 * BAR, abs=0.06)
    assert np.diff(res.phrase_starts) == pytest.approx(4 * BAR, abs=0.06)
    assert res.phrase_confidence >= 0.5


def test_without_marks_there_is_no_phrase_grid(tmp_path):
    res = _analyze(tmp_path, "plain", synth_clip(MINOR_FROM_BAR_3))
    assert res.phrase_starts == [] and res.phrase_confidence == 0.0
    # Same notes as C major's loop opening on its tonic: nothing in the audio says A minor.
    assert res.camelot in ("8A", "8B")


def test_a_crash_on_every_bar_is_not_a_phrase_grid():
    x = synth_clip(MINOR_FROM_BAR_3)
    crash = _crash(SR, np.random.default_rng(0))
    for bar in range(int(30 / BAR) + 1):
        _add(x, crash, int(bar * BAR * SR), 0.5)
    lo = x[::4].astype(np.float32)
    st = stft(signal=lo, sample_rate=SR / 4)
    rhythm = analyze_rhythm(st=st, duration=30.0, bpm_min=70, bpm_max=180)
    assert rhythm.bpm == pytest.approx(BPM, rel=0.01)
    assert find_phrases(st=st, beats=rhythm.beats) is None


@pytest.mark.skipif(
    shutil.which("fluidsynth") is None or not SOUNDFONT.exists(),
    reason="needs fluidsynth + fluid-soundfont-gm",
)
@pytest.mark.parametrize(("bpm", "style"), [(124.0, "house"), (74.0, "hiphop")])
def test_beat_grid_sits_on_the_beat_not_the_off_beat(tmp_path, bpm, style):
    # General MIDI house (bass and open hats on the off-beats) and hip-hop made the tracker lock half
    # a beat off on 40 of 96 rendered clips before the phase check.
    spec = ClipSpec(bpm=bpm, tonic=4, scale="minor", seconds=20, style=style, progression=1, seed=9)
    wav = render_fluidsynth(spec, tmp_path / "gm.wav")
    audio = load_audio(path=str(wav))
    st = stft(signal=audio.mono_lo, sample_rate=audio.lo_rate)
    rhythm = analyze_rhythm(st=st, duration=audio.duration, bpm_min=70, bpm_max=180)
    period = 60 / bpm
    assert rhythm.bpm == pytest.approx(bpm, rel=0.01)
    offsets = np.mod(rhythm.beats, period)
    # The MIDI beat is at t = k * period (FluidSynth adds ~25 ms of attack); within 70 ms, as mir_eval.
    assert np.all(np.minimum(offsets, period - offsets) < 0.07)
