"""The audio-feature vector (circle of fifths, tempo, energy, moods...) and the text a track is embedded from."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

from services.common.models import EMBEDDING_DIMENSIONS, Album, Track
from services.domain.embeddings.features import AUDIO_MODEL, audio_vector, text_source

MOODS = {"happy": 0.2, "sad": 0.6, "aggressive": 0.1, "relaxed": 0.7, "party": 0.3}


def analysed(**kw) -> Track:
    values = {"title": "T", "bpm": 124.0, "camelot": "8A", "energy": 6.0, "danceability": 0.8,
              "loudness_lufs": -9.0, "moods": dict(MOODS), "analyzed_at": datetime.now(UTC),
              "analysis": {"energy_features": {"spectral_centroid_hz": 1800.0, "onset_rate": 3.2,
                                               "spectral_flux": 0.3, "low_energy_ratio": 0.4,
                                               "dynamic_range_db": 8.0}}}
    values.update(kw)
    return Track(**values)


def cos(a: Track, b: Track) -> float:
    return float(np.dot(audio_vector(a), audio_vector(b)))


def test_vector_is_384_normalized_and_none_when_not_analysed():
    vector = audio_vector(analysed())
    assert AUDIO_MODEL == "audio-features-v1"
    assert len(vector) == EMBEDDING_DIMENSIONS and abs(np.linalg.norm(vector) - 1) < 1e-9
    assert all(v == 0 for v in vector[64:])  # zero-padded
    assert audio_vector(Track(title="Not analysed")) is None


def test_key_circle_8a_is_closer_to_9a_than_to_2a():
    base = analysed(camelot="8A")
    assert cos(base, analysed(camelot="9A")) > cos(base, analysed(camelot="2A"))
    assert cos(base, analysed(camelot="7A")) > cos(base, analysed(camelot="3A"))
    # the wheel wraps: 12A is next to 1A
    assert cos(analysed(camelot="12A"), analysed(camelot="1A")) > cos(analysed(camelot="12A"), analysed(camelot="6A"))
    # the relative key (same number, other mode) is close too
    assert cos(base, analysed(camelot="8B")) > cos(base, analysed(camelot="2A"))


def test_tempo_log_and_octave_folded():
    base = analysed(bpm=128.0)
    assert cos(base, analysed(bpm=126.0)) > cos(base, analysed(bpm=120.0)) > cos(base, analysed(bpm=100.0))
    # octave-folded: drum & bass read at half time (85) is closer to 170 than to 128
    half = Track(title="T", bpm=85.0)
    assert cos(half, Track(title="T", bpm=170.0)) > cos(half, Track(title="T", bpm=128.0))


def test_energy_moods_and_spectral_features_count():
    base = analysed(energy=8.0)
    assert cos(base, analysed(energy=7.0)) > cos(base, analysed(energy=2.0))
    sadder = analysed(moods={**MOODS, "sad": 0.0, "happy": 1.0})
    assert cos(analysed(), sadder) < 1 - 1e-6
    dull = analysed(analysis={"energy_features": {"spectral_centroid_hz": 400.0, "onset_rate": 0.5,
                                                  "spectral_flux": 0.0, "low_energy_ratio": 0.9,
                                                  "dynamic_range_db": 25.0}})
    assert cos(analysed(), dull) < cos(analysed(), analysed())


def test_partial_analysis_still_gives_a_vector():
    vector = audio_vector(Track(title="T", bpm=122.0))
    assert vector is not None and abs(np.linalg.norm(vector) - 1) < 1e-9
    assert audio_vector(Track(title="T", camelot="not a key")) is None


def test_text_source_has_identity_genres_tags_notes_and_strong_moods():
    album = Album(title="Moods EP", artist="Album Artist", genres=["Electronic"], styles=["Deep House"])
    track = Track(title="Night  Drive", artist="Kerri", album=None, genres=["Electronic"], styles=["Detroit"],
                  tags=["warm-up", "vinyl"], notes="Great\nopener", moods={"sad": 0.7, "happy": 0.1})
    text = text_source(track, album)
    assert text.startswith("Kerri - Night Drive")
    for part in ("Album: Moods EP", "Genres: Electronic.", "Styles: Detroit, Deep House", "Tags: warm-up, vinyl",
                 "Moods: sad", "Notes: Great opener"):
        assert part in text
    assert "happy" not in text
    assert text_source(Track(title="Only a title")) == "Only a title"
    assert text_source(Track(title="X", artist=None), Album(title="A", artist="By Album")).startswith("By Album - X")
