"""Albums: listing with search/sort/missing filters, detail, edits, records created by hand, counts."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from sqlalchemy import Select, and_, exists, func, or_, select
from sqlalchemy.orm import Session

from services.common.models import Album, DiscogsRelease, Library, Track, User
from services.domain.access import readable_library, visible_library_ids, visible_row, writable_library
from services.domain.collection.sync import (
    ALBUM_IDENTITY,
    album_row,
    sync_owns_album_identity,
    track_rows,
    upsert_albums,
    upsert_tracks,
)
from services.domain.errors import Conflict, Invalid, Refused
from services.domain.sources.base import AlbumInfo, TrackInfo
from services.domain.tracks.service import parse_typed_duration

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


ALBUM_NOTES_MAX = 10000
ALBUM_CONDITION_MAX = 200
ALBUM_TITLE_MAX = ALBUM_ARTIST_MAX = 500
YEAR_MIN = 1900
PRICE_MAX = Decimal("99999999.99")  # NUMERIC(10, 2)


def _own_text(value: Any, field: str, limit: int) -> str | None:
    if value is not None and not isinstance(value, str):
        raise Invalid(f"{field}: text expected", code="bad_field")
    text = (value or "").strip()
    if len(text) > limit:
        raise Invalid(f"{field}: at most {limit} characters", code="too_long")
    return text or None


def _price(value: Any) -> Decimal | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
        raise Invalid("purchase_price: a number, e.g. 12.50", code="bad_price")
    try:
        price = Decimal(str(value).strip().replace(",", "."))
    except InvalidOperation:
        raise Invalid("purchase_price: a number, e.g. 12.50", code="bad_price") from None
    if not price.is_finite() or price < 0 or price > PRICE_MAX or price != price.quantize(Decimal("0.01")):
        raise Invalid(f"purchase_price: from 0 to {PRICE_MAX}, at most 2 decimals", code="bad_price")
    return price.quantize(Decimal("0.01"))


def year_max() -> int:
    """The latest year a record may carry: next year (a pre-release)."""
    return datetime.now(UTC).year + 1


def clean_year(value: Any) -> int | None:
    """A release year: YEAR_MIN to next year, or None (unknown). Invalid names the field."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not YEAR_MIN <= value <= year_max():
        raise Invalid(f"year: from {YEAR_MIN} to {year_max()}, or empty", code="bad_year")
    return value


def _identity_text(value: Any, field: str, limit: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise Invalid(f"{field}: cannot be empty", code="bad_value")
    text = value.strip()
    if len(text) > limit:
        raise Invalid(f"{field}: at most {limit} characters", code="too_long")
    return text


def clean_album_changes(changes: dict[str, Any]) -> dict[str, Any]:
    """Validate and normalise album edits (the API and the UI share this): rating 1-5, notes, condition,
    purchase price (None or empty text clears); and the record's identity, title and artist (trimmed, not
    empty) and year (YEAR_MIN to next year, None for unknown). Invalid names the field."""
    unknown = sorted(set(changes) - {"rating", "notes", "condition", "purchase_price", *ALBUM_IDENTITY})
    if unknown:
        raise Invalid(f"cannot edit {', '.join(unknown)}", code="bad_field")
    out: dict[str, Any] = {}
    for key, value in changes.items():
        if key == "title":
            out[key] = _identity_text(value, key, ALBUM_TITLE_MAX)
        elif key == "artist":
            out[key] = _identity_text(value, key, ALBUM_ARTIST_MAX)
        elif key == "year":
            out[key] = clean_year(value)
        elif key == "rating":
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 5):
                raise Invalid("rating: a whole number from 1 to 5", code="bad_rating")
            out[key] = value
        elif key == "notes":
            out[key] = _own_text(value, key, ALBUM_NOTES_MAX)
        elif key == "condition":
            out[key] = _own_text(value, key, ALBUM_CONDITION_MAX)
        else:
            out[key] = _price(value)
    return out


def album_identity_editable(album: Album) -> bool:
    """The user may correct this record's title, artist and year (no sync writes them: made by hand)."""
    return not sync_owns_album_identity(album.release_id)


