"""store_analysis maps the contract onto Track columns in a real database; re-analysis replaces."""

from __future__ import annotations

from services.common.contracts.analysis import AnalysisResult
from services.common.models import Track
from services.domain.analysis.results import store_analysis


def _result(**overrides) -> AnalysisResult:
    base = {
        "essentia_version": "2.1-beta6-dev",
        "duration_seconds": 301.5,
        "sample_rate": 44100,
        "channels": 2,
        "bpm": 124.0,
        "bpm_confidence": 0.8,
        "bpm_raw": 124.0,
        "beats": [0.1, 0.584],
        "first_beat": 0.1,
        "key": "A",
        "scale": "minor",
        "camelot": "8A",
        "open_key": "1m",
        "key_strength": 0.81,
        "danceability": 0.9,
        "danceability_raw": 2.7,
        "energy": 7,
        "energy_score": 0.66,
        "energy_features": {
            "loudness_lufs": -8.0,
            "rms_db": -10.0,
            "onset_rate": 5.0,
            "spectral_centroid_hz": 1500.0,
            "spectral_flux": 0.2,
            "low_energy_ratio": 0.5,
            "dynamic_range_db": 4.0,
            "bpm": 124.0,
            "danceability": 0.9,
        },
        "loudness_lufs": -8.0,
        "loudness_range_lu": 4.0,
        "moods": {"happy": 0.4, "sad": 0.3, "aggressive": 0.5, "relaxed": 0.2, "party": 0.8},
        "mood_model": "descriptor",
        "waveform": {
            "points_per_second": 4.0,
            "peaks": [0.5, 1.0],
            "low": [1.0, 0.2],
            "mid": [0.3, 1.0],
            "high": [0.0, 1.0],
        },
    }
    return AnalysisResult.model_validate(base | overrides)


def test_store_and_replace(db_session, owner_library):
    _user, lib = owner_library
    track = Track(track_id="1-A1", library_id=lib.id, title="Tune")
    db_session.add(track)
    db_session.flush()

    store_analysis(session=db_session, track=track, result=_result())
    db_session.commit()
    db_session.expire_all()
    t = db_session.get(Track, track.id)
    assert (t.bpm, t.key, t.scale, t.camelot, t.energy) == (124.0, "A", "minor", "8A", 7.0)
    assert t.loudness_lufs == -8.0 and t.danceability == 0.9 and t.duration_seconds == 301.5
    assert t.moods["party"] == 0.8 and t.analysis["mood_model"] == "descriptor"
    assert t.analysis["beats"] == [0.1, 0.584] and t.analyzed_at is not None
    first_at = t.analyzed_at

    store_analysis(
        session=db_session,
        track=t,
        result=_result(bpm=126.0, key="C", scale="major", camelot="8B", open_key="1d", energy=5),
    )
    db_session.commit()
    db_session.expire_all()
    t = db_session.get(Track, track.id)
    assert (t.bpm, t.key, t.camelot, t.energy) == (126.0, "C", "8B", 5.0)
    assert t.analysis["bpm"] == 126.0 and t.analyzed_at >= first_at
