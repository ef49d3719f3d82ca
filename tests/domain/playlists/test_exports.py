"""Playlist exports, read back by real parsers: pyrekordbox (Rekordbox XML), traktor-nml-utils and lxml
(Traktor NML), m3u8 (extended M3U), csv and json."""

from __future__ import annotations

import csv
import io
import json
import re
from urllib.parse import unquote

import m3u8
import pytest
from lxml import etree
from traktor_nml_utils import TraktorCollection

from services.common.models import PlaylistTrack, User
from services.common.settings import get_settings
from services.domain.errors import Invalid, NotFound
from services.domain.playlists.exports import ExportFormat, export_playlist, safe_filename
from services.domain.playlists.service import create_playlist
from tests.domain.playlists.helpers import ORDER, make_tracks, rekordbox_xml_class
from tests.statements import captured_statements


@pytest.fixture
def setlist(db_session, owner_library):
    """(user, playlist, tracks by title): the playlist holds ORDER, one track (Ghost) without audio."""
    user, library = owner_library
    tracks = make_tracks(db_session, library)
    playlist = create_playlist(session=db_session, user=user, name="Friday: Late/Set",
                               track_pks=[tracks[t].id for t in ORDER])
    return user, playlist, tracks


def _export(session, user, playlist, fmt, **options):
    return export_playlist(session=session, user=user, playlist_id=playlist.id, fmt=fmt, **options)


def _abs(track) -> str:
    return (get_settings().resolved_audio_dir.resolve() / track.local_audio_path).as_posix()


def test_rekordbox_xml_read_by_pyrekordbox(db_session, setlist, tmp_path):
    user, playlist, tracks = setlist
    result = _export(db_session, user, playlist, "rekordbox")
    assert result.media_type == "application/xml" and result.filename == "Friday_ Late_Set.xml"
    assert result.skipped == 1  # Ghost has no audio
    path = tmp_path / "set.xml"
    path.write_bytes(result.content)

    xml = rekordbox_xml_class()(path)
    assert xml.frmt_version == "1.0.0" and xml.product_name == "DJ Playlist"
    assert xml.num_tracks == 3
    by_name = {t["Name"]: t for t in xml.get_tracks()}
    assert set(by_name) == {"Opener", "Peak", "Closer"}

    opener = by_name["Opener"]
    assert opener["Artist"] == "Ann & Co" and opener["Album"] == "First Light" and opener["Year"] == 2001
    assert opener["AverageBpm"] == 122.0 and opener["Tonality"] == "Am" and opener["TotalTime"] == 301
    assert opener["Rating"] == 4 and opener["Genre"] == "Deep House" and opener["Comments"] == "warm-up"
    assert opener["Kind"] == "MP3 File"
    # pyrekordbox drops the leading "/" of a POSIX path when it decodes file://localhost/...
    assert opener["Location"] == _abs(tracks["Opener"]).lstrip("/")
    raw = opener._element.get("Location")
    assert raw.startswith("file://localhost/") and " " not in raw and "%20" in raw and "%C3%A9" in raw
    assert "%25" in raw and "%26" in raw  # "%" and "&" in the file name are escaped too
    assert unquote(raw.removeprefix("file://localhost")) == _abs(tracks["Opener"])
    # the beat grid: one TEMPO at the first beat, the downbeat (phrase start) two beats later
    [tempo] = opener.tempos
    assert (tempo["Inizio"], tempo["Bpm"], tempo["Metro"], tempo["Battito"]) == (0.52, 122.0, "4/4", 3)

    assert by_name["Peak"]["Tonality"] == "Db" and by_name["Peak"]["Genre"] == "Electronic"
    assert by_name["Peak"].tempos[0]["Battito"] == 1 and by_name["Peak"]["Kind"] == "FLAC File"
    assert by_name["Closer"]["Tonality"] == "F#m" and by_name["Closer"].tempos == []  # not analysed: no grid
    assert by_name["Closer"]["TotalTime"] == 0

    node = xml.get_playlist("Friday: Late/Set")
    assert node.is_playlist and node.key_type == "TrackID" and node.entries == 3
    ids = {t["TrackID"]: t["Name"] for t in xml.get_tracks()}
    assert [ids[key] for key in node.get_tracks()] == ["Peak", "Opener", "Closer"]
    assert b"missing audio: Nobody - Ghost" in result.content


