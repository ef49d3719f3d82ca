"""Map an AnalysisResult from the analysis service onto a Track. A re-analysis replaces all of it."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.orm import Session

from services.common.contracts.analysis import AnalysisResult
from services.common.models import Track
from services.web.analysis.audio import AudioPathError, resolve_inside, upload_destination


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
    return track


def attach_audio(
    *, track: Track, audio_dir: Path, filename: str, chunks: Iterable[bytes], max_bytes: int
) -> str:
    """Store an uploaded file as the track's audio (inside AUDIO_DIR) and return its relative path.

    Written to a temporary file first and renamed, so a failed or oversized upload never replaces
    the audio a track already has.
    """
    rel = upload_destination(library_id=track.library_id, track_id=track.track_id, filename=filename)
    dest = resolve_inside(audio_dir, rel)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex}.part")
    size = 0
    try:
        with tmp.open("wb") as out:
            for chunk in chunks:
                size += len(chunk)
                if size > max_bytes:
                    raise AudioTooLarge(f"the file is larger than {max_bytes // (1024 * 1024)} MB")
                out.write(chunk)
        if size == 0:
            raise AudioPathError("the file is empty")
        tmp.replace(dest)
    finally:
        tmp.unlink(missing_ok=True)
    track.local_audio_path = rel
    return rel


class AudioTooLarge(ValueError):
    pass
