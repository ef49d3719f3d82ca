"""Playlists: owned by one user, ordered items, order replaced atomically, saved versions to go back to.

A track may appear more than once in a playlist (as in Rekordbox): items are addressed by position.
A playlist shows only the tracks its owner may read now (`access.track_readable`): items of a library
that was unshared since are hidden (counted by `hidden_track_count`), kept in place through edits, and
shown again when the library is shared again. Positions in edits count shown items only.
Hand edits (add, remove, move, reorder) keep the order before them as a version, one per editing burst
(`EDIT_BURST`), and a playlist keeps its last `KEEP_VERSIONS` versions.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, selectinload

from services.common.models import Playlist, PlaylistTrack, PlaylistVersion, Track, User
from services.domain.access import readable_library_ids, track_readable
from services.domain.errors import Conflict, Invalid, NotFound
from services.domain.tracks.service import require_tracks, tracks_by_ids

KEEP_VERSIONS = 50
EDIT_BURST = timedelta(minutes=10)
EDIT_REASON = "before editing"
NAME_MAX = 200
DESCRIPTION_MAX = 5000


def list_playlists(*, session: Session, user: User) -> list[Playlist]:
    return list(session.scalars(select(Playlist).where(Playlist.owner_id == user.id).order_by(Playlist.id)))


@dataclass(frozen=True)
class PlaylistSummary:
    id: int
    name: str
    description: str | None
    track_count: int
    duration_seconds: float  # of the tracks whose length is known
    unknown_durations: int  # tracks without a length
    created_at: datetime
    updated_at: datetime


def playlist_summaries(*, session: Session, user: User) -> list[PlaylistSummary]:
    """The user's playlists with their (readable) track count and total length, most recently changed first."""
    rows = session.execute(
        select(
            Playlist,
            func.count(Track.id),
            func.coalesce(func.sum(Track.duration_seconds), 0.0),
            func.count(Track.id) - func.count(Track.duration_seconds),
        )
        .outerjoin(PlaylistTrack, PlaylistTrack.playlist_id == Playlist.id)
        # only tracks the user may read now count (the rule of `access.track_readable`)
        .outerjoin(Track, (Track.id == PlaylistTrack.track_pk) & Track.library_id.in_(readable_library_ids(user.id)))
        .where(Playlist.owner_id == user.id)
        .group_by(Playlist.id)
        .order_by(Playlist.updated_at.desc(), Playlist.id.desc())
    )
    return [
        PlaylistSummary(
            id=p.id, name=p.name, description=p.description, track_count=count, duration_seconds=float(total),
            unknown_durations=unknown, created_at=p.created_at, updated_at=p.updated_at,
        )
        for p, count, total, unknown in rows
    ]


def revision(playlist: Playlist) -> str:
    """An opaque token that changes with every change to the playlist (pages send it back with edits)."""
    return playlist.updated_at.isoformat()


def _require_revision(playlist: Playlist, expected: str | None) -> None:
    if expected is not None and expected != revision(playlist):
        raise Conflict("the playlist changed since this page was loaded: reload the page and try again")


def get_playlist(*, session: Session, user: User, playlist_id: int, load_items: bool = True) -> Playlist:
    """The user's playlist with its items and their tracks loaded; NotFound for anyone else's. Only items
    whose track the user may read now are loaded (see `hidden_track_count` for the others). `load_items`
    False loads the playlist's own row only (to show it: `playlist_view`)."""
    statement = select(Playlist).where(Playlist.id == playlist_id, Playlist.owner_id == user.id)
    if load_items:
        statement = statement.options(
            selectinload(Playlist.items.and_(track_readable(PlaylistTrack.track_pk, user.id)))
            .selectinload(PlaylistTrack.track))
    playlist = session.scalar(statement.execution_options(populate_existing=True))
    if playlist is None:
        raise NotFound("playlist not found")
    return playlist


VIEW_COLUMNS = (PlaylistTrack.track_pk, Track.title, Track.artist, Track.bpm, Track.camelot, Track.energy,
                Track.duration_seconds)


@dataclass(frozen=True)
class PlaylistView:
    """What a playlist shows: its shown items in order (rows of VIEW_COLUMNS) and how many are hidden."""

    playlist: Playlist
    items: list
    hidden_tracks: int