def test_rekordbox_track_twice_is_one_collection_entry(db_session, setlist, tmp_path):
    user, playlist, tracks = setlist
    playlist.items.append(PlaylistTrack(track_pk=tracks["Peak"].id, position=len(ORDER)))
    db_session.flush()
    path = tmp_path / "set.xml"
    path.write_bytes(_export(db_session, user, playlist, "rekordbox").content)
    xml = rekordbox_xml_class()(path)
    assert xml.num_tracks == 3
    keys = xml.get_playlist("Friday: Late/Set").get_tracks()
    assert len(keys) == 4 and keys[0] == keys[-1]


def test_rekordbox_and_nml_under_another_root(db_session, setlist, tmp_path):
    user, playlist, tracks = setlist
    result = _export(db_session, user, playlist, "rekordbox", root="D:\\Music\\audio")
    path = tmp_path / "win.xml"
    path.write_bytes(result.content)
    opener = next(t for t in rekordbox_xml_class()(path).get_tracks() if t["Name"] == "Opener")
    assert opener._element.get("Location").startswith("file://localhost/D:/Music/audio/library_")
    nml = etree.fromstring(_export(db_session, user, playlist, "nml", root="D:\\Music\\audio").content)
    location = nml.find("COLLECTION/ENTRY/LOCATION")
    assert location.get("VOLUME") == "D:" and location.get("DIR").startswith("/:Music/:audio/:library_")
    m3u = _export(db_session, user, playlist, "m3u8", root="/Volumes/USB/audio").content.decode()
    assert f"/Volumes/USB/audio/{tracks['Peak'].local_audio_path}" in m3u.splitlines()
    with pytest.raises(Invalid) as bad:
        _export(db_session, user, playlist, "m3u8", root="relative/dir")
    assert bad.value.code == "invalid_root"


