"""Discogs CSV collection export: the way in without a token. Albums are created at once; tracklists
come from the API sync (mode "tracklists") when DISCOGS_USER_TOKEN is set."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

from sqlalchemy import Connection

from services.domain.collection.sync import album_row, upsert_albums
from services.domain.sources.base import AlbumInfo
from services.domain.sources.discogs.parse import clean_name, parse_year

REQUIRED = ("release_id", "Artist", "Title")
KNOWN = ("Catalog#", "Artist", "Title", "Label", "Format", "Rating", "Released", "release_id", "CollectionFolder",
         "Date Added", "Collection Media Condition", "Collection Sleeve Condition", "Collection Notes")
MAX_BYTES = 50 * 1024 * 1024
# Album columns a CSV re-import refreshes (user-edited rating/notes/condition are first-import only).
CSV_UPDATE = ("title", "artist", "year", "label", "catalog_number", "format", "date_added")


class CsvImportError(ValueError):
    """The file is not a Discogs collection export; the message names the problem (shown as 400/422)."""


def _date(value: str) -> datetime | None:
    value = (value or "").strip()
    if not value:
        return None
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%d"):
        try:
            parsed = datetime.strptime(value, fmt)
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        except ValueError:
            continue
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def parse_collection_csv(data: bytes) -> list[AlbumInfo]:
    if len(data) > MAX_BYTES:
        raise CsvImportError(f"file is larger than {MAX_BYTES // (1024 * 1024)} MB")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = data.decode("cp1252")
        except UnicodeDecodeError:
            raise CsvImportError("file is not text (expected a UTF-8 CSV export from Discogs)") from None
    if not text.strip():
        raise CsvImportError("file is empty")
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in reader.fieldnames or []]
    reader.fieldnames = header
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise CsvImportError(
            f"not a Discogs collection export: missing column(s) {', '.join(missing)} "
            f"(expected columns like {', '.join(KNOWN[:8])}, ...)"
        )
    albums: list[AlbumInfo] = []
    try:
        for line, row in enumerate(reader, start=2):
            raw_id = (row.get("release_id") or "").strip()
            if not raw_id.isdigit() or int(raw_id) <= 0:
                raise CsvImportError(f"line {line}: release_id {raw_id!r} is not a Discogs release number")
            rating = (row.get("Rating") or "").strip()
            if rating and (not rating.isdigit() or not 0 <= int(rating) <= 5):
                raise CsvImportError(f"line {line}: Rating {rating!r} is not 0-5")
            media = (row.get("Collection Media Condition") or "").strip()
            sleeve = (row.get("Collection Sleeve Condition") or "").strip()
            condition = "; ".join(p for p in (media and f"Media: {media}", sleeve and f"Sleeve: {sleeve}") if p)
            albums.append(AlbumInfo(
                release_id=int(raw_id),
                title=(row.get("Title") or "").strip() or f"Release {raw_id}",
                artist=_clean_artist(row.get("Artist") or "") or "Unknown Artist",
                year=parse_year(row.get("Released")),
                label=_clean_artist(row.get("Label") or "") or None,
                catalog_number=(row.get("Catalog#") or "").strip() or None,
                format=(row.get("Format") or "").strip() or None,
                date_added=_date(row.get("Date Added") or ""),
                rating=int(rating) if rating and int(rating) > 0 else None,
                notes=(row.get("Collection Notes") or "").strip() or None,
                condition=condition or None,
            ))
    except csv.Error as exc:
        raise CsvImportError(f"line {reader.line_num}: {exc}") from None
    if not albums:
        raise CsvImportError("the export has a header but no records")
    return albums


def _clean_artist(value: str) -> str:
    """"Moodymann (2), Theo Parrish*" -> "Moodymann, Theo Parrish" (Discogs joins several with ", ")."""
    parts = [clean_name(p) for p in value.split(", ")]
    return ", ".join(p for p in parts if p)


def import_albums(conn: Connection, library_id: int, albums: list[AlbumInfo]) -> tuple[int, int]:
    """Upsert albums from the export; returns (created, updated)."""
    created = updated = 0
    for start in range(0, len(albums), 1000):
        rows = [album_row(library_id, a) for a in albums[start:start + 1000]]
        result = upsert_albums(conn, rows, update_columns=CSV_UPDATE, mark_seen=False)
        for _album_id, inserted in result.values():
            created += inserted
            updated += not inserted
    return created, updated
