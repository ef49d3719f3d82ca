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
from services.common.contracts.setbuilder import (
    GenerateRequest,
    GenerateResponse,
    SetOptions,
    SetTrack,
    UnanalysedPolicy,
)
from services.common.models import Track, TrackEmbedding, User
from services.common.settings import get_settings
from services.common.transition import TransitionOptions, energy_level, explain_transition, missing_analysis
from services.domain.errors import Invalid, Unavailable
from services.domain.playlists import service as playlists
from services.domain.setbuilder.client import SetBuilderClient, SetBuilderClientError
from services.domain.setbuilder.models import (
    SetBuildOptions,
    SetEnergy,
    SetSummary,
    SetTransition,
    UnanalysedTrack,
)
from services.domain.tracks.service import require_tracks

MOOD_THRESHOLD = 0.5  # a mood counts as a tag for similarity when its score reaches this


@dataclass
class SetResult:
    result: GenerateResponse
    summary: SetSummary
    playlist_id: int | None = None
    version_id: int | None = None


_MODE_NAMES = {"order": "best order", "greedy": "quick order"}  # as the playlist page names them, for versions


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
    from services.domain.embeddings.service import TEXT_KIND, text_model

    # Only the active model's vectors: two providers' vectors are never compared.
    rows = session.execute(
        select(TrackEmbedding.track_pk, TrackEmbedding.embedding).where(
            TrackEmbedding.track_pk.in_(track_pks), TrackEmbedding.kind == TEXT_KIND,
            TrackEmbedding.model == text_model(),
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
    return _generate(session=session, user=user, track_pks=track_pks, mode=mode, options=options)[0]


def _generate(
    *, session: Session, user: User, track_pks: list[int], mode: Literal["order", "select", "greedy"],
    options: SetOptions,
) -> tuple[GenerateResponse, dict[int, Track]]:
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
    return _call_set_builder(request), tracks


def generate_for_playlist(
    *, session: Session, user: User, playlist_id: int, mode: Literal["order", "greedy"] = "order",
    options: SetBuildOptions, extend_with: list[int] = (), add_count: int | None = None, save: bool = True,
) -> SetResult:
    """Reorder the playlist (order/greedy), or extend it with `add_count` tracks chosen from
    `extend_with`. With `save`, the old order is kept as a version and the new one stored."""
    playlist = playlists.get_playlist(session=session, user=user, playlist_id=playlist_id)
    current = [item.track_pk for item in playlist.items]
    if add_count is not None and not extend_with:  # no candidates given: the recommendations (embeddings)
        from services.domain.embeddings.recommend import extension_candidates

        extend_with = extension_candidates(session=session, user=user, playlist_id=playlist_id, add_count=add_count)
        if not extend_with:
            raise Invalid("no track in your libraries mixes with the playlist's last track: nothing to extend it with")
    if bool(extend_with) != (add_count is not None):
        raise Invalid("extend_with and add_count go together: candidates, and how many of them to add")
    if extend_with:
        candidates = [pk for pk in dict.fromkeys(extend_with) if pk not in set(current)]
        if add_count > len(candidates):
            raise Invalid(f"add_count {add_count} is larger than the {len(candidates)} new candidates")
        anchor = current[-1:]  # the extension flows on from the playlist's last track
        opts = options.model_copy(update={"first_track_pk": anchor[0] if anchor else None})
        result, tracks = _generate(session=session, user=user, track_pks=anchor + candidates, mode="select",
                                   options=opts.to_set_options(count=add_count + len(anchor)))
        new_order = current + [int(i) for i in result.order[len(anchor):]]
    else:
        if len(current) < 2:
            raise Invalid("the playlist needs at least 2 tracks")
        result, tracks = _generate(session=session, user=user, track_pks=current, mode=mode,
                                   options=options.to_set_options())
        new_order = [int(i) for i in result.order]
    if not new_order:
        raise Invalid("no track of the playlist is analysed: nothing would be left of it")
    version_id = None
    if save:
        reason = "before adding tracks to the set" if extend_with else f"before building the set ({_MODE_NAMES[mode]})"
        version_id = playlists.snapshot(session=session, playlist=playlist, reason=reason).id
        playlists.set_playlist_tracks(session=session, user=user, playlist=playlist, track_pks=new_order)
    by_pk = {item.track_pk: item.track for item in playlist.items} | tracks
    summary = summary_of_build(result, [by_pk[pk] for pk in new_order], tracks=by_pk, options=options,
                               fixed=set(current[-1:]) if extend_with else set())
    return SetResult(result=result, summary=summary, playlist_id=playlist.id, version_id=version_id)


def build_set(
    *, session: Session, user: User, track_pks: list[int], mode: Literal["order", "select", "greedy"] = "select",
    count: int | None = None, minutes: float | None = None, name: str | None = None, options: SetBuildOptions,
) -> SetResult:
    """Build a set from a pool (e.g. search results); with `name`, save it as a new playlist."""
    if mode == "select" and count is None and minutes is None:
        raise Invalid("select mode needs count or minutes")
    result, tracks = _generate(session=session, user=user, track_pks=track_pks, mode=mode,
                               options=options.to_set_options(count=count, minutes=minutes))
    summary = summary_of_build(result, [tracks[int(i)] for i in result.order], tracks=tracks, options=options)
    playlist_id = None
    if name:
        playlist = playlists.create_playlist(
            session=session, user=user, name=name,
            description=f"Built by the set builder ({result.search.algorithm}, set score "
            f"{_fmt_score(summary.set_score)}/100)",
            track_pks=[int(i) for i in result.order],
        )
        playlist_id = playlist.id
    return SetResult(result=result, summary=summary, playlist_id=playlist_id)


def _fmt_score(score: float | None) -> str:
    return "—" if score is None else f"{score:.0f}"


MISSING_WORDS = {"bpm": "BPM", "key": "key", "energy": "energy"}


def _missing_words(missing: list[str]) -> str:
    words = [MISSING_WORDS[m] for m in missing]
    return "no " + (words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1])


def _ranges(positions: list[int]) -> str:
    """[6, 7, 8, 10] -> '#7–#9, #11' (1-based, as the set is shown)."""
    runs: list[list[int]] = []
    for p in sorted(positions):
        if runs and p == runs[-1][-1] + 1:
            runs[-1].append(p)
        else:
            runs.append([p])
    return ", ".join(f"#{r[0] + 1}" if len(r) == 1 else f"#{r[0] + 1}–#{r[-1] + 1}" for r in runs)


def unanalysed_note(
    unanalysed: list[UnanalysedTrack], policy: UnanalysedPolicy | None, moved: set[int] = frozenset()
) -> str | None:
    """Which tracks lack analysis and where they are, in words. `policy` None: a stored set (no build);
    `moved`: the tracks a build put after the analysed ones."""
    if not unanalysed:
        return None

    def names(items: list[UnanalysedTrack], *, at: bool = False) -> str:
        shown = [
            f"“{u.title}” ({f'#{u.position + 1}, ' if at and u.position is not None else ''}"
            f"{_missing_words(u.missing)})"
            for u in items[:8]
        ]
        return ", ".join(shown) + (f" and {len(items) - 8} more" if len(items) > 8 else "")

    def lack(items: list[UnanalysedTrack]) -> str:
        n = len(items)
        return f"{n} track{'s' if n != 1 else ''} lack{'s' if n == 1 else ''} analysis"

    if policy is None:
        return (f"{lack(unanalysed)}: {names(unanalysed, at=True)}. “Build the set” puts such tracks at the "
                "end or leaves them out; analyse them to have them placed on merit.")
    put = [u for u in unanalysed if u.position is not None and u.track_pk in moved]
    kept = [u for u in unanalysed if u.position is not None and u.track_pk not in moved]
    left = [u for u in unanalysed if u.position is None]
    parts = []
    if put:
        it = "them" if len(put) > 1 else "it"
        parts.append(f"{lack(put)}, so the set builder put {it} after the analysed tracks "
                     f"({_ranges([u.position for u in put])}, in their previous order): {names(put)}.")
    if kept:
        parts.append(f"Kept in place although unanalysed: {names(kept, at=True)}.")
    if left:
        parts.append(f"Left out for lack of analysis: {names(left)}.")
    return " ".join(parts)


def set_summary(
    *, tracks: list[Track], targets: dict[int, float] | None = None, policy: UnanalysedPolicy | None = None,
    moved: set[int] = frozenset(), left_out: list[Track] = (), options: TransitionOptions | None = None,
) -> SetSummary:
    """The set as a DJ sees it: every transition explained (services.common.transition, the same score
    the set builder optimises), energy against the curve's targets (1-10), duration, set score, and
    which tracks lack analysis and where they are (`policy`: how a build placed them; None for a stored set)."""
    opts = options or TransitionOptions()
    feats = [to_set_track(t).features() for t in tracks]
    transitions = [
        SetTransition(position=k, from_track_pk=a.id, to_track_pk=b.id,
                      mix=explain_transition(fa, fb, options=opts))
        for k, (a, b, fa, fb) in enumerate(zip(tracks, tracks[1:], feats, feats[1:], strict=False))
    ]
    scores = [t.mix.score for t in transitions]
    targets = targets or {}
    energy = [
        SetEnergy(position=k, track_pk=t.id, energy=t.energy,
                  target=None if t.id not in targets else round(energy_level(targets[t.id]), 2))
        for k, t in enumerate(tracks)
    ]
    unanalysed = [
        UnanalysedTrack(track_pk=t.id, title=t.title, missing=missing, position=k)
        for k, (t, f) in enumerate(zip(tracks, feats, strict=True))
        if (missing := missing_analysis(f))
    ] + [
        UnanalysedTrack(track_pk=t.id, title=t.title, missing=missing_analysis(to_set_track(t).features()),
                        position=None)
        for t in left_out
    ]
    durations = [t.duration_seconds for t in tracks]
    return SetSummary(
        track_count=len(tracks),
        total_duration_s=float(sum(d for d in durations if d is not None)),
        durations_unknown=sum(d is None for d in durations),
        set_score=round(sum(scores) / len(scores), 1) if scores else None,
        transitions=transitions,
        energy=energy,
        unanalysed=unanalysed,
        unanalysed_note=unanalysed_note(unanalysed, policy, moved),
    )


def summary_of_build(
    result: GenerateResponse, order: list[Track], *, tracks: dict[int, Track], options: SetBuildOptions,
    fixed: set[int] = frozenset(),
) -> SetSummary:
    """`set_summary` of a built set: the curve's targets, and which unanalysed tracks the build moved
    to the end or left out (`fixed`: tracks it was told to keep in place)."""
    targets = {
        int(i): t for i, t in zip(result.order, result.energy_targets or [], strict=False) if t is not None
    }
    fixed = set(fixed) | {pk for pk in (options.first_track_pk, options.last_track_pk) if pk is not None}
    moved = {int(u.id) for u in result.unanalysed_tracks if u.position is not None} - fixed
    in_set = {t.id for t in order}
    left_out = [tracks[int(u.id)] for u in result.unanalysed_tracks if u.position is None and int(u.id) not in in_set]
    return set_summary(tracks=order, targets=targets, policy=options.unanalysed, moved=moved, left_out=left_out,
                       options=options)
