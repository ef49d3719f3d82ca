"""The tempo octave a track's Discogs styles count it in: the rule, and what storing an analysis does with it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.common.models import Track
from services.domain.analysis.corrections import correct_analysis, estimates, revert_correction
from services.domain.analysis.results import restyle_tempos, store_analysis
from services.domain.analysis.style_tempo import (
    OUTSIDE_ODDS,
    STYLE_BPM_RANGES,
    style_tempo,
    tempo_ranges,
)
from tests.domain.analysis.test_results import _result


def _cands(chosen: float, conf: float, half: float, double: float) -> list[dict]:
    return [{"bpm": chosen, "confidence": conf, "relation": "chosen"},
            {"bpm": round(chosen / 2, 2), "confidence": half, "relation": "half"},
            {"bpm": round(chosen * 2, 2), "confidence": double, "relation": "double"}]


def test_halftime_dubstep_and_drum_and_bass_are_counted_in_their_styles_octave():
    got = style_tempo(bpm=70.0, candidates=_cands(70.0, 0.6, 0.0, 0.4), styles=["Dubstep", "Bass Music"], genres=[])
    assert (got.bpm, got.styles) == (140.0, ("Dubstep",))
    got = style_tempo(bpm=86.0, candidates=_cands(86.0, 0.7, 0.05, 0.25), styles=["Drum n Bass"], genres=["Electronic"])
    assert got.bpm == 172.0
    got = style_tempo(bpm=176.0, candidates=_cands(176.0, 0.55, 0.45, 0.0), styles=["Boom Bap"], genres=["Hip Hop"])
    assert got.bpm == 88.0


def test_a_reading_inside_the_range_or_without_a_convention_stays():
    assert style_tempo(bpm=140.0, candidates=_cands(140.0, 0.5, 0.5, 0.0), styles=["Dubstep"], genres=[]) is None
    for styles in ([], ["Trap"], ["Ambient", "Experimental"]):
        assert style_tempo(bpm=70.0, candidates=_cands(70.0, 0.5, 0.0, 0.5), styles=styles, genres=[]) is None
    # Neither octave fits (a 4:5 misreading): nothing to choose.
    assert style_tempo(bpm=109.6, candidates=_cands(109.6, 0.6, 0.2, 0.2), styles=["Trance"], genres=[]) is None
    assert style_tempo(bpm=None, candidates=None, styles=["Dubstep"], genres=[]) is None


def test_audio_that_is_sure_of_itself_outweighs_the_style():
    assert 0.05 < 0.95 * OUTSIDE_ODDS  # the double's share below OUTSIDE_ODDS x the chosen reading's
    assert style_tempo(bpm=70.0, candidates=_cands(70.0, 0.95, 0.0, 0.05), styles=["Dubstep"], genres=[]) is None
    assert style_tempo(bpm=70.0, candidates=_cands(70.0, 0.8, 0.0, 0.2), styles=["Dubstep"], genres=[]).bpm == 140.0


def test_without_candidates_half_and_double_count_as_likely_as_the_reading():
    assert style_tempo(bpm=85.0, candidates=None, styles=["Jungle"], genres=[]).bpm == 170.0
    assert style_tempo(bpm=150.0, candidates=[], styles=[], genres=["Hip Hop"]).bpm == 75.0


def test_genres_count_only_for_a_track_without_styles():
    assert tempo_ranges(styles=[], genres=["Hip Hop", "Electronic"]) == {"Hip Hop": (70, 115)}
    assert tempo_ranges(styles=["Trap"], genres=["Hip Hop"]) == {}


def test_no_range_holds_two_octaves_of_one_tempo():
    # Otherwise a reading and its double could both be "inside" and the rule would not know which to keep.
    assert all(hi < 2 * lo for lo, hi in STYLE_BPM_RANGES.values())


@pytest.fixture
def dubstep_track(db_session, owner_library):
    user, lib = owner_library
    track = Track(track_id="9-A1", library_id=lib.id, title="Wobble", styles=["Dubstep"], genres=["Electronic"])
    db_session.add(track)
    db_session.flush()
    return user, track


def test_storing_an_analysis_takes_the_styles_octave_and_offers_the_audios(db_session, dubstep_track):
    user, t = dubstep_track
    store_analysis(session=db_session, track=t, result=_result(bpm=70.0, bpm_candidates=_cands(70.0, 0.6, 0.0, 0.4)))
    assert (t.bpm, t.bpm_source) == (140.0, "style")
    est = estimates(t)["bpm"]
    assert est["styles"] == ["Dubstep"] and est["analysed"] == 70.0 and est["confidence"] == 0.4
    assert est["alternative"]["bpm"] == 70.0 and est["alternative"]["relation"] == "chosen"

    # The DJ prefers the audio's reading: a correction that re-analysis keeps; reverting gives the style's again.
    correct_analysis(session=db_session, user=user, track_pk=t.id, accept="bpm_alternative")
    assert (t.bpm, t.bpm_source) == (70.0, "user")
    store_analysis(session=db_session, track=t, result=_result(bpm=70.0, bpm_candidates=_cands(70.0, 0.6, 0.0, 0.4)))
    assert (t.bpm, t.bpm_source) == (70.0, "user")
    revert_correction(session=db_session, user=user, track_pk=t.id, what="bpm")
    assert (t.bpm, t.bpm_source) == (140.0, "style")

    # A re-analysis that reads 140 itself makes it the analysis's own reading again.
    store_analysis(session=db_session, track=t, result=_result(bpm=140.0, bpm_candidates=_cands(140.0, 0.7, 0.3, 0.0)))
    assert (t.bpm, t.bpm_source) == (140.0, None)
    assert estimates(t)["bpm"]["styles"] == []


def test_a_track_without_a_tempo_convention_keeps_the_audios_reading(db_session, owner_library):
    _user, lib = owner_library
    t = Track(track_id="9-B1", library_id=lib.id, title="Drift", styles=["Ambient"])
    db_session.add(t)
    db_session.flush()
    store_analysis(session=db_session, track=t, result=_result(bpm=70.0, bpm_candidates=_cands(70.0, 0.6, 0.0, 0.4)))
    assert (t.bpm, t.bpm_source) == (70.0, None)


def test_restyle_follows_a_change_of_styles_and_leaves_corrections_alone(db_session, owner_library):
    user, lib = owner_library
    plain, corrected = (Track(track_id=f"9-C{i}", library_id=lib.id, title=f"T{i}") for i in range(2))
    db_session.add_all([plain, corrected])
    db_session.flush()
    for t in (plain, corrected):
        store_analysis(session=db_session, track=t, result=_result(bpm=70.0, bpm_candidates=_cands(70.0, 0.6, 0.0, 0.4)))
    correct_analysis(session=db_session, user=user, track_pk=corrected.id, bpm=71)
    assert (plain.bpm, plain.bpm_source) == (70.0, None)

    for t in (plain, corrected):  # what a sync writes when Discogs gained a style
        t.styles = ["Dubstep"]
    db_session.flush()
    assert restyle_tempos(conn=db_session, library_id=lib.id) == [plain.id]
    db_session.expire_all()
    assert (plain.bpm, plain.bpm_source) == (140.0, "style")
    assert (corrected.bpm, corrected.bpm_source) == (71.0, "user")
    assert restyle_tempos(conn=db_session, library_id=lib.id) == []  # nothing left to move

    plain.styles = ["Ambient"]  # the style went away: back to the audio's reading
    db_session.flush()
    assert restyle_tempos(conn=db_session, track_pks=[plain.id]) == [plain.id]
    db_session.expire_all()
    assert (plain.bpm, plain.bpm_source) == (70.0, None)


def test_restyle_never_touches_a_track_without_an_analysed_tempo(db_session, owner_library):
    _user, lib = owner_library
    t = Track(track_id="9-D1", library_id=lib.id, title="Imported", styles=["Dubstep"], bpm=70.0,
              analyzed_at=datetime.now(UTC))  # a tempo from elsewhere, no analysis JSON
    db_session.add(t)
    db_session.flush()
    assert restyle_tempos(conn=db_session, library_id=lib.id) == []
    db_session.expire_all()
    assert t.bpm == 70.0


def test_odd_stored_candidates_are_skipped_not_fatal():
    odd = [None, "x", {"bpm": "fast"}, {"bpm": True}, {"bpm": 70.0, "confidence": "high", "relation": "chosen"},
           {"bpm": 140.0, "confidence": 0.4, "relation": "double"}]
    assert style_tempo(bpm=70.0, candidates=odd, styles=["Dubstep"], genres=[]).bpm == 140.0