def test_nml_structure_and_keys(db_session, setlist, tmp_path):
    user, playlist, tracks = setlist
    result = _export(db_session, user, playlist, ExportFormat.nml)
    assert result.filename.endswith(".nml") and result.skipped == 1
    root = etree.fromstring(result.content)
    assert root.tag == "NML" and root.get("VERSION") == "19"
    assert root.find("HEAD").get("PROGRAM") == "Traktor"
    entries = root.findall("COLLECTION/ENTRY")
    assert root.find("COLLECTION").get("ENTRIES") == "3" and len(entries) == 3
    by_title = {e.get("TITLE"): e for e in entries}

    opener = by_title["Opener"]
    assert opener.get("ARTIST") == "Ann & Co" and opener.find("ALBUM").get("TITLE") == "First Light"
    location = opener.find("LOCATION")
    audio_dir = get_settings().resolved_audio_dir.resolve()
    assert location.get("DIR") == "/:" + "".join(f"{p}/:" for p in audio_dir.parts[1:]) + \
        f"library_{tracks['Opener'].library_id}/:"
    assert location.get("FILE") == "Ann & Co - Opener é 100%.mp3" and location.get("VOLUME") == ""
    info = opener.find("INFO")
    assert (info.get("PLAYTIME"), info.get("GENRE"), info.get("RANKING"), info.get("KEY")) == \
        ("301", "Deep House", "204", "1m")
    assert float(opener.find("TEMPO").get("BPM")) == 122.0
    assert opener.find("MUSICAL_KEY").get("VALUE") == "21"  # A minor
    [grid] = opener.findall("CUE_V2")
    assert grid.get("TYPE") == "4" and float(grid.get("START")) == pytest.approx(520.0)  # milliseconds
    assert float(grid.find("GRID").get("BPM")) == 122.0
    assert by_title["Peak"].find("MUSICAL_KEY").get("VALUE") == "1"  # D flat major
    assert by_title["Closer"].find("MUSICAL_KEY").get("VALUE") == "18"  # F sharp minor
    assert by_title["Closer"].find("CUE_V2") is None

    [node] = root.findall("PLAYLISTS/NODE/SUBNODES/NODE")
    assert root.find("PLAYLISTS/NODE").get("TYPE") == "FOLDER" and root.find("PLAYLISTS/NODE").get("NAME") == "$ROOT"
    assert node.get("TYPE") == "PLAYLIST" and node.get("NAME") == "Friday: Late/Set"
    assert node.find("PLAYLIST").get("ENTRIES") == "3"
    keys = [pk.get("KEY") for pk in node.findall("PLAYLIST/ENTRY/PRIMARYKEY")]
    assert all(pk.get("TYPE") == "TRACK" for pk in node.findall("PLAYLIST/ENTRY/PRIMARYKEY"))
    entry_key = {e.get("TITLE"): "".join(e.find("LOCATION").get(a) for a in ("VOLUME", "DIR", "FILE"))
                 for e in entries}
    assert keys == [entry_key["Peak"], entry_key["Opener"], entry_key["Closer"]]

    # Traktor's own schema (as traktor-nml-utils models it) reads the file
    path = tmp_path / "set.nml"
    path.write_bytes(result.content)
    collection = TraktorCollection(path=path)
    assert [e.title for e in collection.nml.collection.entry] == [e.get("TITLE") for e in entries]
    parsed = {e.title: e for e in collection.nml.collection.entry}
    assert [e.musical_key.value_attribute for e in collection.nml.collection.entry] == [1, 21, 18]
    assert parsed["Opener"].info.playtime == 301 and parsed["Opener"].tempo.bpm == 122.0
    assert parsed["Opener"].location.file == "Ann & Co - Opener é 100%.mp3"
    assert [(c.type, c.start) for c in parsed["Opener"].cue_v2] == [(4, 520.0)]
    listing = collection.nml.playlists.node.subnodes.node[0].playlist
    assert [e.primarykey.key for e in listing.entry] == keys


def test_m3u8_absolute_and_relative(db_session, setlist):
    user, playlist, tracks = setlist
    result = _export(db_session, user, playlist, "m3u8")
    assert result.media_type == "audio/x-mpegurl" and result.filename.endswith(".m3u8") and result.skipped == 1
    text = result.content.decode("utf-8")
    assert text.startswith("#EXTM3U\n")
    parsed = m3u8.loads(text)
    assert [s.uri for s in parsed.segments] == [_abs(tracks[t]) for t in ("Peak", "Opener", "Closer")]
    assert [s.title for s in parsed.segments] == ["Bee - Peak", "Ann & Co - Opener", "=cmd|' /C calc'!A0 - Closer"]
    assert [s.duration for s in parsed.segments] == [245, 301, -1]
    lines = text.splitlines()
    assert lines.index("# missing audio: Nobody - Ghost") == lines.index("#EXTINF:245,Bee - Peak") + 2

    relative = m3u8.loads(_export(db_session, user, playlist, "m3u8", paths="relative").content.decode())
    assert [s.uri for s in relative.segments] == [tracks[t].local_audio_path for t in ("Peak", "Opener", "Closer")]
    assert not any(s.uri.startswith("/") for s in relative.segments)