def update_album(*, session: Session, user: User, album_id: int, changes: dict[str, Any]) -> Album:
    """Edit an album: your own fields (rating, notes, condition, price: a Discogs sync never overwrites them)
    and, for a record made by hand, its title, artist and year. A Discogs release's identity is refused
    (Refused "from_discogs"): a sync keeps it up to date, as it does its tracks' titles.

    A new title or year goes to the album's tracks (their `album` and `year` copies, which search reads),
    a new artist to those of its tracks credited to the old album artist (not a featured or split artist)."""
    album = _writable_album(session, user, album_id)
    changes = clean_album_changes(changes)
    identity = {k: v for k, v in changes.items() if k in ALBUM_IDENTITY and v != getattr(album, k)}
    if identity and not album_identity_editable(album):
        names = list(identity)
        what = " and ".join([", ".join(names[:-1]), names[-1]] if len(names) > 1 else names)
        raise Refused(f"the {what} of this record come{'' if len(identity) > 1 else 's'} from Discogs, and a sync "
                      "keeps them up to date: correct them on Discogs (rating, condition, price and notes are "
                      "yours to edit here)", code="from_discogs")
    old_artist = album.artist
    for key, value in changes.items():
        setattr(album, key, value)
    if identity:
        changed = _carry_identity_to_tracks(session, album, identity, old_artist=old_artist)
        session.flush()
        if changed:
            from services.domain.embeddings.jobs import embed_soon

            embed_soon(track_pks=changed)  # their text changed: re-embedded in the background
    session.flush()
    return album


def _carry_identity_to_tracks(session: Session, album: Album, identity: dict[str, Any], *,
                              old_artist: str) -> list[int]:
    """Copy a changed title/year to every track of the album (deleted ones too: a restore shows the record
    as it is now) and a changed artist to the tracks credited to the old one. Returns the tracks changed."""
    changed = []
    for track in album_tracks(session=session, album=album, include_deleted=True):
        before = (track.album, track.year, track.artist)
        if "title" in identity:
            track.album = album.title
        if "year" in identity:
            track.year = album.year
        if "artist" in identity and track.artist == old_artist:
            track.artist = album.artist
        if (track.album, track.year, track.artist) != before:
            changed.append(track.id)
    return changed


MAX_TRACKS = 200


def _row_text(value: Any, limit: int, what: str, where: str) -> str | None:
    text = str(value).strip() if value is not None else ""
    if len(text) > limit:
        raise Invalid(f"{where}{what}: at most {limit} characters")
    return text or None


def _track_infos(release_id: int, artist: str, tracks: list[dict[str, Any]], *, taken: set[str],
                 first_number: int = 1, rows: bool = False) -> list[TrackInfo]:
    """Validated TrackInfos for typed-in tracks: {"position", "title", "artist", "duration"}; `taken`:
    positions already on the record. Invalid names the row ("row 2: ..." when `rows`, else "track 2: ...");
    with `rows` (a form), rows left wholly empty are skipped."""
    seen = set(taken)
    infos: list[TrackInfo] = []
    for n, t in enumerate(tracks, start=1):
        where = f"{'row' if rows else 'track'} {n}: "
        if rows and not any(str(v or "").strip() for v in t.values()):
            continue  # an empty row of a form
        if len(infos) >= MAX_TRACKS:
            raise Invalid(f"at most {MAX_TRACKS} tracks at once")
        title = _row_text(t.get("title"), 500, "title", where)
        if not title:
            raise Invalid(f"{where}a track needs a title")
        position = _row_text(t.get("position"), 32, "position", where) or str(first_number + len(infos))
        if position in seen:
            raise Invalid(f"{where}position {position} appears twice" if position not in taken
                          else f"{where}position {position} is already on this record")
        seen.add(position)
        duration = parse_typed_duration(t.get("duration"), what=f"{where}duration")
        track_artist = _row_text(t.get("artist"), 500, "artist", where) or artist
        infos.append(TrackInfo(track_id=f"{release_id}-{position}", position=position, title=title,
                               artist=track_artist, duration_seconds=duration))
    return infos


def _album_text(value: str | None, limit: int, what: str, *, required: bool = False) -> str | None:
    text = (value or "").strip()
    if required and not text:
        raise Invalid(f"a record needs {what}")
    if len(text) > limit:
        raise Invalid(f"{what}: at most {limit} characters")
    return text or None


def _names(values: list[str] | None, limit: int, what: str) -> list[str]:
    names = list(dict.fromkeys(v.strip() for v in values or [] if v and v.strip()))
    if len(names) > limit:
        raise Invalid(f"{what}: at most {limit}")
    return names


