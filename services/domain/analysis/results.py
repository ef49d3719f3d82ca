"""Map an AnalysisResult from the analysis service onto a Track. A re-analysis replaces all of it,
except a tempo or key the DJ corrected by hand. The tempo in effect follows the track's styles
(style_tempo.py), here when an analysis is stored and in restyle_tempos when the styles change."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ARRAY, Connection, Text, and_, bindparam, func, literal, or_, select, update
from sqlalchemy.orm import Session

from services.common.contracts.analysis import AnalysisResult
from services.common.models import Track
from services.domain.analysis.style_tempo import GENRE_BPM_RANGES, STYLE, STYLE_BPM_RANGES, style_tempo


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
    track.analyzer_version = result.analyzer_version[:40]
    track.analyzed_at = datetime.now(UTC)
    session.add(track)
    session.flush()
    session.expire(track, ["analysed_bpm", "analysed_camelot"])  # computed from `analysis` by the database
    from services.domain.embeddings.jobs import embed_soon

    embed_soon(track_pks=[track.id])  # its audio-feature vector (in the background, after the commit)
    return track


def analysed_tempo(*, track: Any, bpm: float | None, candidates: list[dict] | None) -> tuple[float | None, str | None]:
    """(tempo, bpm_source) the analysis gives a track (anything with `styles` and `genres`): its own
    reading, or the octave of its styles."""
    by_style = style_tempo(bpm=bpm, candidates=candidates, styles=track.styles, genres=track.genres)
    return (by_style.bpm, STYLE) if by_style else (bpm, None)


def restyle_tempos(*, conn: Connection | Session, library_id: int | None = None,
                   track_pks: list[int] | None = None) -> list[int]:
    """Apply the style rule again to analysed tracks whose styles may have changed since their analysis (a
    sync, an accepted suggestion) or that were analysed before the rule: their tempo moves to the octave
    the rule now gives, unless the DJ corrected it. Returns the ids of the tracks whose tempo changed
    (their audio vectors include the tempo: the caller queues them for embedding)."""
    t = Track.__table__
    analysed = Track.analysed_bpm.expression
    where = [t.c.analyzed_at.is_not(None), analysed.is_not(None),
             or_(t.c.bpm_source.is_(None), t.c.bpm_source == STYLE),
             # only tracks the rule can move: a style or genre with a range, or moved by it before
             or_(t.c.styles.op("&&")(literal(list(STYLE_BPM_RANGES), ARRAY(Text))),
                 and_(func.coalesce(func.cardinality(t.c.styles), 0) == 0,
                      t.c.genres.op("&&")(literal(list(GENRE_BPM_RANGES), ARRAY(Text)))),
                 t.c.bpm_source == STYLE)]
    if library_id is not None:
        where.append(t.c.library_id == library_id)
    if track_pks is not None:
        where.append(t.c.id.in_(track_pks))
    rows = conn.execute(select(t.c.id, t.c.bpm, t.c.bpm_source, analysed.label("analysed"),
                               t.c.bpm_candidates, t.c.styles, t.c.genres).where(*where)).all()
    changes = []
    for row in rows:
        bpm, source = analysed_tempo(track=row, bpm=row.analysed, candidates=row.bpm_candidates)
        if (bpm, source) != (row.bpm, row.bpm_source):
            changes.append({"pk": row.id, "new_bpm": bpm, "new_source": source})
    if changes:
        conn.execute(update(t).where(t.c.id == bindparam("pk"))
                     .values(bpm=bindparam("new_bpm"), bpm_source=bindparam("new_source")), changes)
    return [c["pk"] for c in changes]
