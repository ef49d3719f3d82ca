"""A new playlist from a file: extended M3U, Rekordbox XML, Traktor NML or JSON (ours, or a plain list).

Each entry is matched to a live track in a library the user may read (services/domain/access.py), in
this order:
1. JSON from our own export: its `track_pk`, when that track's title agrees (ids of another server
   name other tracks);
2. the audio path: the path in the file ends with a track's stored path (relative to AUDIO_DIR), so
   absolute, relative and re-rooted paths (`/Volumes/USB/audio/library_3/17.mp3`) all match;
3. artist + title, normalized (case, accents, punctuation, Discogs' "(2)" and "*" suffixes); when the
   file and the track both know the duration it must agree within ±3 s, and the closest one wins;
4. the title alone when the entry names no artist and exactly one track has that title.
Own libraries win over shared ones, then the oldest track. Entries that match nothing are reported
with the reason; the playlist keeps the file's order of the matched ones.

Limits are enforced while reading: MAX_IMPORT_BYTES (TooLarge, 413) and MAX_ENTRIES (Invalid, 422).
XML is parsed with defusedxml and any DTD refused, so entity expansion (billion laughs) and external
entities (XXE) never run.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import PurePosixPath
from urllib.parse import unquote, urlsplit
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring as safe_fromstring
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.common.models import Library, Track, User
from services.domain.access import visible_library_ids
from services.domain.errors import Invalid, TooLarge
from services.domain.playlists.service import create_playlist

MAX_IMPORT_BYTES = 20 * 1024 * 1024
MAX_ENTRIES = 10_000
DURATION_TOLERANCE_SECONDS = 3.0
MAX_NAME = 200
MISSING_AUDIO_PREFIX = "# missing audio:"


class ImportFormat(StrEnum):
    m3u8 = "m3u8"
    rekordbox = "rekordbox"
    nml = "nml"
    json = "json"


FORMAT_ALIASES = {"m3u": ImportFormat.m3u8, "m3u8": ImportFormat.m3u8, "rekordbox": ImportFormat.rekordbox,
                  "xml": ImportFormat.rekordbox, "nml": ImportFormat.nml, "traktor": ImportFormat.nml,
                  "json": ImportFormat.json}


class UnmatchedEntry(BaseModel):
    entry: int  # 1-based position of the entry in the file's list
    line: int | None = None  # line of the file (M3U)
    artist: str | None = None
    title: str | None = None
    path: str | None = None
    reason: str


class ImportReport(BaseModel):
    playlist_id: int
    name: str
    format: ImportFormat
    total: int
    matched: int
    unmatched: list[UnmatchedEntry]


@dataclass
class Entry:
    number: int
    line: int | None = None
    artist: str | None = None
    title: str | None = None
    label: str | None = None  # "Artist - Title" as one string, when the file does not split them
    duration: float | None = None
    path: str | None = None
    track_pk: int | None = None
    problem: str | None = None  # why the entry cannot be matched at all


@dataclass
class Parsed:
    entries: list[Entry]
    name: str | None = None


# --- reading --------------------------------------------------------------------------------------


def read_limited(chunks: Iterable[bytes], *, max_bytes: int = MAX_IMPORT_BYTES) -> bytes:
    """The whole upload, refused with TooLarge as soon as it passes `max_bytes`."""
    data = bytearray()
    for chunk in chunks:
        data += chunk
        if len(data) > max_bytes:
            raise TooLarge(f"the file is larger than {max_bytes // (1024 * 1024)} MB", code="import_too_large")
    return bytes(data)


def parse_format(value: str | None) -> ImportFormat | None:
    if value is None or value == "":
        return None
    try:
        return FORMAT_ALIASES[value.strip().lower()]
    except KeyError:
        raise Invalid(f"unknown import format {value!r}: use m3u8, rekordbox, nml or json",
                      code="invalid_format") from None


def guess_format(filename: str, data: bytes) -> ImportFormat:
    """From the extension, else from the content; XML by its root element."""
    ext = PurePosixPath(filename.replace("\\", "/")).suffix.lower().lstrip(".")
    head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    if ext in ("m3u", "m3u8"):
        return ImportFormat.m3u8
    if ext == "json":
        return ImportFormat.json
    if ext == "nml":
        return ImportFormat.nml
    if ext == "xml" or head.startswith(b"<"):
        return ImportFormat.nml if re.search(rb"<NML[\s>]", head) else ImportFormat.rekordbox
    if head[:1] in (b"{", b"["):
        return ImportFormat.json
    if head.startswith((b"#EXTM3U", b"#EXTINF")):
        return ImportFormat.m3u8
    raise Invalid("cannot tell the file's format: name it .m3u8, .xml, .nml or .json, or pass format",
                  code="unknown_format")


def parse_file(data: bytes, fmt: ImportFormat, *, playlist: str | None = None) -> Parsed:
    if not data.strip():
        raise Invalid("the file is empty", code="empty_import")
    if fmt is ImportFormat.m3u8:
        parsed = parse_m3u(_decode(data))
    elif fmt is ImportFormat.json:
        parsed = parse_json(data)
    else:
        root = parse_xml(data)
        parsed = parse_rekordbox(root, playlist=playlist) if fmt is ImportFormat.rekordbox else \
            parse_nml(root, playlist=playlist)
    if not parsed.entries:
        raise Invalid("the file lists no tracks", code="empty_import")
    return parsed


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")  # .m3u files written by older Windows players


def _too_many(count: int) -> None:
    if count > MAX_ENTRIES:
        raise Invalid(f"the file lists more than {MAX_ENTRIES} tracks", code="too_many_entries")


def split_label(label: str) -> list[tuple[str | None, str]]:
    """'A - B - C' -> [('A', 'B - C'), ('A - B', 'C')]: every way to read 'Artist - Title'; a label
    without ' - ' is a title alone."""
    parts = label.split(" - ")
    if len(parts) == 1:
        return [(None, label.strip())]
    return [(" - ".join(parts[:i]).strip(), " - ".join(parts[i:]).strip()) for i in range(1, len(parts))]


def _file_path(text: str) -> str | None:
    """A local path from an M3U line or a file:// URI (None for http and other URLs)."""
    text = text.strip()
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]+://", text):
        parts = urlsplit(text)
        if parts.scheme.lower() != "file":
            return None
        path = unquote(parts.path)
        return path[1:] if re.match(r"^/[A-Za-z]:[\\/]", path) else path  # file:///C:/Music -> C:/Music
    return text


