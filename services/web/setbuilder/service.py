"""Set building from the web app: library tracks -> the set builder service -> playlists.

The GA runs in services/ga_service (called over HTTP); the transition score shown in the UI comes
from services.common.transition, the same definition the GA optimises.
"""

from __future__ import annotations

from typing import Literal

from fastapi import HTTPException, status
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.common.camelot import KeyParseError, parse_key
from services.common.contracts.setbuilder import GenerateRequest, GenerateResponse, SetOptions, SetTrack
from services.common.models import Playlist, PlaylistVersion, Track, TrackEmbedding, User
from services.common.settings import get_settings
from services.common.transition import TransitionOptions, transition_score
from services.web.playlists.service import set_playlist_tracks, visible_tracks
from services.web.setbuilder.client import SetBuilderClient, SetBuilderClientError

MOOD_THRESHOLD = 0.5  # a mood counts as a tag for similarity when its score reaches this


def energy_unit(energy: float | None) -> float | None:
    """Track energy is stored on the 1-10 scale DJs know; the set builder works on 0-1."""
    if energy is None:
        return None
    return min(1.0, max(0.0, (energy - 1.0) / 9.0))


def to_set_track(track: Track, embedding: list[float] | None = None) -> SetTrack:
    camelot = track.camelot
    if camelot:
        try:
            parse_key(camelot)
        except KeyParseError:
            camelot = None  # a hand-edited key we cannot read scores neutral rather than failing the set
    moods = [
        name
        for name, score in (track.moods or {}).items()
        if isinstance(score, int | float) and score >= MOOD_THRESHOLD
    ]
    return SetTrack(
        id=str(track.id),
        bpm=track.bpm if track.bpm and track.bpm > 0 else None,
        camelot=camelot,
        energy=energy_unit(track.energy),
        danceability=track.danceability,
        moods=moods,
        duration=track.duration_seconds,
        artist=track.artist,
        album=track.album,
        genres=list(track.genres or []),
        styles=[*(track.styles or []), *(track.tags or [])],
        embedding=embedding,
    )


def _embeddings(session: Session, track_pks: list[int]) -> dict[int, list[float]]:
    rows = session.execute(
        select(TrackEmbedding.track_pk, TrackEmbedding.embedding).where(
            TrackEmbedding.track_pk.in_(track_pks), TrackEmbedding.kind == "text"
        )
    )
    return {pk: [float(x) for x in vec] for pk, vec in rows}


def _call_set_builder(request: GenerateRequest) -> GenerateResponse:
    try:
        with SetBuilderClient(get_settings().ga_service_url) as client:
            return client.generate(request)
    except SetBuilderClientError as exc:
        if exc.status is not None and 400 <= exc.status < 500:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, exc.detail or str(exc)) from None
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "the set builder is unavailable") from None


def generate(
    *,
    session: Session,
    user: User,
    track_pks: list[int],
    mode: Literal["order", "select", "greedy"],
    options: SetOptions,
) -> GenerateResponse:
    """Run the set builder on tracks the user can see (ids in options are track primary keys)."""
    if not track_pks:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "no tracks to build a set from")
    if len(set(track_pks)) != len(track_pks):
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "duplicate track ids")
    tracks = visible_tracks(session=session, user=user, track_pks=track_pks)
    vectors = _embeddings(session, track_pks)
    try:
        request = GenerateRequest(
            mode=mode,
            tracks=[to_set_track(tracks[pk], vectors.get(pk)) for pk in track_pks],
            options=options,
        )
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    return _call_set_builder(request)


def snapshot(
    *, session: Session, playlist: Playlist, reason: str, score: float | None = None
) -> PlaylistVersion:
    version = PlaylistVersion(
        playlist_id=playlist.id,
        reason=reason,
        track_pks=[item.track_pk for item in playlist.items],
        score=score,
    )
    session.add(version)
    session.flush()
    return version


def restore_version(*, session: Session, user: User, playlist: Playlist, version_id: int) -> None:
    version = session.get(PlaylistVersion, version_id)
    if version is None or version.playlist_id != playlist.id:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "version not found")
    snapshot(session=session, playlist=playlist, reason=f"before restoring version {version_id}")
    set_playlist_tracks(session=session, user=user, playlist=playlist, track_pks=list(version.track_pks))


def local_transitions(tracks: list[Track]) -> list[dict]:
    """Per-transition quality for display, computed with the shared transition score."""
    opts = TransitionOptions()
    feats = [to_set_track(t).features() for t in tracks]
    out = []
    for a, b in zip(feats, feats[1:], strict=False):
        br = transition_score(a, b, options=opts)
        out.append(
            {
                "score": br.total,
                "key_label": br.key_label,
                "tempo_mode": br.tempo.mode,
                "pitch_pct": br.tempo.pitch_pct,
                "neutral": list(br.neutral),
            }
        )
    return out