def create_manual_album(*, session: Session, user: User, library_id: int, title: str, artist: str,
                        year: int | None, label: str | None, catalog_number: str | None, format: str | None,
                        genres: list[str], styles: list[str], notes: str | None,
                        tracks: list[dict[str, Any]]) -> Album:
    """A record that is not on Discogs: negative release id, tracks "<releaseId>-<position>"."""
    library = writable_library(session=session, user=user, library_id=library_id)
    title = _album_text(title, 500, "a title", required=True)
    artist = _album_text(artist, 500, "an artist", required=True)
    year = clean_year(year)
    session.execute(select(func.pg_advisory_xact_lock(0x4D414E, library.id)))  # serialise id allocation
    lowest = session.scalar(select(func.min(Album.release_id)).where(Album.library_id == library.id)) or 0
    release_id = min(lowest, 0) - 1
    infos = _track_infos(release_id, artist, tracks, taken=set())
    info = AlbumInfo(release_id=release_id, title=title, artist=artist, year=year,
                     genres=_names(genres, 20, "genres"), styles=_names(styles, 30, "styles"),
                     label=_album_text(label, 300, "label"), catalog_number=_album_text(catalog_number, 100, "cat#"),
                     format=_album_text(format, 200, "format"), notes=_album_text(notes, 10000, "notes"),
                     date_added=datetime.now(UTC))
    conn = session.connection()
    ids = upsert_albums(conn, [album_row(library.id, info)], mark_seen=False)
    album_id = ids[release_id][0]
    upsert_tracks(conn, track_rows(library.id, album_id, info, infos))
    session.expire_all()
    return session.get(Album, album_id)


def has_discogs_tracklist(*, session: Session, album: Album) -> bool:
    """The release's tracklist came from Discogs (a sync owns its tracks' titles and positions)."""
    return album.release_id > 0 and bool(session.scalar(select(exists().where(
        DiscogsRelease.release_id == album.release_id, DiscogsRelease.data.is_not(None)))))


def add_album_tracks(*, session: Session, user: User, album_id: int, tracks: list[dict[str, Any]],
                     rows: bool = False) -> list[Track]:
    """Type in a tracklist (or more of one): [{"position", "title", "artist", "duration"}], in order.

    A position defaults to the next track number; one already on the record is refused, except a deleted
    track's, which comes back with the new title. Works for records made by hand and for CSV imports
    (whose exports have no tracklists); a Discogs sync (mode=tracklists) then leaves the album alone."""
    album = _writable_album(session, user, album_id)
    if album.deleted_at is not None:
        raise Conflict("the record is deleted", code="album_deleted")
    existing = album_tracks(session=session, album=album, include_deleted=True)
    by_position = {t.position: t for t in existing}
    live = {t.position for t in existing if t.deleted_at is None and t.position}
    live_count = sum(1 for t in existing if t.deleted_at is None)
    infos = _track_infos(album.release_id, album.artist, tracks, taken=live, first_number=live_count + 1,
                         rows=rows)
    if not infos:
        raise Invalid("add at least one track (a title on a row)")
    added = []
    for info in infos:
        track = by_position.get(info.position)
        if track is None:  # a deleted track keeps its "<releaseId>-<position>": look it up by track_id too
            track = session.scalar(select(Track).where(Track.library_id == album.library_id,
                                                       Track.track_id == info.track_id))
        if track is None:
            track = Track(library_id=album.library_id, album_id=album.id, release_id=album.release_id,
                          track_id=info.track_id)
            session.add(track)
        track.album_id, track.deleted_at = album.id, None
        track.title, track.artist, track.position = info.title, info.artist, info.position
        track.duration_seconds = info.duration_seconds
        track.album, track.year, track.genres, track.styles = album.title, album.year, album.genres, album.styles
        added.append(track)
    session.flush()
    return added


def library_counts(*, session: Session, library: Library) -> dict[str, int]:
    albums = session.scalar(select(func.count()).select_from(Album).where(
        Album.library_id == library.id, Album.deleted_at.is_(None))) or 0
    tracks = session.scalar(select(func.count()).select_from(Track).where(
        Track.library_id == library.id, Track.deleted_at.is_(None))) or 0
    pending = session.scalar(select(func.count()).select_from(Album).where(
        and_(Album.library_id == library.id, Album.deleted_at.is_(None), Album.release_id > 0,
             ~exists().where(Track.album_id == Album.id)))) or 0
    return {"albums": albums, "tracks": tracks, "albums_without_tracklist": pending}


