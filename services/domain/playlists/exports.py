"""A playlist as a file other DJ software reads: Rekordbox XML, Traktor NML, extended M3U, CSV and JSON.

Paths: a track's audio is stored relative to AUDIO_DIR (`Track.local_audio_path`). Absolute paths are
AUDIO_DIR joined with it, or `root` joined with it when the caller names where the audio folder is on
the machine that will read the file (e.g. `/Volumes/USB/audio` or `D:\\Music\\audio`). M3U can also
write paths relative to the audio folder (the file then belongs in that folder).

Tracks without audio: Rekordbox and Traktor need a file for every collection entry, so those tracks are
left out of the XML and named in an XML comment instead (`PlaylistExport.skipped` counts them); M3U
writes them as `# missing audio: Artist - Title` comment lines, so the file still lists the whole set
in order (the import reads those lines back); CSV and JSON list them with an empty path.

Hidden tracks: items whose library is no longer shared with the owner are never written (not even their
names). The file says how many were left out where its format has room: an XML comment in the playlist
(Rekordbox, Traktor), a `# N tracks hidden: ...` comment line in M3U (which the import skips), a
`hidden_tracks` field in JSON; CSV has no comments, so only `PlaylistExport.hidden` (the API's
`X-Hidden-Tracks` header) tells.
"""

from __future__ import annotations

import csv
import io
import json
import re
import unicodedata
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path, PurePosixPath, PureWindowsPath
from urllib.parse import quote

from sqlalchemy import select
from sqlalchemy.orm import Session, load_only

from services.common.audio_files import AudioPathError, resolve_inside
from services.common.camelot import CamelotKey, KeyParseError, key_to_camelot, parse_key
from services.common.models import Playlist, Track, User
from services.common.settings import get_settings
from services.domain.analysis.corrections import tempo_octave
from services.domain.errors import Invalid
from services.domain.playlists.service import get_playlist, hidden_track_count

APP_NAME = "DJ Playlist"
APP_VERSION = "0.1.0"
JSON_FORMAT_NAME = "dj-playlist"
JSON_FORMAT_VERSION = 1