def test_csv_rows(db_session, setlist):
    user, playlist, tracks = setlist
    result = _export(db_session, user, playlist, "csv")
    assert result.media_type.startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(result.content.decode("utf-8-sig"))))
    assert [r["title"] for r in rows] == ORDER and [r["position"] for r in rows] == ["1", "2", "3", "4"]
    peak, ghost, opener, closer = rows
    assert (opener["artist"], opener["album"], opener["bpm"], opener["key"], opener["camelot"], opener["energy"],
            opener["duration_seconds"]) == ("Ann & Co", "First Light", "122.0", "Am", "8A", "4.0", "301.4")
    assert opener["path"] == _abs(tracks["Opener"]) and opener["spotify_url"] == "https://open.spotify.com/track/abc"
    assert ghost["path"] == "" and ghost["bpm"] == ""
    assert closer["artist"] == "'=cmd|' /C calc'!A0"  # a formula is never written as one
    assert peak["key"] == "C#" and peak["camelot"] == "3B"


def test_json_document(db_session, setlist):
    user, playlist, tracks = setlist
    result = export_playlist(session=db_session, user=user, playlist_id=playlist.id, fmt="json", paths="relative")
    document = json.loads(result.content)
    assert document["format"] == "dj-playlist" and document["version"] == 1 and document["paths"] == "relative"
    assert document["playlist"]["name"] == "Friday: Late/Set" and document["playlist"]["track_count"] == 4
    assert document["playlist"]["duration_seconds"] == pytest.approx(301.4 + 245 + 200)
    items = document["items"]
    assert [i["title"] for i in items] == ORDER and [i["track_pk"] for i in items] == [tracks[t].id for t in ORDER]
    assert items[2]["path"] == tracks["Opener"].local_audio_path and items[1]["path"] is None
    assert items[2]["camelot"] == "8A" and items[2]["key"] == "Am" and items[2]["rating"] == 4


def test_empty_playlist_and_bad_options(db_session, owner_library):
    user, _ = owner_library
    empty = create_playlist(session=db_session, user=user, name="...")
    for fmt in ExportFormat:
        result = _export(db_session, user, empty, fmt)
        assert result.filename == f"playlist.{result.filename.rsplit('.', 1)[1]}" and result.content
    assert etree.fromstring(_export(db_session, user, empty, "rekordbox").content).find("COLLECTION") \
        .get("Entries") == "0"
    with pytest.raises(Invalid) as bad:
        _export(db_session, user, empty, "mp3")
    assert bad.value.code == "invalid_format"
    with pytest.raises(Invalid):
        _export(db_session, user, empty, "rekordbox", paths="relative")
    with pytest.raises(Invalid):
        _export(db_session, user, empty, "m3u8", paths="sideways")


def test_another_users_playlist_is_not_found(db_session, setlist):
    _, playlist, _ = setlist
    other = User(username="other", password_hash="x")
    db_session.add(other)
    db_session.flush()
    with pytest.raises(NotFound):
        _export(db_session, other, playlist, "json")


def test_control_characters_never_break_the_xml(db_session, owner_library):
    user, library = owner_library
    tracks = make_tracks(db_session, library)
    tracks["Peak"].title = "Bad\x01Name\x1f"
    db_session.flush()
    playlist = create_playlist(session=db_session, user=user, name="x\x07y", track_pks=[tracks["Peak"].id])
    for fmt in ("rekordbox", "nml"):
        root = etree.fromstring(_export(db_session, user, playlist, fmt).content)
        assert "BadName" in etree.tostring(root).decode()


def test_safe_filename():
    assert safe_filename("../../etc/passwd") == "etc_passwd"
    assert safe_filename('Set: 2024 "best"') == "Set_ 2024 _best"
    assert safe_filename("Été à Paris") == "Ete a Paris"
    assert safe_filename("") == safe_filename("///") == "playlist"


def test_beat_grids_are_read_in_one_statement_not_one_a_track(db_session, setlist):
    """Tracks load without their analysis document; the Rekordbox writer needs it for every track's grid."""
    user, playlist, _tracks = setlist
    db_session.expire_all()  # as in a fresh request: nothing loaded yet
    with captured_statements(db_session.get_bind()) as statements:
        result = _export(db_session, user, playlist, "rekordbox")
    assert result.content.count(b"<TEMPO ") == 2  # Opener and Peak are analysed
    reads = [sql for sql, _ in statements if re.search(r"tracks\.analysis\b(?!\s*(->|\[))", sql)]
    assert len(reads) == 1, reads


