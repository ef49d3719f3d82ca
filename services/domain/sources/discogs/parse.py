"""Discogs JSON to album and track rows. Pure functions: no network, no database.

Rules DJs rely on:
- `track_id = "<releaseId>-<position>"`; vinyl positions (A1, B2, AA) are kept as printed.
- Discogs disambiguation suffixes are removed from names: "Moodymann (2)" -> "Moodymann", "Jeff Mills*" -> "Jeff Mills".
- Per-track `artists` win over the release artists (compilations, splits); `extraartists`
  (remixers, producers...) are never used for the artist field. A sub-track without artists of its own
  inherits its index (or parent) track's artists, and only then the release's (never "Various" when the
  index track names the artists).
- Headings (`type_ == "heading"`) are not tracks; index tracks and tracks with sub-tracks are flattened
  into their sub-tracks, each keeping its own position.
- Durations "m:ss" and "h:mm:ss" become seconds; a missing or unreadable duration stays None, never 0.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from services.domain.sources.base import AlbumInfo, MalformedResponse, TrackInfo

_SUFFIX = re.compile(r"\s*\(\d+\)\s*$")
POSITION_MAX = 32
TRACK_ID_MAX = 64


def clean_name(name: str | None) -> str:
    """Remove Discogs' " (2)" disambiguation and trailing "*" (name variation marker)."""
    if not name:
        return ""
    name = _SUFFIX.sub("", name.strip())
    name = name.rstrip("*").strip()
    return _SUFFIX.sub("", name)


def join_artists(artists: list[dict[str, Any]] | None) -> str:
    """Discogs artists with their `join` words: "A & B", "A Feat. B", "A, B"."""
    if not artists:
        return ""
    out: list[str] = []
    for i, artist in enumerate(artists):
        if not isinstance(artist, dict):
            continue
        name = clean_name(artist.get("name"))
        if not name:
            continue
        out.append(name)
        join = (artist.get("join") or "").strip()
        if i < len(artists) - 1:
            if not join or join == ",":
                out.append(", ")
            else:
                out.append(f" {join} ")
    text = "".join(out).strip()
    return text.rstrip(",&").strip()


def parse_duration(value: Any) -> float | None:
    """"5:31" -> 331.0, "1:02:03" -> 3723.0, "" / None / garbage -> None (unknown, never 0)."""
    if value is None:
        return None
    text = str(value).strip()
    if not text:
        return None
    parts = text.split(":")
    if len(parts) not in (2, 3) or not all(p.strip().isdigit() for p in parts):
        return None
    nums = [int(p) for p in parts]
    if len(nums) == 2:
        minutes, seconds = nums
        total = minutes * 60 + seconds
    else:
        hours, minutes, seconds = nums
        total = hours * 3600 + minutes * 60 + seconds
    return float(total) if total > 0 else None


def parse_year(value: Any) -> int | None:
    if value in (None, "", 0, "0"):
        return None
    match = re.match(r"\s*(\d{4})", str(value))
    if not match:
        return None
    year = int(match.group(1))
    return year if 1000 <= year <= 3000 else None


def format_text(formats: list[dict[str, Any]] | None) -> str | None:
    """'Vinyl, 12", 33 ⅓ RPM' (first format, with its descriptions); '2xVinyl, LP' for quantities."""
    if not formats:
        return None
    parts = []
    for fmt in formats[:2]:
        if not isinstance(fmt, dict) or not fmt.get("name"):
            continue
        name = str(fmt["name"])
        qty = str(fmt.get("qty") or "1")
        if qty not in ("", "1"):
            name = f"{qty}x{name}"
        parts.append(", ".join([name, *[str(d) for d in fmt.get("descriptions") or []]]))
    return "; ".join(parts) or None


def _first_label(labels: list[dict[str, Any]] | None) -> tuple[str | None, str | None]:
    for label in labels or []:
        if isinstance(label, dict) and label.get("name"):
            catno = (label.get("catno") or "").strip() or None
            return clean_name(label["name"]) or None, catno
    return None, None


def _strs(values: Any) -> list[str]:
    return [str(v) for v in values if v] if isinstance(values, list) else []