# Rekordbox's Tonality names (flats, except F#); Traktor's MUSICAL_KEY VALUE is the pitch class,
# plus 12 for minor keys (0 = C, 9 = A, 21 = Am).
REKORDBOX_NOTES = ("C", "Db", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
# Both programs store a 0-5 star rating as 0..255 in steps of 51.
STARS_TO_RATING = (0, 51, 102, 153, 204, 255)
KINDS = {".mp3": "MP3 File", ".m4a": "M4A File", ".aac": "AAC File", ".mp4": "M4A File", ".wav": "WAV File",
         ".aif": "AIFF File", ".aiff": "AIFF File", ".flac": "FLAC File", ".ogg": "OGG File", ".oga": "OGG File",
         ".opus": "OPUS File"}
CSV_COLUMNS = ("position", "title", "artist", "album", "year", "genre", "bpm", "key", "camelot", "energy",
               "duration_seconds", "rating", "path", "spotify_url", "apple_music_url", "youtube_url",
               "soundcloud_url", "track_pk", "track_id")
_XML_INVALID = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_WINDOWS_ROOT = re.compile(r"^[A-Za-z]:[\\/]")


class ExportFormat(StrEnum):
    rekordbox = "rekordbox"
    nml = "nml"
    m3u8 = "m3u8"
    csv = "csv"
    json = "json"


class PathStyle(StrEnum):
    absolute = "absolute"
    relative = "relative"


# format -> (file extension, media type)
FILE_TYPES = {
    ExportFormat.rekordbox: ("xml", "application/xml"),
    ExportFormat.nml: ("nml", "application/xml"),
    ExportFormat.m3u8: ("m3u8", "audio/x-mpegurl"),
    ExportFormat.csv: ("csv", "text/csv; charset=utf-8"),
    ExportFormat.json: ("json", "application/json"),
}


@dataclass(frozen=True)
class PlaylistExport:
    content: bytes
    media_type: str
    filename: str  # "<safe playlist name>.<ext>"
    skipped: int  # tracks left out of the file (no audio) or written as comments
    hidden: int = 0  # items left out because the owner may no longer read their track (library unshared)


@dataclass(frozen=True)
class _Item:
    """One playlist entry with everything the writers need, computed once."""

    position: int  # 1-based
    track: Track
    key: CamelotKey | None
    relative: str | None  # the audio path relative to the audio folder (posix), if the track has audio
    absolute: str | None  # that path on the target machine (posix or Windows style)

    @property
    def label(self) -> str:
        return f"{self.track.artist} - {self.track.title}" if self.track.artist else self.track.title


def safe_filename(name: str) -> str:
    """A playlist name as an ASCII file name (accents dropped): letters, digits, spaces and -_.() only;
    never empty, never hidden."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    cleaned = re.sub(r"[^\w .()-]+", "_", ascii_name, flags=re.ASCII)
    cleaned = re.sub(r"\s+", " ", cleaned).strip(" ._")
    return cleaned[:100] or "playlist"


def parse_format(value: str) -> ExportFormat:
    try:
        return ExportFormat(value)
    except ValueError:
        raise Invalid(f"unknown export format {value!r}: use one of {', '.join(f.value for f in ExportFormat)}",
                      code="invalid_format") from None


def export_playlist(
    *, session: Session, user: User, playlist_id: int, fmt: ExportFormat | str,
    paths: PathStyle | str = PathStyle.absolute, root: str | None = None, phrase_cues: bool = False,
) -> PlaylistExport:
    """The user's playlist written as `fmt`; NotFound for anyone else's playlist, Invalid for a bad option.
    `phrase_cues`: Rekordbox and Traktor files also carry a memory cue at each phrase start the analysis found
    (at most MAX_PHRASE_CUES, never on a hot cue pad)."""
    fmt = parse_format(fmt) if not isinstance(fmt, ExportFormat) else fmt
    try:
        style = PathStyle(paths)
    except ValueError:
        raise Invalid("paths must be 'absolute' or 'relative'", code="invalid_paths") from None
    if style is PathStyle.relative and fmt in (ExportFormat.rekordbox, ExportFormat.nml):
        raise Invalid(f"{fmt.value} files need absolute paths: leave paths=absolute (and set root if the "
                      "audio folder is elsewhere on that machine)", code="invalid_paths")
    playlist = get_playlist(session=session, user=user, playlist_id=playlist_id)
    items = _items(playlist, root=_check_root(root))
    if fmt in (ExportFormat.rekordbox, ExportFormat.nml) and items:  # their beat grids: one statement, not one a track
        session.scalars(select(Track).where(Track.id.in_({i.track.id for i in items}))
                        .options(load_only(Track.analysis))).all()
    hidden = hidden_track_count(session=session, playlist=playlist)
    writer = {ExportFormat.rekordbox: _rekordbox, ExportFormat.nml: _nml, ExportFormat.m3u8: _m3u8,
              ExportFormat.csv: _csv, ExportFormat.json: _json}[fmt]
    if phrase_cues and fmt not in (ExportFormat.rekordbox, ExportFormat.nml):
        raise Invalid("phrase cues go into Rekordbox XML and Traktor NML files only", code="invalid_cues")
    options = {"phrase_cues": True} if phrase_cues else {}
    content, skipped = writer(playlist, items, style, hidden, **options)
    ext, media_type = FILE_TYPES[fmt]
    return PlaylistExport(content=content, media_type=media_type, filename=f"{safe_filename(playlist.name)}.{ext}",
                          skipped=skipped, hidden=hidden)


# --- shared ---------------------------------------------------------------------------------------


def _check_root(root: str | None) -> str | None:
    if root is None or root == "":
        return None
    if "\x00" in root or len(root) > 1000 or not (root.startswith("/") or _WINDOWS_ROOT.match(root)):
        raise Invalid("root must be an absolute folder, e.g. /Volumes/USB/audio or D:\\Music\\audio",
                      code="invalid_root")
    return root


def _items(playlist: Playlist, *, root: str | None) -> list[_Item]:
    audio_dir = get_settings().resolved_audio_dir
    items = []
    for index, item in enumerate(playlist.items, start=1):
        track = item.track
        relative = absolute = None
        if track.local_audio_path:
            try:
                resolved = resolve_inside(audio_dir, track.local_audio_path)
                relative = resolved.relative_to(audio_dir.resolve()).as_posix()
            except (AudioPathError, ValueError):
                relative = None
        if relative:
            if root is None:
                absolute = resolved.as_posix()
            elif _WINDOWS_ROOT.match(root):
                absolute = str(PureWindowsPath(root, *PurePosixPath(relative).parts))
            else:
                absolute = PurePosixPath(root, relative).as_posix()
        items.append(_Item(position=index, track=track, key=_key(track), relative=relative, absolute=absolute))
    return items


def _key(track: Track) -> CamelotKey | None:
    try:
        if track.camelot:
            return parse_key(track.camelot)
        if track.key and track.scale:
            return key_to_camelot(track.key, track.scale)
    except KeyParseError:
        return None
    return None


def rekordbox_tonality(key: CamelotKey) -> str:
    """'8A' -> 'Am', '3B' -> 'Db': the names Rekordbox writes in Tonality."""
    return REKORDBOX_NOTES[key.pitch_class] + ("m" if key.is_minor else "")


def traktor_key_value(key: CamelotKey) -> int:
    """Traktor's MUSICAL_KEY VALUE: 0-11 major keys from C, 12-23 minor keys from Cm (21 = Am)."""
    return key.pitch_class + (12 if key.is_minor else 0)


def _rating(track: Track) -> int:
    stars = track.star_rating or 0
    return STARS_TO_RATING[max(0, min(5, stars))]


def _genre(track: Track) -> str:
    return ", ".join(track.styles or track.genres or [])


def _clean(value: object) -> str:
    """Text safe for an XML attribute (characters XML 1.0 forbids removed)."""
    return _XML_INVALID.sub("", str(value))


def _grid(track: Track) -> tuple[float, int] | None:
    """The first beat (seconds) and its place in the bar (1-4) from the analysis, if analysed.

    The analysis fits a constant grid, so one marker at the first beat with the track's BPM is the
    whole grid (how Rekordbox and Traktor store a constant tempo). The bar position comes from the
    first phrase start (a downbeat) when the analysis found one, counted in beats of the tempo in
    effect: a track counted at the other octave (its styles', or the DJ's) has twice or half the
    analysis's beats per bar, and at half tempo the first beat moves onto the downbeat's grid."""
    analysis = track.analysis or {}
    beats = [b for b in analysis.get("beats") or [] if isinstance(b, int | float)]
    if not track.bpm or track.bpm <= 0 or not beats:
        return None
    first = float(beats[0])
    beat_in_bar = 1
    phrases = [p for p in analysis.get("phrase_starts") or [] if isinstance(p, int | float)]
    if phrases:
        downbeat = min(range(len(beats)), key=lambda i: abs(beats[i] - phrases[0]))
        octave = tempo_octave(track)
        if octave < 1:  # every 2nd (4th) analysed beat is a beat: the one the downbeat's grid starts on
            step = round(1 / octave)
            first = float(beats[downbeat % step])  # at or before the downbeat: always one of the beats
            downbeat //= step
        beat_in_bar = -round(downbeat * max(octave, 1.0)) % 4 + 1
    return first, beat_in_bar


MAX_PHRASE_CUES = 8  # CDJs show up to 8 hot cues and about as many memory cues per track


def _phrase_cues(track: Track) -> list[float]:
    """The analysis's phrase starts (seconds, where the track marks a new phrase: a crash on the downbeat),
    in order, inside the track, at most MAX_PHRASE_CUES: the memory cues Mixed In Key-style auto cueing gives."""
    analysis = track.analysis or {}
    starts = sorted({round(float(p), 3) for p in analysis.get("phrase_starts") or []
                     if isinstance(p, int | float) and not isinstance(p, bool) and 0 <= p < 86400})
    length = track.duration_seconds or analysis.get("duration_seconds")
    if isinstance(length, int | float) and length > 0:
        starts = [t for t in starts if t < length]
    return starts[:MAX_PHRASE_CUES]


def _xml_bytes(root: ET.Element) -> bytes:
    ET.indent(root)
    # The prolog as Rekordbox and Traktor write it (ElementTree's own uses single quotes).
    body = ET.tostring(root, encoding="unicode").encode("utf-8")
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + body + b"\n"


def hidden_note(hidden: int) -> str:
    """What an export says about the items it leaves out because their library is no longer shared."""
    return (f"{hidden} track{'' if hidden == 1 else 's'} hidden: their library is no longer shared with you "
            "(not exported)")


def _skipped_comment(parent: ET.Element, missing: list[_Item], hidden: int = 0) -> None:
    for item in missing:
        parent.append(ET.Comment(_clean(f" missing audio: {item.label} ").replace("--", "- -")))
    if hidden:
        parent.append(ET.Comment(f" {hidden_note(hidden)} "))


# --- Rekordbox ------------------------------------------------------------------------------------


def _file_uri(path: str) -> str:
    """file://localhost/ URI of an absolute path, as Rekordbox writes Location (percent-encoded UTF-8)."""
    posix = path.replace("\\", "/")
    return "file://localhost" + ("" if posix.startswith("/") else "/") + quote(posix, safe="/:()")


def _rekordbox(playlist: Playlist, items: list[_Item], _style: PathStyle, hidden: int, *,
               phrase_cues: bool = False) -> tuple[bytes, int]:
    with_audio = [i for i in items if i.absolute]
    missing = [i for i in items if not i.absolute]
    root = ET.Element("DJ_PLAYLISTS", Version="1.0.0")
    ET.SubElement(root, "PRODUCT", Name=APP_NAME, Version=APP_VERSION, Company=APP_NAME)
    collection = ET.SubElement(root, "COLLECTION", Entries=str(len({i.track.id for i in with_audio})))
    track_ids: dict[int, int] = {}  # track pk -> TrackID (a track listed twice has one collection entry)
    for item in with_audio:
        track = item.track
        if track.id in track_ids:
            continue
        track_ids[track.id] = len(track_ids) + 1
        attrs = {"TrackID": str(track_ids[track.id]), "Name": _clean(track.title),
                 "Artist": _clean(track.artist or ""), "Album": _clean(track.album or ""),
                 "Genre": _clean(_genre(track)), "Kind": KINDS.get(Path(item.relative or "").suffix.lower(), ""),
                 "TotalTime": str(round(track.duration_seconds or 0)), "Year": str(track.year or ""),
                 "AverageBpm": f"{track.bpm:.2f}" if track.bpm else "0.00",
                 "Tonality": rekordbox_tonality(item.key) if item.key else "",
                 "Rating": str(_rating(track)), "Comments": _clean(track.notes or ""),
                 "Location": _file_uri(item.absolute)}
        attrs = {k: v for k, v in attrs.items() if v != "" or k in ("Name", "Artist", "Tonality")}
        element = ET.SubElement(collection, "TRACK", attrs)
        if grid := _grid(track):
            first, beat_in_bar = grid
            ET.SubElement(element, "TEMPO", Inizio=f"{first:.3f}", Bpm=f"{track.bpm:.2f}", Metro="4/4",
                          Battito=str(beat_in_bar))
        for number, start in enumerate(_phrase_cues(track) if phrase_cues else [], start=1):
            # Type 0 is a cue (4 a loop), Num -1 a memory cue (0-7 would take hot cues A-H, the DJ's own)
            ET.SubElement(element, "POSITION_MARK", Name=f"Phrase {number}", Type="0", Start=f"{start:.3f}", Num="-1")
    playlists = ET.SubElement(root, "PLAYLISTS")
    folder = ET.SubElement(playlists, "NODE", Type="0", Name="ROOT", Count="1")
    node = ET.SubElement(folder, "NODE", Name=_clean(playlist.name), Type="1", KeyType="0",
                         Entries=str(len(with_audio)))
    for item in with_audio:
        ET.SubElement(node, "TRACK", Key=str(track_ids[item.track.id]))
    _skipped_comment(node, missing, hidden)
    return _xml_bytes(root), len(missing)


# --- Traktor --------------------------------------------------------------------------------------


def traktor_location(path: str) -> tuple[str, str, str]:
    """(VOLUME, DIR, FILE) of an absolute path in Traktor's form: DIR is '/:Music/:House/:'.

    Windows paths keep their drive as the volume ('C:'); POSIX paths have an empty volume (on a Mac
    Traktor names the disk, e.g. 'Macintosh HD', and finds files by DIR and FILE)."""
    if _WINDOWS_ROOT.match(path):
        pure = PureWindowsPath(path)
        volume, parts = pure.drive, pure.parts[1:]
    else:
        pure = PurePosixPath(path)
        volume, parts = "", pure.parts[1:]
    folders, name = parts[:-1], parts[-1]
    return volume, "/:" + "".join(f"{p}/:" for p in folders), name


def traktor_primary_key(path: str) -> str:
    """The playlist's reference to a collection entry: VOLUME + DIR + FILE."""
    volume, folder, name = traktor_location(path)
    return f"{volume}{folder}{name}"


def _nml(playlist: Playlist, items: list[_Item], _style: PathStyle, hidden: int, *,
         phrase_cues: bool = False) -> tuple[bytes, int]:
    with_audio = [i for i in items if i.absolute]
    missing = [i for i in items if not i.absolute]
    root = ET.Element("NML", VERSION="19")
    ET.SubElement(root, "HEAD", COMPANY="www.native-instruments.com", PROGRAM="Traktor")
    ET.SubElement(root, "MUSICFOLDERS")
    unique = list({i.track.id: i for i in with_audio}.values())
    collection = ET.SubElement(root, "COLLECTION", ENTRIES=str(len(unique)))
    for item in unique:
        track = item.track
        entry = ET.SubElement(collection, "ENTRY", TITLE=_clean(track.title), ARTIST=_clean(track.artist or ""))
        volume, folder, name = traktor_location(item.absolute)
        ET.SubElement(entry, "LOCATION", DIR=_clean(folder), FILE=_clean(name), VOLUME=_clean(volume),
                      VOLUMEID=_clean(volume))
        if track.album:
            ET.SubElement(entry, "ALBUM", TITLE=_clean(track.album))
        info = {"GENRE": _clean(_genre(track)), "COMMENT": _clean(track.notes or ""),
                "RANKING": str(_rating(track))}
        if track.duration_seconds:
            info["PLAYTIME"] = str(round(track.duration_seconds))
            info["PLAYTIME_FLOAT"] = f"{track.duration_seconds:.6f}"
        if item.key:
            info["KEY"] = item.key.open_key
        if track.year:
            info["RELEASE_DATE"] = f"{track.year}/1/1"
        ET.SubElement(entry, "INFO", info)
        if track.bpm:
            ET.SubElement(entry, "TEMPO", BPM=f"{track.bpm:.6f}", BPM_QUALITY="100.000000")
        if item.key:
            ET.SubElement(entry, "MUSICAL_KEY", VALUE=str(traktor_key_value(item.key)))
        if grid := _grid(track):
            cue = ET.SubElement(entry, "CUE_V2", NAME="AutoGrid", DISPL_ORDER="0", TYPE="4",
                                START=f"{grid[0] * 1000:.6f}", LEN="0.000000", REPEATS="-1", HOTCUE="-1")
            ET.SubElement(cue, "GRID", BPM=f"{track.bpm:.6f}")
        for number, start in enumerate(_phrase_cues(track) if phrase_cues else [], start=1):
            # TYPE 0 is a cue point; HOTCUE -1 keeps it off the 8 hot cue pads (the DJ's own)
            ET.SubElement(entry, "CUE_V2", NAME=f"Phrase {number}", DISPL_ORDER="0", TYPE="0",
                          START=f"{start * 1000:.6f}", LEN="0.000000", REPEATS="-1", HOTCUE="-1")
    ET.SubElement(root, "SETS", ENTRIES="0")
    playlists = ET.SubElement(root, "PLAYLISTS")
    folder_node = ET.SubElement(playlists, "NODE", TYPE="FOLDER", NAME="$ROOT")
    subnodes = ET.SubElement(folder_node, "SUBNODES", COUNT="1")
    node = ET.SubElement(subnodes, "NODE", TYPE="PLAYLIST", NAME=_clean(playlist.name))
    listing = ET.SubElement(node, "PLAYLIST", ENTRIES=str(len(with_audio)), TYPE="LIST",
                            UUID=uuid.uuid5(uuid.NAMESPACE_URL, f"djp-playlist-{playlist.id}").hex)
    for item in with_audio:
        entry = ET.SubElement(listing, "ENTRY")
        ET.SubElement(entry, "PRIMARYKEY", TYPE="TRACK", KEY=_clean(traktor_primary_key(item.absolute)))
    _skipped_comment(listing, missing, hidden)
    return _xml_bytes(root), len(missing)


# --- M3U, CSV, JSON -------------------------------------------------------------------------------


def _one_line(text: str) -> str:
    return re.sub(r"[\r\n]+", " ", text)


def _path(item: _Item, style: PathStyle) -> str | None:
    return item.relative if style is PathStyle.relative else item.absolute


def _m3u8(playlist: Playlist, items: list[_Item], style: PathStyle, hidden: int) -> tuple[bytes, int]:
    lines = ["#EXTM3U", f"#PLAYLIST:{_one_line(playlist.name)}"]
    if hidden:
        lines.append(f"# {hidden_note(hidden)}")
    missing = 0
    for item in items:
        path = _path(item, style)
        if not path:
            missing += 1
            lines.append(f"# missing audio: {_one_line(item.label)}")
            continue
        seconds = round(item.track.duration_seconds) if item.track.duration_seconds else -1
        lines.append(f"#EXTINF:{seconds},{_one_line(item.label)}")
        lines.append(_one_line(path))
    return ("\n".join(lines) + "\n").encode("utf-8"), missing


def _row(item: _Item, style: PathStyle) -> dict:
    track = item.track
    return {
        "position": item.position, "track_pk": track.id, "track_id": track.track_id, "title": track.title,
        "artist": track.artist, "album": track.album, "year": track.year, "genre": _genre(track) or None,
        "bpm": track.bpm, "key": item.key.musical if item.key else None,
        "camelot": str(item.key) if item.key else None, "energy": track.energy,
        "duration_seconds": track.duration_seconds, "rating": track.star_rating, "path": _path(item, style),
        "spotify_url": track.spotify_url, "apple_music_url": track.apple_music_url,
        "youtube_url": track.youtube_url, "soundcloud_url": track.soundcloud_url,
    }


def _csv_cell(value: object) -> object:
    """Text that a spreadsheet would run as a formula is prefixed with ' (CSV injection)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return "" if value is None else value


def _csv(playlist: Playlist, items: list[_Item], style: PathStyle, _hidden: int) -> tuple[bytes, int]:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, extrasaction="ignore", lineterminator="\r\n")
    writer.writeheader()
    for item in items:
        writer.writerow({k: _csv_cell(v) for k, v in _row(item, style).items()})
    # A BOM so spreadsheet programs read the file as UTF-8.
    return ("\ufeff" + out.getvalue()).encode("utf-8"), 0


def _json(playlist: Playlist, items: list[_Item], style: PathStyle, hidden: int) -> tuple[bytes, int]:
    document = {
        "format": JSON_FORMAT_NAME, "version": JSON_FORMAT_VERSION, "exported_at": datetime.now(UTC).isoformat(),
        "paths": style.value,
        "playlist": {
            "id": playlist.id, "name": playlist.name, "description": playlist.description,
            "created_at": playlist.created_at.isoformat() if playlist.created_at else None,
            "updated_at": playlist.updated_at.isoformat() if playlist.updated_at else None,
            "track_count": len(items),
            "hidden_tracks": hidden,  # items not exported: their library is no longer shared
            "duration_seconds": round(sum(i.track.duration_seconds or 0 for i in items), 2),
        },
        "items": [_row(item, style) for item in items],
    }
    return json.dumps(document, ensure_ascii=False, indent=2).encode("utf-8"), 0