def parse_m3u(text: str) -> Parsed:
    entries: list[Entry] = []
    name = None
    pending: Entry | None = None
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#EXTINF:"):
            head, _, label = line[len("#EXTINF:"):].partition(",")
            number = re.match(r"\s*(-?\d+(?:\.\d+)?)", head)
            duration = float(number.group(1)) if number else None
            pending = Entry(number=0, line=lineno, label=label.strip() or None,
                            duration=duration if duration is not None and duration > 0 else None)
        elif line.startswith("#PLAYLIST:"):
            name = line[len("#PLAYLIST:"):].strip() or None
        elif line.lower().startswith(MISSING_AUDIO_PREFIX):
            entries.append(Entry(number=len(entries) + 1, line=lineno,
                                 label=line[len(MISSING_AUDIO_PREFIX):].strip() or None))
            pending = None
        elif line.startswith("#"):
            continue
        else:
            entry = pending or Entry(number=0, line=lineno)
            entry.number = len(entries) + 1
            entry.path = _file_path(line)
            if entry.label is None:  # a bare path list: "Artist - Title.mp3" names the track
                entry.label = PurePosixPath(line.replace("\\", "/")).stem or None
            entries.append(entry)
            pending = None
        _too_many(len(entries))
    return Parsed(entries=entries, name=name)


def parse_xml(data: bytes) -> Element:
    """Parse untrusted XML: any DTD (and so any entity) is refused; no network, no files."""
    try:
        return safe_fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException:
        raise Invalid("the XML declares a DTD or entities, which imports do not accept",
                      code="unsafe_xml") from None
    except ParseError as exc:
        raise Invalid(f"the file is not well-formed XML ({exc})", code="invalid_xml") from None


def _number(value: str | None) -> float | None:
    try:
        number = float(value) if value not in (None, "") else None
    except ValueError:
        return None
    return number if number and number > 0 else None