def playlist_view(*, session: Session, playlist: Playlist) -> PlaylistView:
    """The playlist's items as plain rows, in one statement (no ORM objects per track: reading a playlist
    is one of the most frequent requests), split by the same rule as `get_playlist`'s items."""
    rows = session.execute(
        select(*VIEW_COLUMNS, track_readable(PlaylistTrack.track_pk, playlist.owner_id).label("readable"))
        .join(Track, Track.id == PlaylistTrack.track_pk)
        .where(PlaylistTrack.playlist_id == playlist.id)
        .order_by(PlaylistTrack.position)
    ).all()
    shown = [r for r in rows if r.readable]
    return PlaylistView(playlist=playlist, items=shown, hidden_tracks=len(rows) - len(shown))


def _hidden_items(session: Session, playlist: Playlist) -> list[tuple[int, int]]:
    """(position, track_pk) of the items its owner may not read now (a library unshared since), in order."""
    return [(pos, pk) for pos, pk in session.execute(
        select(PlaylistTrack.position, PlaylistTrack.track_pk)
        .where(PlaylistTrack.playlist_id == playlist.id, ~track_readable(PlaylistTrack.track_pk, playlist.owner_id))
        .order_by(PlaylistTrack.position)
    )]


def hidden_track_count(*, session: Session, playlist: Playlist) -> int:
    """How many of the playlist's items are hidden from its owner (their library is no longer shared)."""
    return len(_hidden_items(session, playlist))


def _clean_name(name: str | None) -> str:
    name = (name or "").strip()
    if not name:
        raise Invalid("a playlist needs a name")
    if len(name) > NAME_MAX:
        raise Invalid(f"a playlist name has at most {NAME_MAX} characters")
    return name


def _clean_description(description: str | None) -> str | None:
    description = (description or "").strip()
    if len(description) > DESCRIPTION_MAX:
        raise Invalid(f"a description has at most {DESCRIPTION_MAX} characters")
    return description or None


def create_playlist(
    *, session: Session, user: User, name: str, description: str | None = None, track_pks: list[int] = ()
) -> Playlist:
    playlist = Playlist(owner_id=user.id, name=_clean_name(name), description=_clean_description(description))
    session.add(playlist)
    session.flush()
    set_playlist_tracks(session=session, user=user, playlist=playlist, track_pks=list(track_pks))
    return get_playlist(session=session, user=user, playlist_id=playlist.id)


def update_playlist(*, session: Session, user: User, playlist_id: int, changes: dict) -> Playlist:
    playlist = get_playlist(session=session, user=user, playlist_id=playlist_id)
    unknown = set(changes) - {"name", "description"}
    if unknown:
        raise Invalid(f"cannot change {', '.join(sorted(unknown))}: only name and description")
    if "name" in changes:
        playlist.name = _clean_name(changes["name"])
    if "description" in changes:
        playlist.description = _clean_description(changes["description"])
    session.flush()
    return playlist


def delete_playlist(*, session: Session, user: User, playlist_id: int) -> None:
    session.delete(get_playlist(session=session, user=user, playlist_id=playlist_id))
    session.flush()


def set_playlist_tracks(*, session: Session, user: User, playlist: Playlist, track_pks: list[int]) -> None:
    """Replace the playlist's items with these tracks in this order (positions 0..n-1).

    Tracks new to the playlist must be live tracks the user may see; those already in it stay allowed
    (a track deleted since it was added can still be moved or removed). Hidden items stay as they are."""
    current = set(session.scalars(select(PlaylistTrack.track_pk).where(
        PlaylistTrack.playlist_id == playlist.id, track_readable(PlaylistTrack.track_pk, playlist.owner_id))))
    require_tracks(session=session, user=user, track_pks=[pk for pk in dict.fromkeys(track_pks) if pk not in current])
    _write_items(session=session, playlist=playlist, track_pks=track_pks)


def _write_items(*, session: Session, playlist: Playlist, track_pks: list[int]) -> None:
    """Store `track_pks` as the playlist's shown items. Hidden items keep their positions (moved up only
    as far as needed when the playlist got shorter), so re-sharing their library shows them where they were."""
    hidden = _hidden_items(session, playlist)
    total = len(track_pks) + len(hidden)
    merged: list[int | None] = [None] * total
    for i, (position, pk) in enumerate(hidden):
        merged[min(position, total - len(hidden) + i)] = pk
    shown = iter(track_pks)
    merged = [pk if pk is not None else next(shown) for pk in merged]
    session.execute(delete(PlaylistTrack).where(PlaylistTrack.playlist_id == playlist.id))
    session.add_all(
        PlaylistTrack(playlist_id=playlist.id, track_pk=pk, position=i) for i, pk in enumerate(merged)
    )
    playlist.updated_at = func.now()
    session.flush()
    session.expire(playlist, ["items", "updated_at"])


