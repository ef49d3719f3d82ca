"""A held-out benchmark for tempo and key: material made independently of the analyzer's tuning sets.

Nothing here imports tests/essentia_api/audio_fixtures.py (the generator the analyzer was tuned on).
Clips are composed by `score.py` (genre conventions, arrangements, progressions) and rendered by
independent generators (`GENERATORS` in `specs.py`):

- ``fluidsynth_fluidr3``: General MIDI written with mido, rendered by FluidSynth with FluidR3_GM
  (Debian ``fluid-soundfont-gm``), programs and drum kits chosen per clip;
- ``numpy_synth``: a subtractive/additive numpy synth with its own drum synthesis (`render_numpy.py`);
- ``fluidsynth_timgm6mb``: the same MIDI through a different soundfont, TimGM6mb (Debian
  ``timgm6mb-soundfont``), skipped when that package is missing.

Splits are by generator *and* seed (`SETS`): the tuning split is one generator and seed; the test
split is other seeds and other generators, frozen in `manifest.json` before any tuning.
"""