def _pick_node(nodes: list[Element], name_attr: str, wanted: str | None, kind: str) -> Element | None:
    """The playlist to import: the one named `wanted`, the only one, or None (use the collection)."""
    if wanted:
        for node in nodes:
            if node.get(name_attr) == wanted:
                return node
        raise Invalid(f"the file has no playlist named {wanted!r}", code="no_such_playlist")
    if len(nodes) > 1:
        names = ", ".join(repr(n.get(name_attr) or "") for n in nodes[:20])
        more = f" and {len(nodes) - 20} more" if len(nodes) > 20 else ""
        raise Invalid(f"the {kind} file has {len(nodes)} playlists ({names}{more}): choose one with "
                      "`playlist`", code="choose_playlist")
    return nodes[0] if nodes else None


def _rekordbox_path(location: str | None) -> str | None:
    if not location:
        return None
    return _file_path(location.replace("file://localhost/", "file:///", 1))


def parse_rekordbox(root: Element, *, playlist: str | None = None) -> Parsed:
    if root.tag != "DJ_PLAYLISTS":
        raise Invalid("not a Rekordbox XML file (its root element is not DJ_PLAYLISTS)", code="invalid_xml")
    tracks = root.findall("./COLLECTION/TRACK")
    _too_many(len(tracks))
    by_id = {t.get("TrackID"): t for t in tracks}
    by_location = {t.get("Location"): t for t in tracks}
    nodes = [n for n in root.iter("NODE") if n.get("Type") == "1"]
    node = _pick_node(nodes, "Name", playlist, "Rekordbox")
    if node is None:
        chosen: list[tuple[str | None, Element | None]] = [(t.get("TrackID"), t) for t in tracks]
        name = None
    else:
        keys = [t.get("Key") for t in node.findall("TRACK")]
        _too_many(len(keys))
        table = by_location if node.get("KeyType") == "1" else by_id
        chosen = [(key, table.get(key)) for key in keys]
        name = node.get("Name")
    entries = []
    for number, (key, track) in enumerate(chosen, start=1):
        if track is None:
            entries.append(Entry(number=number, problem=f"the playlist names track {key!r}, which is not in the "
                                                        "file's COLLECTION"))
            continue
        entries.append(Entry(number=number, artist=track.get("Artist") or None, title=track.get("Name") or None,
                             duration=_number(track.get("TotalTime")), path=_rekordbox_path(track.get("Location"))))
    return Parsed(entries=entries, name=name)


def _nml_key(location: Element | None) -> tuple[str, str | None]:
    """(PRIMARYKEY KEY, path) of a LOCATION element: VOLUME + DIR + FILE, and DIR '/:a/:b/:' as '/a/b/'."""
    if location is None:
        return "", None
    volume, folder, name = (location.get(a) or "" for a in ("VOLUME", "DIR", "FILE"))
    path = folder.replace("/:", "/") + name if name else None
    if path and re.match(r"^[A-Za-z]:$", volume):
        path = volume + path
    return f"{volume}{folder}{name}", path


def parse_nml(root: Element, *, playlist: str | None = None) -> Parsed:
    if root.tag != "NML":
        raise Invalid("not a Traktor NML file (its root element is not NML)", code="invalid_xml")
    collection = root.findall("./COLLECTION/ENTRY")
    _too_many(len(collection))
    by_key = {}
    for element in collection:
        key, _ = _nml_key(element.find("LOCATION"))
        by_key[key] = element
    nodes = [n for n in root.iter("NODE") if n.get("TYPE") == "PLAYLIST"]
    node = _pick_node(nodes, "NAME", playlist, "Traktor")
    if node is None:
        chosen = [(None, e) for e in collection]
        name = None
    else:
        keys = [pk.get("KEY") for pk in node.findall("./PLAYLIST/ENTRY/PRIMARYKEY")]
        _too_many(len(keys))
        chosen = [(key, by_key.get(key)) for key in keys]
        name = node.get("NAME")
    entries = []
    for number, (key, element) in enumerate(chosen, start=1):
        if element is None:
            entries.append(Entry(number=number, path=_file_path((key or "").replace("/:", "/")),
                                 problem="the playlist names a track that is not in the file's COLLECTION"))
            continue
        info = element.find("INFO")
        _, path = _nml_key(element.find("LOCATION"))
        entries.append(Entry(number=number, artist=element.get("ARTIST") or None, title=element.get("TITLE") or None,
                             duration=_number(info.get("PLAYTIME") if info is not None else None), path=path))
    return Parsed(entries=entries, name=name)


