"""Map an AnalysisResult from the analysis service onto a Track. A re-analysis replaces all of it."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.orm import Session

from services.common.contracts.analysis import AnalysisResult
from services.common.models import Track


def store_analysis(*, session: Session, track: Track, result: AnalysisResult) -> Track:
    """Write the columns the library filters and sorts on, plus the full JSON for the detail view.

    Every analysis column is overwritten (not merged) so a re-analysis never leaves values from an
    older analyzer version behind. The caller commits.
    """
    track.bpm = result.bpm
    track.key = result.key
    track.scale = result.scale
    track.camelot = result.camelot
    track.key_strength = result.key_strength
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
    from services.domain.embeddings.jobs import embed_soon

    embed_soon(track_pks=[track.id])  # its audio-feature vector (in the background, after the commit)
    return track
