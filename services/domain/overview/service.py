"""The dashboard's numbers: what the user's collection holds, and what a new user should do next."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.common.models import Album, Library, Playlist, Track, User
from services.domain.access import visible_library_ids


@dataclass(frozen=True)
class Overview:
    libraries: int
    own_libraries: int
    albums: int
    tracks: int
    analysed: int
    with_audio: int
    playlists: int

    def next_steps(self) -> list[tuple[str, str, bool]]:
        """(what to do, where, done?) in the order a new user meets them."""
        return [
            ("Create a library and import your Discogs CSV export (or sync with a Discogs token)", "/libraries",
             self.own_libraries > 0),
            ("Add tracklists to your albums (Discogs sync, or by hand on an album page)", "/libraries", self.tracks > 0),
            ("Get audio: upload files or download them on a track or album page", "/tracks", self.with_audio > 0),
            ("Analyse the audio for BPM, key and energy", "/tracks?has_audio=true&analyzed=false", self.analysed > 0),
            ("Create a playlist and build a set that flows", "/playlists", self.playlists > 0),
        ]


def overview(*, session: Session, user: User) -> Overview:
    """Counts over every library the user can read (own, friends', shared); deleted tracks not counted."""
    readable = visible_library_ids(user)
    track_counts = session.execute(
        select(
            func.count(),
            func.count(Track.analyzed_at),
            func.count(Track.local_audio_path),
        ).where(Track.library_id.in_(readable), Track.deleted_at.is_(None))
    ).one()
    libraries = session.execute(
        select(func.count(), func.count().filter(Library.owner_id == user.id)).where(Library.id.in_(readable))
    ).one()
    return Overview(
        libraries=libraries[0],
        own_libraries=libraries[1],
        albums=session.scalar(select(func.count()).select_from(Album).where(
            Album.library_id.in_(readable), Album.deleted_at.is_(None))) or 0,
        tracks=track_counts[0],
        analysed=track_counts[1],
        with_audio=track_counts[2],
        playlists=session.scalar(select(func.count()).where(Playlist.owner_id == user.id)) or 0,
    )