def replace_tracks(*, session: Session, user: User, playlist_id: int, track_pks: list[int]) -> Playlist:
    playlist = get_playlist(session=session, user=user, playlist_id=playlist_id)
    if list(track_pks) != [item.track_pk for item in playlist.items]:
        snapshot_before_edit(session=session, playlist=playlist)
    set_playlist_tracks(session=session, user=user, playlist=playlist, track_pks=track_pks)
    return get_playlist(session=session, user=user, playlist_id=playlist_id)


def append_tracks(*, session: Session, user: User, playlist_id: int, track_pks: list[int]) -> Playlist:
    """Add tracks at the end; a track already in the playlist is added again (duplicates are allowed)."""
    playlist = get_playlist(session=session, user=user, playlist_id=playlist_id)
    current = [item.track_pk for item in playlist.items]
    if not track_pks:
        return playlist
    require_tracks(session=session, user=user, track_pks=track_pks)
    snapshot_before_edit(session=session, playlist=playlist)
    _write_items(session=session, playlist=playlist, track_pks=current + list(track_pks))
    return get_playlist(session=session, user=user, playlist_id=playlist_id)


def duplicate_playlist(*, session: Session, user: User, playlist_id: int, name: str | None = None) -> Playlist:
    """A new playlist of the user's with the same description and tracks in the same order (no versions)."""
    source = get_playlist(session=session, user=user, playlist_id=playlist_id)
    name = (name or "").strip() or f"{source.name} (copy)"
    copy = Playlist(owner_id=user.id, name=name[:NAME_MAX], description=source.description)
    session.add(copy)
    session.flush()
    _write_items(session=session, playlist=copy, track_pks=[item.track_pk for item in source.items])
    return get_playlist(session=session, user=user, playlist_id=copy.id)


def reorder_playlist(
    *, session: Session, user: User, playlist_id: int, track_pks: list[int], expected_revision: str | None = None
) -> Playlist:
    """Put the playlist's own tracks in a new order (a drag and drop): the same tracks, each as often."""
    playlist = get_playlist(session=session, user=user, playlist_id=playlist_id)
    _require_revision(playlist, expected_revision)
    current = [item.track_pk for item in playlist.items]
    if Counter(track_pks) != Counter(current):
        raise Conflict(
            "the new order must hold exactly the playlist's tracks; it changed since this page was loaded: reload it"
        )
    if track_pks != current:
        snapshot_before_edit(session=session, playlist=playlist)
        _write_items(session=session, playlist=playlist, track_pks=list(track_pks))
    return get_playlist(session=session, user=user, playlist_id=playlist_id)


def _require_position(playlist: Playlist, position: int) -> None:
    if not 0 <= position < len(playlist.items):
        raise NotFound(f"no track at position {position} (the playlist has {len(playlist.items)})")


def remove_item(
    *, session: Session, user: User, playlist_id: int, position: int, expected_revision: str | None = None
) -> Playlist:
    """Take the track at this position (0-based) out of the playlist; the ones after it move up."""
    playlist = get_playlist(session=session, user=user, playlist_id=playlist_id)
    _require_revision(playlist, expected_revision)
    _require_position(playlist, position)
    track_pks = [item.track_pk for item in playlist.items]
    snapshot_before_edit(session=session, playlist=playlist)
    del track_pks[position]
    _write_items(session=session, playlist=playlist, track_pks=track_pks)
    return get_playlist(session=session, user=user, playlist_id=playlist_id)


