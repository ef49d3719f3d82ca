"""Playlists: ownership, ordered items, replacing the order atomically."""

from __future__ import annotations

from fastapi import HTTPException, status
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, selectinload

from services.common.models import Playlist, PlaylistTrack, Track, User
from services.web.api.deps import visible_library_ids


def get_owned_playlist(*, session: Session, user: User, playlist_id: int) -> Playlist:
    playlist = session.scalar(
        select(Playlist)
        .where(Playlist.id == playlist_id, Playlist.owner_id == user.id)
        .options(selectinload(Playlist.items).selectinload(PlaylistTrack.track))
    )
    if playlist is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "playlist not found")
    return playlist


def visible_tracks(*, session: Session, user: User, track_pks: list[int]) -> dict[int, Track]:
    """Tracks by primary key that the user may see; 404 naming the first one that is not."""
    if not track_pks:
        return {}
    rows = session.scalars(
        select(Track).where(
            Track.id.in_(set(track_pks)),
            Track.library_id.in_(visible_library_ids(user)),
            Track.deleted_at.is_(None),
        )
    )
    found = {t.id: t for t in rows}
    missing = [pk for pk in track_pks if pk not in found]
    if missing:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"track {missing[0]} not found")
    return found


def set_playlist_tracks(*, session: Session, user: User, playlist: Playlist, track_pks: list[int]) -> None:
    """Replace the playlist's items with these tracks in this order (positions 0..n-1)."""
    visible_tracks(session=session, user=user, track_pks=track_pks)
    session.execute(delete(PlaylistTrack).where(PlaylistTrack.playlist_id == playlist.id))
    session.add_all(
        PlaylistTrack(playlist_id=playlist.id, track_pk=pk, position=i) for i, pk in enumerate(track_pks)
    )
    playlist.updated_at = func.now()
    session.flush()
    session.expire(playlist, ["items", "updated_at"])


def append_playlist_tracks(*, session: Session, user: User, playlist: Playlist, track_pks: list[int]) -> None:
    current = [item.track_pk for item in playlist.items]
    set_playlist_tracks(session=session, user=user, playlist=playlist, track_pks=current + track_pks)
