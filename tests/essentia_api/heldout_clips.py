"""Clips of the held-out benchmark's *tuning* split (bench/analysis_heldout) through the analyzer, for tests that
pin what tuning fixed. The test split is never used in tests: it measures, it does not teach."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest

from bench.analysis_heldout.clips import generator_available, render_clip
from bench.analysis_heldout.specs import HeldoutSpec
from bench.tune_tempo_octave import tuning_specs


@cache
def _tuning_specs() -> dict[str, HeldoutSpec]:
    """The tuning split and the extra tuning seeds (bench/tune_tempo_octave.py EXTRA_TUNING)."""
    return {s.clip_id: s for s, _group in tuning_specs()}


def analyze_tuning_clip(clip_id: str, workdir: Path):
    """(spec, AnalysisResult) of one tuning clip, rendered into `workdir`; skips where its renderer is missing."""
    spec = _tuning_specs()[clip_id]
    if not generator_available(spec.generator):
        pytest.skip(f"{spec.generator}: its renderer or soundfont is not installed")
    from services.essentia_api.analysis.pipeline import AnalysisOptions, analyze_file

    return spec, analyze_file(path=str(render_clip(spec, workdir)), options=AnalysisOptions())
