"""Deterministic vectors and tracks for the similar / vibe / recommend tests (rows inserted directly)."""

from __future__ import annotations

import math

from services.common.models import EMBEDDING_DIMENSIONS, Track, TrackEmbedding

AUDIO = "audio-features-v1"


def vec(*weights: tuple[int, float]) -> list[float]:
    """A unit vector with these (dimension, weight) components."""
    v = [0.0] * EMBEDDING_DIMENSIONS
    for i, w in weights:
        v[i] = w
    norm = math.sqrt(sum(x * x for x in v)) or 1.0
    return [x / norm for x in v]


def track(session, library, title, *, bpm=None, camelot=None, styles=(), genres=(), artist="Artist",
          track_id=None) -> Track:
    t = Track(track_id=track_id or f"{abs(hash((library.id, title))) % 10**8}-A1", library_id=library.id,
              title=title, artist=artist, bpm=bpm, camelot=camelot, styles=list(styles), genres=list(genres))
    session.add(t)
    session.flush()
    return t


def embed(session, t: Track, *, text=None, audio=None, text_model: str, audio_model: str = AUDIO) -> None:
    for kind, model, v in (("text", text_model, text), ("audio", audio_model, audio)):
        if v is not None:
            session.add(TrackEmbedding(track_pk=t.id, kind=kind, model=model, embedding=v, source_hash="x"))
    session.flush()
