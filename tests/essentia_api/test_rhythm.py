"""Unit checks of the grid fit and the octave decision (no HTTP)."""

from __future__ import annotations

import numpy as np
import pytest

from services.essentia_api.analysis.loading import _decimate
from services.essentia_api.analysis.rhythm import analyze_rhythm, fit_grid
from services.essentia_api.analysis.spectral import stft
from tests.essentia_api.audio_fixtures import ClipSpec, synth_clip


def test_fit_grid_recovers_tempo_with_missing_and_jittered_beats():
    rng = np.random.default_rng(0)
    period = 60 / 127.3
    ticks = 0.21 + period * np.arange(60) + rng.normal(0, 0.004, 60)
    ticks = np.delete(ticks, [5, 6, 30])  # dropped beats must not bend the grid
    p, phase, resid = fit_grid(ticks=ticks)
    assert 60 / p == pytest.approx(127.3, abs=0.05)
    assert phase == pytest.approx(0.21, abs=0.01) and resid < 0.01


@pytest.mark.parametrize(("bpm", "style"), [(72.0, "hiphop"), (140.0, "techno"), (172.0, "dnb")])
def test_tempo_lands_in_preferred_range_without_octave_errors(bpm, style):
    x = synth_clip(ClipSpec(bpm=bpm, tonic=2, scale="minor", seconds=15, style=style, progression=2))
    st = stft(signal=_decimate(x, 4), sample_rate=11025.0)
    r = analyze_rhythm(st=st, duration=15.0, bpm_min=70, bpm_max=180)
    assert r.bpm == pytest.approx(bpm, rel=0.01)
    assert r.alternative_bpm is not None


def test_preferred_range_is_configurable():
    x = synth_clip(ClipSpec(bpm=172.0, tonic=2, scale="minor", seconds=15, style="dnb", progression=2))
    st = stft(signal=_decimate(x, 4), sample_rate=11025.0)
    r = analyze_rhythm(st=st, duration=15.0, bpm_min=60, bpm_max=110)
    assert r.bpm == pytest.approx(86.0, rel=0.01)


class _LockedTracker:
    """Essentia with a beat tracker that locked onto five sixteenths (a 4:5 misreading), as on a trance
    arpeggio of five notes; every other algorithm is Essentia's own."""

    def __init__(self, es, period: float) -> None:
        self._es, self._period = es, period

    def __getattr__(self, name):
        return getattr(self._es, name)

    def TempoTapMaxAgreement(self):  # noqa: N802 (Essentia's name)
        ticks = (0.05 + self._period * np.arange(int(14.5 / self._period))).astype(np.float32)
        return lambda _candidates: (ticks, 4.0)


def test_a_tracker_locked_on_five_sixteenths_is_brought_back_to_the_beat(monkeypatch):
    from services.essentia_api.analysis import rhythm
    from services.essentia_api.analysis.rhythm import ess

    x = synth_clip(ClipSpec(bpm=128.0, tonic=9, scale="minor", seconds=15, style="house", progression=1))
    st = stft(signal=_decimate(x, 4), sample_rate=11025.0)
    monkeypatch.setattr(rhythm, "ess", lambda: _LockedTracker(ess(), 1.25 * 60 / 128.0))
    r = analyze_rhythm(st=st, duration=15.0, bpm_min=70, bpm_max=180)
    assert r.evidence["ratio"] == pytest.approx(4 / 5)
    assert r.bpm == pytest.approx(128.0, rel=0.01)