def parse_json(data: bytes) -> Parsed:
    try:
        document = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise Invalid(f"the file is not valid JSON ({exc})", code="invalid_json") from None
    name = None
    if isinstance(document, dict):
        playlist = document.get("playlist")
        if isinstance(playlist, dict) and isinstance(playlist.get("name"), str):
            name = playlist["name"]
        elif isinstance(document.get("name"), str):
            name = document["name"]
        items = document.get("items", document.get("tracks"))
    else:
        items = document
    if not isinstance(items, list):
        raise Invalid("JSON imports are a list of tracks, or an object with an `items` list", code="invalid_json")
    _too_many(len(items))
    entries = []
    for number, item in enumerate(items, start=1):
        if isinstance(item, str):
            entries.append(Entry(number=number, label=item.strip() or None))
        elif isinstance(item, dict):
            pk = item.get("track_pk")
            duration = item.get("duration_seconds", item.get("duration"))
            entries.append(Entry(
                number=number, artist=_text(item.get("artist")), title=_text(item.get("title")),
                duration=float(duration) if isinstance(duration, int | float) and duration > 0 else None,
                path=_text(item.get("path")),
                track_pk=pk if isinstance(pk, int) and not isinstance(pk, bool) else None,
            ))
        else:
            entries.append(Entry(number=number, problem="an entry must be an object or an 'Artist - Title' string"))
    return Parsed(entries=entries, name=name)


def _one_line(text: str | None) -> str:
    """A name as one line of printable text (no control characters, which Postgres may refuse)."""
    return " ".join(re.sub(r"[\x00-\x1f\x7f]+", " ", text or "").split())


def _text(value: object) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


# --- matching -------------------------------------------------------------------------------------


def normalize(text: str | None) -> str:
    """Lower case, no accents, '&' as 'and', punctuation as spaces, single spaces."""
    if not text:
        return ""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c)).casefold().replace("&", " and ")
    return " ".join(re.sub(r"[\W_]+", " ", text).split())


def normalize_artist(text: str | None) -> str:
    """As normalize, without Discogs' disambiguation ('Someone (3)') and name-variation ('Other*')
    marks, and without a leading 'The'."""
    if not text:
        return ""
    text = re.sub(r"\s*\(\d+\)", "", text).replace("*", "")
    return re.sub(r"^the ", "", normalize(text))


@dataclass(frozen=True)
class _Candidate:
    pk: int
    title: str
    duration: float | None


class _Index:
    """The tracks the user may read, indexed by path, artist + title and title."""

    def __init__(self, session: Session, user: User) -> None:
        own = set(session.scalars(select(Library.id).where(Library.owner_id == user.id)))
        rows = session.execute(
            select(Track.id, Track.artist, Track.title, Track.duration_seconds, Track.local_audio_path,
                   Track.library_id)
            .where(Track.library_id.in_(visible_library_ids(user)), Track.deleted_at.is_(None))
        ).all()
        rows.sort(key=lambda r: (r.library_id not in own, r.id))  # own libraries first, then oldest
        self.by_pk: dict[int, _Candidate] = {}
        self.by_path: dict[str, _Candidate] = {}
        self.by_name: dict[tuple[str, str], list[_Candidate]] = {}
        self.by_title: dict[str, list[_Candidate]] = {}
        for row in rows:
            candidate = _Candidate(pk=row.id, title=row.title, duration=row.duration_seconds)
            self.by_pk[row.id] = candidate
            if row.local_audio_path:
                self.by_path.setdefault(_path_parts(row.local_audio_path), candidate)
            title = normalize(row.title)
            self.by_name.setdefault((normalize_artist(row.artist), title), []).append(candidate)
            self.by_title.setdefault(title, []).append(candidate)

    def match(self, entry: Entry) -> tuple[int | None, str]:
        """(track pk, "") or (None, why not)."""
        if entry.problem:
            return None, entry.problem
        if entry.track_pk is not None and (found := self.by_pk.get(entry.track_pk)) and \
                normalize(found.title) == normalize(entry.title):
            return found.pk, ""
        if entry.path:
            parts = _path_parts(entry.path).split("/")
            for start in range(len(parts)):
                if found := self.by_path.get("/".join(parts[start:])):
                    return found.pk, ""
        readings = [(entry.artist, entry.title)] if entry.title else []
        if entry.label:
            readings += split_label(entry.label)
        if not readings:
            return None, "the entry has no path, artist or title to match"
        closest: float | None = None
        for artist, title in readings:
            if artist:
                candidates = self.by_name.get((normalize_artist(artist), normalize(title)), [])
            else:
                candidates = self.by_title.get(normalize(title), [])
                if len(candidates) > 1:
                    continue  # a title alone names one track or none
            pk, gap = _by_duration(candidates, entry.duration)
            if pk is not None:
                return pk, ""
            if gap is not None:
                closest = gap if closest is None else min(closest, gap)
        if closest is not None:
            return None, (f"a track with this artist and title exists, but its duration differs by {closest:.0f} s "
                          f"(more than {DURATION_TOLERANCE_SECONDS:.0f} s)")
        what = "path, artist and title" if entry.path else "artist and title"
        return None, f"no track you can read has this {what}"


