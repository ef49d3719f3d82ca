"""The key from Essentia's KeyExtractor (edma) plus the flat-seventh check (analysis/key.py, analyzer 1.6), on clips
of the held-out benchmark's *tuning* split (bench/analysis_heldout) that analyzer 1.5 misread: plain major loops
(I-iii-IV-V read as the relative minor, vi-IV-I-V read a fifth up), a minor i-III-VII-iv read as the major key a
semitone below, and a ii-V7-I-I read on its dominant (the flat seventh sounds louder than the leading tone). The test
split is never used here: it measures, it does not teach."""

from __future__ import annotations

import pytest

from bench.analysis_heldout.metrics import key_kind
from tests.essentia_api.heldout_clips import analyze_tuning_clip

MISREAD_BY_1_5 = {
    "fluidsynth_fluidr3_s1_002_house_127_Bmaj_1fcd143e": ("Ab", "minor"),  # I iii IV V
    "fluidsynth_fluidr3_s1_041_dubstep_140_Gmaj_aecbddab": ("D", "major"),  # vi IV I V
    "fluidsynth_fluidr3_s1_004_techno_135_Ebmin_fea3e70b": ("C#", "major"),  # i III VII iv
    "fluidsynth_fluidr3_s1_047_breaks_134_Bbmaj_7a4817f6": ("F", "major"),  # ii V7 I I
}


@pytest.mark.parametrize("clip_id", MISREAD_BY_1_5)
def test_the_key_of_a_plain_progression(clip_id, tmp_path):
    spec, result = analyze_tuning_clip(clip_id, tmp_path)
    assert key_kind(result.key, result.scale, spec.tonic, spec.mode)[0] == "same", (
        clip_id, result.key, result.scale, "1.5 read", MISREAD_BY_1_5[clip_id],
    )
    # the decision leads the candidates
    assert (result.key_candidates[0].key, result.key_candidates[0].scale) == (result.key, result.scale)
