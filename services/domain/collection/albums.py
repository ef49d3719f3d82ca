"""Albums: listing with search/sort/missing filters, detail, edits, records created by hand, counts."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import Select, and_, exists, func, or_, select
from sqlalchemy.orm import Session

from services.common.models import Album, DiscogsRelease, Library, Track, User
from services.domain.access import readable_library, visible_library_ids, visible_row, writable_library
from services.domain.collection.sync import album_row, track_rows, upsert_albums, upsert_tracks
from services.domain.errors import Invalid
from services.domain.sources.base import AlbumInfo, TrackInfo
from services.domain.sources.discogs.parse import parse_duration

AlbumSort = Literal["artist", "title", "year", "date_added", "rating"]
Missing = Literal["audio", "analysis", "apple", "youtube"]

_SORT_COLUMNS = {
    "artist": Album.artist,
    "title": Album.title,
    "year": Album.year,
    "date_added": Album.date_added,
    "rating": Album.rating,
}

_MISSING = {
    "audio": Track.local_audio_path.is_(None),
    "analysis": Track.analyzed_at.is_(None),
    "apple": Track.apple_music_url.is_(None),
    "youtube": Track.youtube_url.is_(None),
}


def _escape_like(term: str) -> str:
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def list_albums(
    *,
    session: Session,
    user: User,
    library_id: int | None = None,
    q: str | None = None,
    sort: AlbumSort = "date_added",
    order: Literal["asc", "desc"] = "desc",
    missing: list[Missing] | None = None,
    include_deleted: bool = False,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[Album], int]:
    """Albums the user may see. `missing`: albums with at least one live track lacking that thing."""
    stmt: Select = select(Album).where(Album.library_id.in_(visible_library_ids(user)))
    if library_id is not None:
        readable_library(session=session, user=user, library_id=library_id)
        stmt = stmt.where(Album.library_id == library_id)
    if not include_deleted:
        stmt = stmt.where(Album.deleted_at.is_(None))
    if q and q.strip():
        for word in q.split():
            pattern = f"%{_escape_like(word)}%"
            stmt = stmt.where(or_(Album.artist.ilike(pattern), Album.title.ilike(pattern), Album.label.ilike(pattern),
                                  Album.catalog_number.ilike(pattern)))
    for what in missing or []:
        stmt = stmt.where(exists().where(Track.album_id == Album.id, Track.deleted_at.is_(None), _MISSING[what]))
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    column = _SORT_COLUMNS[sort]
    ordered = column.desc().nulls_last() if order == "desc" else column.asc().nulls_last()
    rows = session.scalars(stmt.order_by(ordered, Album.id).limit(limit).offset(offset)).all()
    return list(rows), total


def get_album(*, session: Session, user: User, album_id: int) -> Album:
    return visible_row(session=session, user=user, model=Album, row_id=album_id, what="album")


def album_tracks(*, session: Session, album: Album, include_deleted: bool = False) -> list[Track]:
    stmt = select(Track).where(Track.album_id == album.id)
    if not include_deleted:
        stmt = stmt.where(Track.deleted_at.is_(None))
    return list(session.scalars(stmt.order_by(Track.id)))


def raw_release(*, session: Session, album: Album) -> dict[str, Any] | None:
    if album.release_id <= 0:
        return None
    return session.scalar(select(DiscogsRelease.data).where(DiscogsRelease.release_id == album.release_id))


def _writable_album(session: Session, user: User, album_id: int) -> Album:
    album = get_album(session=session, user=user, album_id=album_id)
    writable_library(session=session, user=user, library_id=album.library_id)
    return album


def update_album(*, session: Session, user: User, album_id: int, changes: dict[str, Any]) -> Album:
    album = _writable_album(session, user, album_id)
    for key, value in changes.items():
        setattr(album, key, value)
    session.flush()
    return album


def create_manual_album(*, session: Session, user: User, library_id: int, title: str, artist: str,
                        year: int | None, label: str | None, catalog_number: str | None, format: str | None,
                        genres: list[str], styles: list[str], notes: str | None,
                        tracks: list[dict[str, Any]]) -> Album:
    """A record that is not on Discogs: negative release id, tracks "<releaseId>-<position>"."""
    library = writable_library(session=session, user=user, library_id=library_id)
    session.execute(select(func.pg_advisory_xact_lock(0x4D414E, library.id)))  # serialise id allocation
    lowest = session.scalar(select(func.min(Album.release_id)).where(Album.library_id == library.id)) or 0
    release_id = min(lowest, 0) - 1
    info = AlbumInfo(release_id=release_id, title=title, artist=artist, year=year, genres=genres, styles=styles,
                     label=label, catalog_number=catalog_number, format=format, notes=notes,
                     date_added=datetime.now(UTC))
    conn = session.connection()
    ids = upsert_albums(conn, [album_row(library.id, info)], mark_seen=False)
    album_id = ids[release_id][0]
    seen: set[str] = set()
    infos = []
    for n, t in enumerate(tracks, start=1):
        position = (t.get("position") or str(n)).strip()[:32]
        if position in seen:
            raise Invalid(f"position {position} appears twice")
        seen.add(position)
        duration = t.get("duration")
        infos.append(TrackInfo(track_id=f"{release_id}-{position}", position=position, title=t["title"],
                               artist=t.get("artist") or artist,
                               duration_seconds=parse_duration(duration) if isinstance(duration, str) else duration))
    upsert_tracks(conn, track_rows(library.id, album_id, info, infos))
    session.expire_all()
    return session.get(Album, album_id)


def library_counts(*, session: Session, library: Library) -> dict[str, int]:
    albums = session.scalar(select(func.count()).select_from(Album).where(
        Album.library_id == library.id, Album.deleted_at.is_(None))) or 0
    tracks = session.scalar(select(func.count()).select_from(Track).where(
        Track.library_id == library.id, Track.deleted_at.is_(None))) or 0
    pending = session.scalar(select(func.count()).select_from(Album).where(
        and_(Album.library_id == library.id, Album.deleted_at.is_(None), Album.release_id > 0,
             ~exists().where(Track.album_id == Album.id)))) or 0
    return {"albums": albums, "tracks": tracks, "albums_without_tracklist": pending}