def _path_parts(path: str) -> str:
    """A path as '/'-joined parts without empty, '.' or drive parts: what suffixes are compared on."""
    parts = [p for p in path.replace("\\", "/").split("/") if p not in ("", ".") and not re.match(r"^[A-Za-z]:$", p)]
    return "/".join(parts)


def _by_duration(candidates: list[_Candidate], duration: float | None) -> tuple[int | None, float | None]:
    """The candidate to use: with both durations known, the closest within the tolerance; else the
    first. (None, smallest gap) when every known duration is too far off."""
    if not candidates:
        return None, None
    if duration is None:
        return candidates[0].pk, None
    gaps = [(abs(c.duration - duration), c) for c in candidates if c.duration is not None]
    close = [(gap, c) for gap, c in gaps if gap <= DURATION_TOLERANCE_SECONDS]
    if close:
        return min(close, key=lambda pair: pair[0])[1].pk, None
    unknown = [c for c in candidates if c.duration is None]
    if unknown:
        return unknown[0].pk, None
    return None, min(gap for gap, _ in gaps)


# --- the import -----------------------------------------------------------------------------------


def import_playlist(
    *, session: Session, user: User, filename: str, chunks: Iterable[bytes], fmt: ImportFormat | str | None = None,
    name: str | None = None, playlist: str | None = None, max_bytes: int = MAX_IMPORT_BYTES,
) -> ImportReport:
    """Create a playlist for `user` from the uploaded file and report what did not match.

    `fmt` is guessed from the file name or content when not given; `playlist` picks one playlist of a
    Rekordbox or Traktor file that holds several; `name` overrides the name found in the file."""
    data = read_limited(chunks, max_bytes=max_bytes)
    fmt = parse_format(fmt) if not isinstance(fmt, ImportFormat) else fmt
    fmt = fmt or guess_format(filename or "", data)
    parsed = parse_file(data, fmt, playlist=playlist or None)
    index = _Index(session, user)
    track_pks: list[int] = []
    unmatched: list[UnmatchedEntry] = []
    for entry in parsed.entries:
        pk, reason = index.match(entry)
        if pk is not None:
            track_pks.append(pk)
            continue
        artist, title = entry.artist, entry.title
        if not title and entry.label:
            artist, title = split_label(entry.label)[0]
        unmatched.append(UnmatchedEntry(entry=entry.number, line=entry.line, artist=artist, title=title,
                                        path=entry.path, reason=reason))
    title = _one_line(name) or _one_line(parsed.name) or _one_line(
        PurePosixPath((filename or "").replace("\\", "/")).stem) or "Imported playlist"
    created = create_playlist(session=session, user=user, name=title[:MAX_NAME],
                              description=f"Imported from {_one_line(filename)}"[:500] if filename else "Imported",
                              track_pks=track_pks)
    return ImportReport(playlist_id=created.id, name=created.name, format=fmt, total=len(parsed.entries),
                        matched=len(track_pks), unmatched=unmatched)
