"""Discogs CSV collection export: the way in without a token. Albums are created at once; tracklists
come from the API sync (mode "tracklists") when DISCOGS_USER_TOKEN is set.

The upload is read line by line: the byte cap (MAX_BYTES) and the row cap (MAX_ROWS) are enforced while
reading, so a huge upload is refused after at most MAX_BYTES, never held in memory whole. Values are
checked on the way in (release ids in ASCII digits within bigint, `Date Added` normalized to UTC within
DATE_ADDED_YEARS) and a refusal names the line."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import BinaryIO

from sqlalchemy import Connection

from services.domain.collection.sync import album_row, upsert_albums
from services.domain.errors import TooLarge
from services.domain.sources.base import AlbumInfo
from services.domain.sources.discogs.parse import clean_name, parse_year, release_page

REQUIRED = ("release_id", "Artist", "Title")
KNOWN = ("Catalog#", "Artist", "Title", "Label", "Format", "Rating", "Released", "release_id", "CollectionFolder",
         "Date Added", "Collection Media Condition", "Collection Sleeve Condition", "Collection Notes")
MAX_BYTES = 50 * 1024 * 1024
MAX_ROWS = 100_000
BIGINT_MAX = 2**63 - 1
DATE_ADDED_YEARS = (1900, 2100)
_ASCII_ID = re.compile(r"[0-9]{1,19}")
# Album columns a CSV re-import refreshes (user-edited rating/notes/condition are first-import only).
CSV_UPDATE = ("title", "artist", "year", "label", "catalog_number", "format", "date_added")


class CsvImportError(ValueError):
    """The file is not a Discogs collection export; the message names the problem (shown as 400/422)."""


def _date(value: str, *, line: int) -> datetime | None:
    """`Date Added` in UTC; None when empty or not a date; CsvImportError when outside DATE_ADDED_YEARS."""
    value = (value or "").strip()
    if not value:
        return None
    parsed = None
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%d"):
        try:
            parsed = datetime.strptime(value, fmt)
            break
        except ValueError:
            continue
    if parsed is None:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
    low, high = DATE_ADDED_YEARS
    try:
        utc = parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    except (OverflowError, ValueError):
        utc = None
    if utc is None or not low <= utc.year <= high:
        raise CsvImportError(f"line {line}: Date Added {value!r} is out of range (years {low}-{high})")
    return utc


def _release_id(raw: str, *, line: int) -> int:
    """ASCII digits only (int() and str.isdigit() accept "²" and other scripts' digits), within bigint."""
    if not _ASCII_ID.fullmatch(raw) or not 0 < int(raw) <= BIGINT_MAX:
        raise CsvImportError(f"line {line}: release_id {raw!r} is not a Discogs release number")
    return int(raw)


def _decode(line: bytes, first: bool) -> str:
    """One physical line: UTF-8 (the export's encoding), else Windows-1252 (a re-saved export)."""
    if first and line.startswith(b"\xef\xbb\xbf"):
        line = line[3:]
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        try:
            return line.decode("cp1252")
        except UnicodeDecodeError:
            raise CsvImportError("file is not text (expected a UTF-8 CSV export from Discogs)") from None


def _text_lines(stream: BinaryIO, max_bytes: int) -> Iterator[str]:
    """Decoded lines of the upload; TooLarge as soon as more than `max_bytes` have been read."""
    total = 0
    first = True
    while True:
        line = stream.readline(max_bytes - total + 1)
        if not line:
            return
        total += len(line)
        if total > max_bytes:
            raise TooLarge(f"the file is larger than {max_bytes // (1024 * 1024)} MB", code="too_large")
        if b"\x00" in line:
            raise CsvImportError("file is not text (it contains NUL bytes; expected a CSV export from Discogs)")
        yield _decode(line, first)
        first = False


def parse_collection_csv(data: bytes | BinaryIO, *, max_bytes: int = MAX_BYTES,
                         max_rows: int = MAX_ROWS) -> list[AlbumInfo]:
    """Albums of a Discogs collection export, from its bytes or a binary stream (read incrementally)."""
    stream: BinaryIO = io.BytesIO(data) if isinstance(data, bytes | bytearray) else data
    lines = _text_lines(stream, max_bytes)
    reader = csv.DictReader(lines)
    try:
        fieldnames = reader.fieldnames
    except csv.Error as exc:
        raise CsvImportError(f"line 1: {exc}") from None
    if not fieldnames or not any(h.strip() for h in fieldnames):
        raise CsvImportError("file is empty")
    header = [h.strip() for h in fieldnames]
    reader.fieldnames = header
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise CsvImportError(
            f"not a Discogs collection export: missing column(s) {', '.join(missing)} "
            f"(expected columns like {', '.join(KNOWN[:8])}, ...)"
        )
    albums: list[AlbumInfo] = []
    try:
        for row in reader:
            line = reader.line_num
            if len(albums) >= max_rows:
                raise TooLarge(f"the export has more than {max_rows:,} records (line {line}); "
                               "split it into several files", code="too_many_rows")
            raw_id = (row.get("release_id") or "").strip()
            release_id = _release_id(raw_id, line=line)
            rating = (row.get("Rating") or "").strip()
            if rating and rating not in ("0", "1", "2", "3", "4", "5"):
                raise CsvImportError(f"line {line}: Rating {rating!r} is not 0-5")
            media = (row.get("Collection Media Condition") or "").strip()
            sleeve = (row.get("Collection Sleeve Condition") or "").strip()
            condition = "; ".join(p for p in (media and f"Media: {media}", sleeve and f"Sleeve: {sleeve}") if p)
            albums.append(AlbumInfo(
                release_id=release_id,
                title=(row.get("Title") or "").strip() or f"Release {release_id}",
                artist=_clean_artist(row.get("Artist") or "") or "Unknown Artist",
                year=parse_year(row.get("Released")),
                label=_clean_artist(row.get("Label") or "") or None,
                catalog_number=(row.get("Catalog#") or "").strip() or None,
                format=(row.get("Format") or "").strip() or None,
                date_added=_date(row.get("Date Added") or "", line=line),
                rating=int(rating) if rating and int(rating) > 0 else None,
                notes=(row.get("Collection Notes") or "").strip() or None,
                condition=condition or None,
                discogs_url=release_page(release_id),
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
