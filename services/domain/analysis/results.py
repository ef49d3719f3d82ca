"""Map an AnalysisResult from the analysis service onto a Track. A re-analysis replaces all of it,
except a tempo or key the DJ corrected by hand."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.orm import Session

from services.common.contracts.analysis import AnalysisResult
from services.common.models import Track
from services.domain.analysis.style_tempo import STYLE, style_tempo


def store_analysis(*, session: Session, track: Track, result: AnalysisResult) -> Track:
    """Write the columns the library filters and sorts on, plus the full JSON for the detail view.

    Every analysis column is overwritten (not merged) so a re-analysis never leaves values from an
    older analyzer version behind, except bpm / key / scale / camelot when the DJ corrected them
    (`bpm_source` / `key_source` = "user"). The tempo is the octave the track's styles count it in when
    the audio left that open (`bpm_source` = "style", style_tempo.py). The caller commits.
    """
    # A DJ's correction (tracks/service.py correct_analysis) is never overwritten: the analysed values
    # stay visible in `analysis`, and reverting the correction brings them back.
    if track.bpm_source != "user":
        candidates = [c.model_dump(mode="json") for c in result.bpm_candidates or []]
        track.bpm, track.bpm_source = analysed_tempo(track=track, bpm=result.bpm, candidates=candidates)
    if track.key_source != "user":
        track.key = result.key
        track.scale = result.scale
        track.camelot = result.camelot
    track.key_strength = result.key_strength
    track.bpm_candidates = (
        [c.model_dump(mode="json") for c in result.bpm_candidates] if result.bpm_candidates else None
    )
    track.key_confidence = result.key_confidence
    track.key_alternative = result.key_alternative.model_dump(mode="json") if result.key_alternative else None
    track.danceability = result.danceability
    track.energy = float(result.energy)
    track.loudness_lufs = result.loudness_lufs
    # Scores only; whether they are descriptor estimates or a classifier's is analysis["mood_model"].
    track.moods = result.moods.model_dump()
    track.duration_seconds = result.duration_seconds
    track.analysis = result.model_dump(mode="json")
    track.analyzed_at = datetime.now(UTC)
    session.add(track)
    session.flush()
    session.expire(track, ["analysed_bpm", "analysed_camelot"])  # computed from `analysis` by the database
    from services.domain.embeddings.jobs import embed_soon

    embed_soon(track_pks=[track.id])  # its audio-feature vector (in the background, after the commit)
    return track


def analysed_tempo(*, track: Track, bpm: float | None, candidates: list[dict] | None) -> tuple[float | None, str | None]:
    """(tempo, bpm_source) the analysis gives this track: its own reading, or the octave of its styles."""
    by_style = style_tempo(bpm=bpm, candidates=candidates, styles=track.styles or (), genres=track.genres or ())
    return (by_style.bpm, STYLE) if by_style else (bpm, None)
