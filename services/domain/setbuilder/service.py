"""Set building: the user's tracks -> the set builder service -> playlists.

The GA runs in services/ga_service (called over HTTP by `client.py`); the transition score shown in
the UI comes from services.common.transition, the same definition the GA optimises.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.common.camelot import KeyParseError, parse_key
from services.common.contracts.setbuilder import GenerateRequest, GenerateResponse, SetOptions, SetTrack
from services.common.models import Track, TrackEmbedding, User
from services.common.settings import get_settings
from services.common.transition import TransitionOptions, transition_score
from services.domain.errors import Invalid, Unavailable
from services.domain.playlists import service as playlists
from services.domain.setbuilder.client import SetBuilderClient, SetBuilderClientError
from services.domain.setbuilder.models import SetBuildOptions
from services.domain.tracks.service import require_tracks

MOOD_THRESHOLD = 0.5  # a mood counts as a tag for similarity when its score reaches this


@dataclass
class SetResult:
    result: GenerateResponse
    playlist_id: int | None = None
    version_id: int | None = None


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
            raise Invalid(str(exc.detail or exc)) from None
        raise Unavailable("the set builder is unavailable", code="setbuilder_unavailable") from None


def generate(
    *, session: Session, user: User, track_pks: list[int], mode: Literal["order", "select", "greedy"],
    options: SetOptions,
) -> GenerateResponse:
    """Run the set builder on tracks the user can see (ids in options are track primary keys)."""
    if not track_pks:
        raise Invalid("no tracks to build a set from")
    if len(set(track_pks)) != len(track_pks):
        raise Invalid("duplicate track ids")
    tracks = require_tracks(session=session, user=user, track_pks=track_pks)
    vectors = _embeddings(session, track_pks)
    try:
        request = GenerateRequest(
            mode=mode, tracks=[to_set_track(tracks[pk], vectors.get(pk)) for pk in track_pks], options=options
        )
    except ValueError as exc:
        raise Invalid(str(exc)) from None
    return _call_set_builder(request)


def generate_for_playlist(
    *, session: Session, user: User, playlist_id: int, mode: Literal["order", "greedy"] = "order",
    options: SetBuildOptions, extend_with: list[int] = (), add_count: int | None = None, save: bool = True,
) -> SetResult:
    """Reorder the playlist (order/greedy), or extend it with `add_count` tracks chosen from
    `extend_with`. With `save`, the old order is kept as a version and the new one stored."""
    playlist = playlists.get_playlist(session=session, user=user, playlist_id=playlist_id)
    current = [item.track_pk for item in playlist.items]
    if bool(extend_with) != (add_count is not None):
        raise Invalid("extend_with and add_count go together: candidates, and how many of them to add")
    if extend_with:
        candidates = [pk for pk in dict.fromkeys(extend_with) if pk not in set(current)]
        if add_count > len(candidates):
            raise Invalid(f"add_count {add_count} is larger than the {len(candidates)} new candidates")
        anchor = current[-1:]  # the extension flows on from the playlist's last track
        opts = options.model_copy(update={"first_track_pk": anchor[0] if anchor else None})
        result = generate(session=session, user=user, track_pks=anchor + candidates, mode="select",
                          options=opts.to_set_options(count=add_count + len(anchor)))
        new_order = current + [int(i) for i in result.order[len(anchor):]]
    else:
        if len(current) < 2:
            raise Invalid("the playlist needs at least 2 tracks")
        result = generate(session=session, user=user, track_pks=current, mode=mode, options=options.to_set_options())
        new_order = [int(i) for i in result.order]
    version_id = None
    if save:
        reason = "before extend" if extend_with else f"before {mode}"
        version_id = playlists.snapshot(session=session, playlist=playlist, reason=reason).id
        playlists.set_playlist_tracks(session=session, user=user, playlist=playlist, track_pks=new_order)
    return SetResult(result=result, playlist_id=playlist.id, version_id=version_id)


def build_set(
    *, session: Session, user: User, track_pks: list[int], mode: Literal["order", "select", "greedy"] = "select",
    count: int | None = None, minutes: float | None = None, name: str | None = None, options: SetBuildOptions,
) -> SetResult:
    """Build a set from a pool (e.g. search results); with `name`, save it as a new playlist."""
    if mode == "select" and count is None and minutes is None:
        raise Invalid("select mode needs count or minutes")
    result = generate(session=session, user=user, track_pks=track_pks, mode=mode,
                      options=options.to_set_options(count=count, minutes=minutes))
    playlist_id = None
    if name:
        playlist = playlists.create_playlist(
            session=session, user=user, name=name,
            description=f"Built by the set builder ({result.search.algorithm}, score {result.score:.2f})",
            track_pks=[int(i) for i in result.order],
        )
        playlist_id = playlist.id
    return SetResult(result=result, playlist_id=playlist_id)


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
