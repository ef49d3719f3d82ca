"""Playlist imports: round trips through every export format, matching rules, limits and hostile XML."""

from __future__ import annotations

import json

import pytest

from services.common.models import LibraryShare, Track, User
from services.domain.errors import Invalid, TooLarge
from services.domain.playlists import imports
from services.domain.playlists.exports import export_playlist
from services.domain.playlists.imports import import_playlist, normalize, normalize_artist, split_label
from services.domain.playlists.service import create_playlist, get_playlist
from tests.domain.playlists.helpers import ORDER, make_library, make_tracks

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<DJ_PLAYLISTS Version="1.0.0"><COLLECTION Entries="1"><TRACK TrackID="1" Name="&lol4;"/></COLLECTION>
</DJ_PLAYLISTS>"""
XXE = b"""<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<DJ_PLAYLISTS Version="1.0.0"><COLLECTION Entries="1"><TRACK TrackID="1" Name="&xxe;"/></COLLECTION>
</DJ_PLAYLISTS>"""


@pytest.fixture
def setlist(db_session, owner_library):
    user, library = owner_library
    tracks = make_tracks(db_session, library)
    playlist = create_playlist(session=db_session, user=user, name="Friday", track_pks=[tracks[t].id for t in ORDER])
    return user, playlist, tracks


def _import(session, user, data: bytes | str, filename: str = "list.m3u8", **options):
    data = data.encode() if isinstance(data, str) else data
    return import_playlist(session=session, user=user, filename=filename, chunks=[data], **options)


def _titles(session, user, report) -> list[str]:
    return [i.track.title for i in get_playlist(session=session, user=user, playlist_id=report.playlist_id).items]


@pytest.mark.parametrize("fmt, paths, ext", [
    ("m3u8", "absolute", "m3u8"), ("m3u8", "relative", "m3u8"), ("rekordbox", "absolute", "xml"),
    ("nml", "absolute", "nml"), ("json", "absolute", "json"), ("csv", "absolute", None),
])
def test_round_trip_keeps_the_order(db_session, setlist, fmt, paths, ext):
    user, playlist, _ = setlist
    exported = export_playlist(session=db_session, user=user, playlist_id=playlist.id, fmt=fmt, paths=paths)
    if ext is None:  # CSV is an export only
        with pytest.raises(Invalid):
            _import(db_session, user, exported.content, filename=exported.filename)
        return
    report = _import(db_session, user, exported.content, filename=exported.filename)
    assert report.playlist_id != playlist.id and report.unmatched == []
    expected = ORDER if fmt in ("m3u8", "json") else [t for t in ORDER if t != "Ghost"]  # XML leaves it out
    assert _titles(db_session, user, report) == expected
    assert report.matched == report.total == len(expected)
    assert report.format.value == fmt and report.name == "Friday"


def test_path_matches_before_names_and_in_any_root(db_session, setlist):
    user, _, tracks = setlist
    peak = tracks["Peak"].local_audio_path
    text = (f"#EXTM3U\n#EXTINF:100,Ann & Co - Opener\n/Volumes/USB/audio/{peak}\n"
            f"D:\\Music\\audio\\{peak.replace('/', chr(92))}\nfile:///srv/audio/{peak}\n{peak}\n")
    report = _import(db_session, user, text, name="By path")
    assert report.name == "By path" and report.unmatched == []
    assert _titles(db_session, user, report) == ["Peak"] * 4  # the path wins over the EXTINF names


def test_artist_title_and_closest_duration(db_session, owner_library):
    user, library = owner_library
    short = Track(track_id="9-1", library_id=library.id, title="Twin Track", artist="The Duo (2)",
                  duration_seconds=200)
    long = Track(track_id="9-2", library_id=library.id, title="Twin Track", artist="Duo*", duration_seconds=300)
    db_session.add_all([short, long])
    db_session.flush()
    text = ("#EXTM3U\n#EXTINF:298,duo - TWIN track\nmissing/one.mp3\n"
            "#EXTINF:201,Duo - Twin Track!\nnowhere.mp3\n"
            "#EXTINF:250,Duo - Twin Track\nnowhere.mp3\n"
            "#EXTINF:-1,Duo - Twin Track\nnowhere.mp3\n"
            "#EXTINF:10,Somebody - Else\nnowhere.mp3\n")
    report = _import(db_session, user, text)
    pks = [i.track_pk for i in get_playlist(session=db_session, user=user, playlist_id=report.playlist_id).items]
    assert pks == [long.id, short.id, short.id]  # closest within 3 s; unknown duration: the oldest
    assert [(u.entry, u.line, u.artist, u.title) for u in report.unmatched] == \
        [(3, 6, "Duo", "Twin Track"), (5, 10, "Somebody", "Else")]
    assert "differs by 50 s" in report.unmatched[0].reason
    assert report.unmatched[1].reason.startswith("no track you can read")
    assert report.total == 5 and report.matched == 3


def test_other_users_tracks_never_match_shared_ones_do(db_session, owner_library):
    user, _ = owner_library
    bob = User(username="bob", password_hash="x")
    db_session.add(bob)
    db_session.flush()
    private = make_tracks(db_session, make_library(db_session, bob.id, "bob's"))
    text = f"#EXTM3U\n#EXTINF:245,Bee - Peak\n{private['Peak'].local_audio_path}\n"
    doc = json.dumps({"items": [{"track_pk": private["Opener"].id, "title": "Opener"}]})
    for data, filename in ((text, "a.m3u8"), (doc, "a.json")):
        report = _import(db_session, user, data, filename=filename)
        assert report.matched == 0 and len(report.unmatched) == 1
        assert get_playlist(session=db_session, user=user, playlist_id=report.playlist_id).items == []

    shared_library = private["Peak"].library_id
    db_session.add(LibraryShare(library_id=shared_library, user_id=user.id))
    db_session.flush()
    report = _import(db_session, user, text)
    assert report.matched == 1 and _titles(db_session, user, report) == ["Peak"]


def test_own_library_wins_over_a_shared_one(db_session, owner_library):
    user, library = owner_library
    bob = User(username="bob", password_hash="x")
    db_session.add(bob)
    db_session.flush()
    theirs = make_tracks(db_session, make_library(db_session, bob.id, "bob's"))  # created first: lower ids
    db_session.add(LibraryShare(library_id=theirs["Peak"].library_id, user_id=user.id))
    mine = make_tracks(db_session, library)
    report = _import(db_session, user, "#EXTM3U\n#EXTINF:245,Bee - Peak\nelsewhere.mp3\n")
    items = get_playlist(session=db_session, user=user, playlist_id=report.playlist_id).items
    assert [i.track_pk for i in items] == [mine["Peak"].id]


def test_json_plain_lists_and_our_track_pks(db_session, setlist):
    user, _, tracks = setlist
    plain = json.dumps(["Bee - Peak", {"artist": "Ann & Co", "title": "Opener", "duration": 300},
                        {"title": "Closer"}, 42, {"title": "Peak", "track_pk": tracks["Opener"].id}])
    report = _import(db_session, user, plain, filename="upload.bin")
    assert report.format.value == "json" and report.name == "upload"
    # a track_pk whose title disagrees (another server's id) falls back to the title: Peak
    assert _titles(db_session, user, report) == ["Peak", "Opener", "Closer", "Peak"]
    assert [(u.entry, u.reason) for u in report.unmatched] == [
        (4, "an entry must be an object or an 'Artist - Title' string")]


def test_rekordbox_file_with_several_playlists(db_session, setlist):
    user, _, tracks = setlist
    location = "file://localhost/anywhere/" + tracks["Peak"].local_audio_path.replace(" ", "%20")
    xml = f"""<?xml version="1.0" encoding="UTF-8"?>
