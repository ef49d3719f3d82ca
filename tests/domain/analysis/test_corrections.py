"""A DJ's corrections of tempo and key: accepted alternatives, typed values, kept by re-analysis, reverted."""

from __future__ import annotations

import pytest

from services.common.models import Library, Track, User
from services.domain.analysis.corrections import correct_analysis, estimates, revert_correction
from services.domain.analysis.results import store_analysis
from services.domain.errors import Conflict, Invalid, NotFound
from tests.domain.analysis.test_results import _result

CANDIDATES = [{"bpm": 124.0, "confidence": 0.78, "relation": "chosen"},
              {"bpm": 62.0, "confidence": 0.22, "relation": "half"}]
KEY_ALT = {"key": "C", "scale": "major", "camelot": "8B", "confidence": 0.31}


@pytest.fixture
def analysed(db_session, owner_library):
    user, lib = owner_library
    track = Track(track_id="1-A1", library_id=lib.id, title="Tune")
    db_session.add(track)
    db_session.flush()
    store_analysis(session=db_session, track=track,
                   result=_result(bpm_candidates=CANDIDATES, key_confidence=0.62, key_alternative=KEY_ALT))
    db_session.flush()
    return user, track


def _reanalyse(db_session, track):
    store_analysis(session=db_session, track=track,
                   result=_result(bpm=124.1, bpm_candidates=CANDIDATES, key_confidence=0.6, key_alternative=KEY_ALT))
    db_session.flush()


def test_analysis_stores_candidates_and_key_alternative(analysed):
    _user, t = analysed
    assert t.bpm_candidates == CANDIDATES and t.key_confidence == 0.62 and t.key_alternative == KEY_ALT
    assert t.bpm_source is None and t.key_source is None
    est = estimates(t)
    assert est["bpm"]["alternative"]["bpm"] == 62.0 and est["bpm"]["confidence"] == 0.78
    assert est["key"]["alternative"]["camelot"] == "8B" and est["key"]["source"] == "analysis"


def test_accepted_alternatives_survive_reanalysis_and_revert_brings_the_analysis_back(db_session, analysed):
    user, t = analysed
    correct_analysis(session=db_session, user=user, track_pk=t.id, accept="bpm_alternative")
    correct_analysis(session=db_session, user=user, track_pk=t.id, accept="key_alternative")
    assert (t.bpm, t.bpm_source) == (62.0, "user")
    assert (t.key, t.scale, t.camelot, t.key_source) == ("C", "major", "8B", "user")

    _reanalyse(db_session, t)
    db_session.commit()
    db_session.expire_all()
    t = db_session.get(Track, t.id)
    # The correction is the effective value; the analysis's own reading stays visible.
    assert (t.bpm, t.camelot) == (62.0, "8B")
    assert t.analysed_bpm == 124.1 and t.analysed_camelot == "8A" and t.key_confidence == 0.6
    assert estimates(t)["bpm"]["analysed"] == 124.1 and estimates(t)["key"]["source"] == "user"

    revert_correction(session=db_session, user=user, track_pk=t.id, what="bpm")
    assert (t.bpm, t.bpm_source, t.camelot, t.key_source) == (124.1, None, "8B", "user")
    revert_correction(session=db_session, user=user, track_pk=t.id, what="key")
    assert (t.key, t.scale, t.camelot, t.key_source) == ("A", "minor", "8A", None)
    _reanalyse(db_session, t)
    assert t.bpm == 124.1  # not corrected any more: the analysis writes it again


def test_typed_values_are_validated_and_normalised(db_session, analysed):
    user, t = analysed
    correct_analysis(session=db_session, user=user, track_pk=t.id, bpm="127,5", key="F# minor")
    assert (t.bpm, t.key, t.scale, t.camelot) == (127.5, "F#", "minor", "11A")
    correct_analysis(session=db_session, user=user, track_pk=t.id, key="1m")  # Open Key
    assert t.camelot == "8A" and t.bpm == 127.5
    for kwargs, code in [({"bpm": "fast"}, "bad_bpm"), ({"bpm": 500}, "bad_bpm"), ({"bpm": float("nan")}, "bad_bpm"),
                         ({"bpm": True}, "bad_bpm"), ({"key": "H minor"}, "bad_key"), ({"key": "13A"}, "bad_key"),
                         ({}, "nothing_to_correct"), ({"accept": "energy"}, "bad_correction"),
                         ({"accept": "bpm_alternative", "bpm": 120}, "bad_correction")]:
        with pytest.raises(Invalid) as exc:
            correct_analysis(session=db_session, user=user, track_pk=t.id, **kwargs)
        assert exc.value.code == code, kwargs
    assert t.bpm == 127.5 and t.camelot == "8A"  # nothing changed by the refused ones
    with pytest.raises(Invalid):
        revert_correction(session=db_session, user=user, track_pk=t.id, what="energy")


def test_no_alternative_to_accept_is_a_conflict(db_session, owner_library):
    user, lib = owner_library
    track = Track(track_id="1-A2", library_id=lib.id, title="Unanalysed")
    db_session.add(track)
    db_session.flush()
    with pytest.raises(Conflict):
        correct_analysis(session=db_session, user=user, track_pk=track.id, accept="bpm_alternative")
    correct_analysis(session=db_session, user=user, track_pk=track.id, bpm=98)
    revert_correction(session=db_session, user=user, track_pk=track.id)
    assert track.bpm is None and track.bpm_source is None  # never analysed: nothing to go back to


def test_other_users_tracks_are_not_found(db_session, analysed):
    _user, t = analysed
    other = User(username="other", password_hash="x")
    db_session.add(other)
    db_session.flush()
    db_session.add(Library(owner_id=other.id, name="theirs"))
    db_session.flush()
    with pytest.raises(NotFound):
        correct_analysis(session=db_session, user=other, track_pk=t.id, bpm=100)
    with pytest.raises(NotFound):
        revert_correction(session=db_session, user=other, track_pk=t.id)
