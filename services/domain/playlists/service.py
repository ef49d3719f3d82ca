"""Playlists: owned by one user, ordered items, order replaced atomically, saved versions to go back to."""

from __future__ import annotations

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, selectinload

from services.common.models import Playlist, PlaylistTrack, PlaylistVersion, User
from services.domain.errors import NotFound
from services.domain.tracks.service import require_tracks


def list_playlists(*, session: Session, user: User) -> list[Playlist]:
    return list(session.scalars(select(Playlist).where(Playlist.owner_id == user.id).order_by(Playlist.id)))


def get_playlist(*, session: Session, user: User, playlist_id: int) -> Playlist:
    """The user's playlist with its items and their tracks loaded; NotFound for anyone else's."""
    playlist = session.scalar(
        select(Playlist)
        .where(Playlist.id == playlist_id, Playlist.owner_id == user.id)
        .options(selectinload(Playlist.items).selectinload(PlaylistTrack.track))
        .execution_options(populate_existing=True)
    )
    if playlist is None:
        raise NotFound("playlist not found")
    return playlist


def create_playlist(
    *, session: Session, user: User, name: str, description: str | None = None, track_pks: list[int] = ()
) -> Playlist:
    playlist = Playlist(owner_id=user.id, name=name, description=description)
    session.add(playlist)
    session.flush()
    set_playlist_tracks(session=session, user=user, playlist=playlist, track_pks=list(track_pks))
    return get_playlist(session=session, user=user, playlist_id=playlist.id)


def update_playlist(*, session: Session, user: User, playlist_id: int, changes: dict) -> Playlist:
    playlist = get_playlist(session=session, user=user, playlist_id=playlist_id)
    for field, value in changes.items():
        setattr(playlist, field, value)
    session.flush()
    return playlist


def delete_playlist(*, session: Session, user: User, playlist_id: int) -> None:
    session.delete(get_playlist(session=session, user=user, playlist_id=playlist_id))
    session.flush()


def set_playlist_tracks(*, session: Session, user: User, playlist: Playlist, track_pks: list[int]) -> None:
    """Replace the playlist's items with these tracks in this order (positions 0..n-1)."""
    require_tracks(session=session, user=user, track_pks=track_pks)
    session.execute(delete(PlaylistTrack).where(PlaylistTrack.playlist_id == playlist.id))
    session.add_all(
        PlaylistTrack(playlist_id=playlist.id, track_pk=pk, position=i) for i, pk in enumerate(track_pks)
    )
    playlist.updated_at = func.now()
    session.flush()
    session.expire(playlist, ["items", "updated_at"])


def replace_tracks(*, session: Session, user: User, playlist_id: int, track_pks: list[int]) -> Playlist:
    playlist = get_playlist(session=session, user=user, playlist_id=playlist_id)
    set_playlist_tracks(session=session, user=user, playlist=playlist, track_pks=track_pks)
    return get_playlist(session=session, user=user, playlist_id=playlist_id)


def append_tracks(*, session: Session, user: User, playlist_id: int, track_pks: list[int]) -> Playlist:
    playlist = get_playlist(session=session, user=user, playlist_id=playlist_id)
    current = [item.track_pk for item in playlist.items]
    set_playlist_tracks(session=session, user=user, playlist=playlist, track_pks=current + track_pks)
    return get_playlist(session=session, user=user, playlist_id=playlist_id)


# --- versions -------------------------------------------------------------------------------------


def snapshot(*, session: Session, playlist: Playlist, reason: str, score: float | None = None) -> PlaylistVersion:
    """Keep the playlist's current order as a version (before it is replaced)."""
    version = PlaylistVersion(
        playlist_id=playlist.id, reason=reason, track_pks=[item.track_pk for item in playlist.items], score=score
    )
    session.add(version)
    session.flush()
    return version


def list_versions(*, session: Session, user: User, playlist_id: int) -> list[PlaylistVersion]:
    playlist = get_playlist(session=session, user=user, playlist_id=playlist_id)
    return list(session.scalars(
        select(PlaylistVersion).where(PlaylistVersion.playlist_id == playlist.id).order_by(PlaylistVersion.id.desc())
    ))


def restore_version(*, session: Session, user: User, playlist_id: int, version_id: int) -> None:
    """Put a saved order back; the current one is kept as a version too."""
    playlist = get_playlist(session=session, user=user, playlist_id=playlist_id)
    version = session.get(PlaylistVersion, version_id)
    if version is None or version.playlist_id != playlist.id:
        raise NotFound("version not found")
    snapshot(session=session, playlist=playlist, reason=f"before restoring version {version_id}")
    set_playlist_tracks(session=session, user=user, playlist=playlist, track_pks=list(version.track_pks))