<DJ_PLAYLISTS Version="1.0.0"><PRODUCT Name="rekordbox" Version="6.8.5" Company="AlphaTheta"/>
<COLLECTION Entries="2">
 <TRACK TrackID="7" Name="Opener" Artist="Ann &amp; Co" TotalTime="301" Location="file://localhost/x/y.mp3"/>
 <TRACK TrackID="9" Name="Something" Artist="Else" Location="{location}"/>
</COLLECTION>
<PLAYLISTS><NODE Type="0" Name="ROOT" Count="2">
 <NODE Type="0" Name="Folder" Count="1"><NODE Name="Warm up" Type="1" KeyType="0" Entries="3">
  <TRACK Key="9"/><TRACK Key="7"/><TRACK Key="8"/></NODE></NODE>
 <NODE Name="Peak time" Type="1" KeyType="1" Entries="1"><TRACK Key="{location}"/></NODE>
</NODE></PLAYLISTS></DJ_PLAYLISTS>"""
    with pytest.raises(Invalid) as choose:
        _import(db_session, user, xml, filename="rekordbox.xml")
    assert choose.value.code == "choose_playlist" and "'Warm up', 'Peak time'" in choose.value.detail
    report = _import(db_session, user, xml, filename="rekordbox.xml", playlist="Warm up")
    assert report.name == "Warm up" and _titles(db_session, user, report) == ["Peak", "Opener"]
    assert [(u.entry, u.reason) for u in report.unmatched] == [
        (3, "the playlist names track '8', which is not in the file's COLLECTION")]
    by_location = _import(db_session, user, xml, filename="rekordbox.xml", playlist="Peak time", name="Mine")
    assert by_location.name == "Mine" and _titles(db_session, user, by_location) == ["Peak"]
    with pytest.raises(Invalid) as missing:
        _import(db_session, user, xml, filename="rekordbox.xml", playlist="Nope")
    assert missing.value.code == "no_such_playlist"


@pytest.mark.parametrize("payload", [BILLION_LAUGHS, XXE])
@pytest.mark.parametrize("filename", ["evil.xml", "evil.nml", "evil"])
def test_hostile_xml_is_refused(db_session, owner_library, payload, filename):
    user, _ = owner_library
    with pytest.raises(Invalid) as refused:
        _import(db_session, user, payload, filename=filename)
    assert refused.value.code == "unsafe_xml"


def test_limits_and_bad_files(db_session, owner_library, monkeypatch):
    user, _ = owner_library
    chunks = (b"#EXTINF:1,a - b\nx.mp3\n" for _ in range(10**6))  # never read to the end
    with pytest.raises(TooLarge):
        import_playlist(session=db_session, user=user, filename="big.m3u8", chunks=chunks)
    many = "#EXTM3U\n" + "x.mp3\n" * (imports.MAX_ENTRIES + 1)
    with pytest.raises(Invalid) as too_many:
        _import(db_session, user, many)
    assert too_many.value.code == "too_many_entries"
    for data, filename, code in [
        (b"", "a.m3u8", "empty_import"), (b"#EXTM3U\n# nothing\n", "a.m3u8", "empty_import"),
        (b"<DJ_PLAYLISTS><COLLECTION>", "a.xml", "invalid_xml"), (b"<html/>", "a.xml", "invalid_xml"),
        (b"{not json", "a.json", "invalid_json"), (b'{"items": 3}', "a.json", "invalid_json"),
        (b"\x00\x01binary", "a.bin", "unknown_format"),
    ]:
        with pytest.raises(Invalid) as bad:
            _import(db_session, user, data, filename=filename)
        assert bad.value.code == code, (data, bad.value.detail)
    with pytest.raises(Invalid) as bad_format:
        _import(db_session, user, "x", fmt="wav")
    assert bad_format.value.code == "invalid_format"


def test_plain_path_lists_and_latin1_m3u(db_session, setlist):
    user, _, _ = setlist
    # an old-style .m3u: no #EXTM3U, Windows-1252 text, names only in the file names
    text = "C:\\Music\\Bee - Peak.mp3\r\nD:\\Ann & Co - Opener é.mp3\r\n".encode("cp1252")
    report = _import(db_session, user, text, filename="old.m3u")
    assert _titles(db_session, user, report) == ["Peak"]
    assert report.unmatched[0].title == "Opener é" and report.unmatched[0].path == "D:\\Ann & Co - Opener é.mp3"


def test_normalizing_names():
    assert normalize("Café  del-Mar!") == normalize("cafe del mar") == "cafe del mar"
    assert normalize("Drum & Bass") == "drum and bass"
    assert normalize_artist("The Someone (3)") == normalize_artist("someone*") == "someone"
    assert split_label("A - B - C") == [("A", "B - C"), ("A - B", "C")]
    assert split_label("Untitled") == [(None, "Untitled")]