def move_item(
    *, session: Session, user: User, playlist_id: int, position: int, to_position: int,
    expected_revision: str | None = None,
) -> Playlist:
    """Move the track at `position` to `to_position` (both 0-based), shifting the ones between."""
    playlist = get_playlist(session=session, user=user, playlist_id=playlist_id)
    _require_revision(playlist, expected_revision)
    _require_position(playlist, position)
    if not 0 <= to_position < len(playlist.items):
        raise Invalid(f"cannot move to position {to_position}: positions go from 0 to {len(playlist.items) - 1}")
    if to_position == position:
        return playlist
    track_pks = [item.track_pk for item in playlist.items]
    snapshot_before_edit(session=session, playlist=playlist)
    track_pks.insert(to_position, track_pks.pop(position))
    _write_items(session=session, playlist=playlist, track_pks=track_pks)
    return get_playlist(session=session, user=user, playlist_id=playlist_id)


# --- versions -------------------------------------------------------------------------------------


def snapshot(*, session: Session, playlist: Playlist, reason: str, score: float | None = None) -> PlaylistVersion:
    """Keep the playlist's current order as a version (before it is replaced); the oldest beyond
    `KEEP_VERSIONS` are dropped."""
    version = PlaylistVersion(
        playlist_id=playlist.id, reason=reason, track_pks=[item.track_pk for item in playlist.items], score=score
    )
    session.add(version)
    session.flush()
    keep = (
        select(PlaylistVersion.id)
        .where(PlaylistVersion.playlist_id == playlist.id)
        .order_by(PlaylistVersion.id.desc())
        .limit(KEEP_VERSIONS)
    )
    session.execute(
        delete(PlaylistVersion)
        .where(PlaylistVersion.playlist_id == playlist.id, PlaylistVersion.id.not_in(keep.scalar_subquery()))
        .execution_options(synchronize_session=False)
    )
    return version


def snapshot_before_edit(*, session: Session, playlist: Playlist) -> PlaylistVersion | None:
    """Keep the order before a hand edit, once per editing burst: no new version when the latest one
    was taken before an edit less than `EDIT_BURST` ago (it already holds the order before the burst),
    nor for an empty playlist."""
    if not playlist.items:
        return None
    latest = session.execute(
        select(PlaylistVersion.reason, PlaylistVersion.created_at > func.now() - EDIT_BURST)
        .where(PlaylistVersion.playlist_id == playlist.id)
        .order_by(PlaylistVersion.id.desc())
        .limit(1)
    ).first()
    if latest is not None and latest[0] == EDIT_REASON and latest[1]:
        return None
    return snapshot(session=session, playlist=playlist, reason=EDIT_REASON)


def list_versions(*, session: Session, user: User, playlist_id: int) -> list[PlaylistVersion]:
    playlist = get_playlist(session=session, user=user, playlist_id=playlist_id)
    return list(session.scalars(
        select(PlaylistVersion).where(PlaylistVersion.playlist_id == playlist.id).order_by(PlaylistVersion.id.desc())
    ))


@dataclass(frozen=True)
class VersionView:
    id: int
    reason: str
    created_at: datetime
    score: float | None
    track_pks: list[int]
    titles: list[str]  # "Artist – Title" per track ("(track no longer available)" if gone)


def describe_versions(*, session: Session, user: User, playlist_id: int) -> list[VersionView]:
    """The playlist's versions, newest first, with their tracks' names (for choosing one to restore)."""
    versions = list_versions(session=session, user=user, playlist_id=playlist_id)
    pks = list({pk for v in versions for pk in v.track_pks})
    names = {
        t.id: f"{t.artist} – {t.title}" if t.artist else t.title
        for t in tracks_by_ids(session=session, user=user, ids=pks, include_deleted=True)
    }
    return [
        VersionView(
            id=v.id, reason=v.reason, created_at=v.created_at, score=v.score, track_pks=list(v.track_pks),
            titles=[names.get(pk, "(track no longer available)") for pk in v.track_pks],
        )
        for v in versions
    ]


def restore_version(*, session: Session, user: User, playlist_id: int, version_id: int) -> None:
    """Put a saved order back; the current one is kept as a version too."""
    playlist = get_playlist(session=session, user=user, playlist_id=playlist_id)
    version = session.get(PlaylistVersion, version_id)
    if version is None or version.playlist_id != playlist.id:
        raise NotFound("version not found")
    snapshot(session=session, playlist=playlist, reason=f"before restoring version {version_id}")
    hidden = {pk for _, pk in _hidden_items(session, playlist)}  # kept where they are, not added again
    set_playlist_tracks(session=session, user=user, playlist=playlist,
                        track_pks=[pk for pk in version.track_pks if pk not in hidden])