def parse_date(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return None


def release_page(release_id: int) -> str:
    """The release's page on discogs.com, for records known by id only (a collection listing, a CSV export);
    a release's own data gives its `uri` (the same page, with the title in the path)."""
    return f"https://www.discogs.com/release/{release_id}"


def album_from_basic_information(item: dict[str, Any]) -> AlbumInfo:
    """A collection item (`releases[]` of the collection folder endpoint) to album columns."""
    info = item.get("basic_information") or {}
    release_id = int(item.get("id") or info["id"])
    label, catno = _first_label(info.get("labels"))
    notes = None
    if isinstance(item.get("notes"), list):
        notes = "\n".join(str(n.get("value")) for n in item["notes"] if isinstance(n, dict) and n.get("value")) or None
    rating = item.get("rating")
    return AlbumInfo(
        release_id=release_id,
        title=(info.get("title") or "").strip() or f"Release {release_id}",
        artist=join_artists(info.get("artists")) or "Unknown Artist",
        year=parse_year(info.get("year")),
        genres=_strs(info.get("genres")),
        styles=_strs(info.get("styles")),
        label=label,
        catalog_number=catno,
        format=format_text(info.get("formats")),
        thumbnail=info.get("thumb") or info.get("cover_image") or None,
        date_added=parse_date(item.get("date_added")),
        rating=int(rating) if isinstance(rating, int) and 1 <= rating <= 5 else None,
        notes=notes,
        discogs_url=release_page(release_id),
    )


def _track_position(raw: Any, fallback: str) -> str:
    pos = str(raw or "").strip()
    return (pos or fallback)[:POSITION_MAX]


def _flatten(tracklist: list[Any]) -> list[tuple[str, str, list, Any]]:
    """(position, title, artists, duration) for every playable track, headings dropped, sub-tracks flattened.

    `artists` is a list of candidate Discogs artist lists, most specific first: a sub-track's own artists,
    then its index (or parent) track's, so compilations credit the index track's artists rather than the
    album's "Various" when the sub-tracks name nobody themselves.
    """
    out: list[tuple[str, str, list, Any]] = []
    for entry in tracklist:
        if not isinstance(entry, dict):
            continue
        kind = entry.get("type_") or "track"
        if kind == "heading":
            continue
        title = (entry.get("title") or "").strip()
        position = str(entry.get("position") or "").strip()
        artists = [entry.get("artists")]
        subs = [s for s in entry.get("sub_tracks") or [] if isinstance(s, dict) and (s.get("type_") or "track") == "track"]
        has_sub_positions = any(str(s.get("position") or "").strip() for s in subs)
        if subs and (kind == "index" or has_sub_positions):
            for i, sub in enumerate(subs):
                sub_pos = str(sub.get("position") or "").strip()
                if not sub_pos:
                    sub_pos = f"{position}.{chr(ord('a') + i)}" if position else ""
                sub_title = (sub.get("title") or "").strip()
                full_title = f"{title} - {sub_title}" if (kind == "index" and title and sub_title) else (sub_title or title)
                out.append((sub_pos, full_title, [sub.get("artists"), *artists], sub.get("duration")))
            continue
        if kind != "track":
            continue
        out.append((position, title, artists, entry.get("duration")))
    return out


def _credited(artist_lists: list | None) -> str:
    """The first of the candidate artist lists that names somebody ("" when none does)."""
    for candidate in artist_lists or []:
        name = join_artists(candidate) if isinstance(candidate, list) else ""
        if name:
            return name
    return ""


def parse_release(raw: dict[str, Any]) -> tuple[AlbumInfo, list[TrackInfo]]:
    """A `GET /releases/{id}` body to the album's columns and its tracks."""
    if not isinstance(raw, dict) or not isinstance(raw.get("id"), int):
        raise MalformedResponse("release JSON has no integer id")
    tracklist = raw.get("tracklist") or []
    if not isinstance(tracklist, list):
        raise MalformedResponse("release tracklist is not a list")
    release_id = raw["id"]
    label, catno = _first_label(raw.get("labels"))
    images = raw.get("images") or []
    thumb = raw.get("thumb") or (images[0].get("uri150") if images and isinstance(images[0], dict) else None)
    album_artist = join_artists(raw.get("artists")) or clean_name(raw.get("artists_sort")) or "Unknown Artist"
    album = AlbumInfo(
        release_id=release_id,
        title=(raw.get("title") or "").strip() or f"Release {release_id}",
        artist=album_artist,
        year=parse_year(raw.get("year")) or parse_year(raw.get("released")),
        genres=_strs(raw.get("genres")),
        styles=_strs(raw.get("styles")),
        label=label,
        catalog_number=catno,
        country=raw.get("country") or None,
        format=format_text(raw.get("formats")),
        thumbnail=thumb or None,
        discogs_url=raw.get("uri") or None,
    )
    tracks: list[TrackInfo] = []
    seen: dict[str, int] = {}
    for n, (position, title, artists, duration) in enumerate(_flatten(tracklist), start=1):
        position = _track_position(position, str(n))
        key = position
        if key in seen:  # the same position printed twice: keep both, distinguishably
            seen[key] += 1
            key = f"{position}#{seen[position]}"[:POSITION_MAX]
        else:
            seen[key] = 1
        tracks.append(
            TrackInfo(
                track_id=f"{release_id}-{key}"[:TRACK_ID_MAX],
                position=key,
                title=title or "Untitled",
                artist=_credited(artists) or album_artist,
                duration_seconds=parse_duration(duration),
            )
        )
    return album, tracks