@pytest.mark.parametrize(("bpm", "phrase", "inizio", "battito"), [
    (122.0, 1.503, "0.520", "3"),   # as analysed: the downbeat two beats after the first beat
    (244.0, 1.503, "0.520", "1"),   # counted at double time (its styles', or the DJ's): four beats later
    (61.0, 1.503, "0.520", "4"),    # half time: one slow beat later
    (61.0, 1.011, "1.011", "1"),    # half time, the first beat an off-beat of the slow grid: moved onto it
    (121.5, 1.995, "0.520", "2"),   # a slight correction keeps the analysed grid's bars
])
def test_the_beat_grid_is_counted_in_the_tempo_in_effect(db_session, setlist, bpm, phrase, inizio, battito):
    user, playlist, tracks = setlist
    opener = tracks["Opener"]
    opener.bpm = bpm
    opener.analysis = {**opener.analysis, "bpm": 122.0, "phrase_starts": [phrase]}
    db_session.flush()
    root = etree.fromstring(_export(db_session, user, playlist, "rekordbox").content)
    (tempo,) = root.xpath("//COLLECTION/TRACK[@Name='Opener']/TEMPO")
    assert (tempo.get("Inizio"), tempo.get("Bpm"), tempo.get("Battito")) == (inizio, f"{bpm:.2f}", battito)


def test_phrase_cues_are_memory_cues_in_rekordbox_and_traktor(db_session, setlist, tmp_path):
    user, playlist, tracks = setlist
    opener = tracks["Opener"]
    # out of order, repeated, past the end (301.4 s), negative, not a number: two cues are left
    opener.analysis = {**opener.analysis, "phrase_starts": [30.0, 1.503, 9999.0, 1.503, -1.0, "x", True]}
    db_session.flush()
    plain = _export(db_session, user, playlist, "rekordbox")
    assert b"POSITION_MARK" not in plain.content  # only when asked: a DJ's own cues are theirs

    path = tmp_path / "cues.xml"
    path.write_bytes(_export(db_session, user, playlist, "rekordbox", phrase_cues=True).content)
    by_name = {t["Name"]: t for t in rekordbox_xml_class()(path).get_tracks()}
    marks = [(m["Name"], m["Type"], m["Start"], m["Num"]) for m in by_name["Opener"].marks]
    assert marks == [("Phrase 1", "cue", 1.503, -1), ("Phrase 2", "cue", 30.0, -1)]  # memory cues, no hot cue
    assert by_name["Peak"].marks == [] and by_name["Closer"].marks == []  # no phrases found: no cues

    root = etree.fromstring(_export(db_session, user, playlist, "nml", phrase_cues=True).content)
    entry = next(e for e in root.findall("COLLECTION/ENTRY") if e.get("TITLE") == "Opener")
    cues = [(c.get("NAME"), c.get("TYPE"), c.get("START"), c.get("HOTCUE")) for c in entry.findall("CUE_V2")]
    assert cues == [("AutoGrid", "4", cues[0][2], "-1"), ("Phrase 1", "0", "1503.000000", "-1"),
                    ("Phrase 2", "0", "30000.000000", "-1")]

    many = {**opener.analysis, "phrase_starts": [float(i * 15) for i in range(20)]}
    opener.analysis = many
    db_session.flush()
    path.write_bytes(_export(db_session, user, playlist, "rekordbox", phrase_cues=True).content)
    opener_marks = {t["Name"]: t for t in rekordbox_xml_class()(path).get_tracks()}["Opener"].marks
    assert [m["Start"] for m in opener_marks] == [float(i * 15) for i in range(8)]  # at most 8
    with pytest.raises(Invalid) as refused:
        _export(db_session, user, playlist, "m3u8", phrase_cues=True)
    assert refused.value.code == "invalid_cues"
