"""GET /api/playlists/{id}/export and POST /api/playlists/import through the web app."""

from __future__ import annotations

import json

import m3u8

from services.common import db
from services.domain.playlists import imports
from tests.domain.playlists.helpers import ORDER, make_library, make_tracks, rekordbox_xml_class
from tests.domain.playlists.test_imports import BILLION_LAUGHS


def _setlist(client) -> tuple[int, dict[str, int]]:
    """A playlist of ORDER for the client's user: (playlist id, track pks by title)."""
    with db.session_scope() as s:
        tracks = make_tracks(s, make_library(s, client.user_id))
        pks = {title: t.id for title, t in tracks.items()}
    r = client.post("/api/playlists", json={"name": "Sunday Set é", "track_pks": [pks[t] for t in ORDER]})
    assert r.status_code == 201, r.text
    return r.json()["id"], pks


def test_export_every_format(make_user, tmp_path):
    alice = make_user("alice")
    playlist_id, _ = _setlist(alice)
    expected = {"rekordbox": ("application/xml", "xml"), "nml": ("application/xml", "nml"),
                "m3u8": ("audio/x-mpegurl", "m3u8"), "csv": ("text/csv; charset=utf-8", "csv"),
                "json": ("application/json", "json")}
    for fmt, (media, ext) in expected.items():
        r = alice.get(f"/api/playlists/{playlist_id}/export", params={"format": fmt})
        assert r.status_code == 200, r.text
        assert r.headers["content-type"] == media
        assert r.headers["content-disposition"] == (
            f"attachment; filename=\"Sunday Set e.{ext}\"; filename*=UTF-8''Sunday%20Set%20e.{ext}")
        skipped = r.headers["x-tracks-without-audio"]
        assert skipped == ("1" if fmt in ("rekordbox", "nml", "m3u8") else "0")
    path = tmp_path / "set.xml"
    path.write_bytes(alice.get(f"/api/playlists/{playlist_id}/export?format=rekordbox").content)
    xml = rekordbox_xml_class()(path)
    names = {t["TrackID"]: t["Name"] for t in xml.get_tracks()}
    assert [names[k] for k in xml.get_playlist("Sunday Set é").get_tracks()] == ["Peak", "Opener", "Closer"]
    relative = alice.get(f"/api/playlists/{playlist_id}/export", params={"format": "m3u8", "paths": "relative"})
    uris = [s.uri for s in m3u8.loads(relative.text).segments]
    assert len(uris) == 3 and all(u.startswith("library_") for u in uris)
    # Phrase cues on request: the analysed phrase start of Opener as a memory cue
    cued = alice.get(f"/api/playlists/{playlist_id}/export", params={"format": "rekordbox", "phrase_cues": "true"})
    assert cued.status_code == 200 and b'<POSITION_MARK Name="Phrase 1" Type="0" Start="1.503" Num="-1"' in cued.content
    assert b"POSITION_MARK" not in alice.get(f"/api/playlists/{playlist_id}/export?format=rekordbox").content
    assert 'data-export="rekordbox-cues"' in alice.get(f"/playlists/{playlist_id}").text  # and on the page


def test_export_errors(make_user, client):
    alice, bob = make_user("alice"), make_user("bob")
    playlist_id, _ = _setlist(alice)
    r = alice.get(f"/api/playlists/{playlist_id}/export", params={"format": "mp3"})
    assert r.status_code == 422 and r.json()["code"] == "invalid"
    assert "format" in r.json()["detail"] and r.json()["errors"][0]["loc"] == ["query", "format"]
    assert alice.get(f"/api/playlists/{playlist_id}/export").status_code == 422  # format is required
    r = alice.get(f"/api/playlists/{playlist_id}/export", params={"format": "nml", "paths": "relative"})
    assert r.status_code == 422 and r.json()["code"] == "invalid_paths"
    r = alice.get(f"/api/playlists/{playlist_id}/export", params={"format": "csv", "phrase_cues": "true"})
    assert r.status_code == 422 and r.json()["code"] == "invalid_cues"
    r = alice.get(f"/api/playlists/{playlist_id}/export", params={"format": "m3u8", "root": "not/absolute"})
    assert r.status_code == 422 and r.json()["code"] == "invalid_root"
    assert bob.get(f"/api/playlists/{playlist_id}/export?format=json").status_code == 404
    assert alice.get("/api/playlists/999999/export?format=json").status_code == 404
    assert client.get(f"/api/playlists/{playlist_id}/export?format=json").status_code == 401


def test_import_round_trip_with_form_fields(make_user):
    alice = make_user("alice")
    playlist_id, pks = _setlist(alice)
    exported = alice.get(f"/api/playlists/{playlist_id}/export?format=json").content
    # a browser form: the format sent before the file, the name after it
    boundary = "djp-boundary"
    body = (f'--{boundary}\r\nContent-Disposition: form-data; name="format"\r\n\r\njson\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="whatever.txt"\r\n'
            "Content-Type: text/plain\r\n\r\n").encode() + exported + (
            f'\r\n--{boundary}\r\nContent-Disposition: form-data; name="name"\r\n\r\nBack again\r\n'
            f"--{boundary}--\r\n").encode()
    r = alice.post("/api/playlists/import", content=body,
                   headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert r.status_code == 201, r.text
    report = r.json()
    assert report["name"] == "Back again" and report["format"] == "json"
    assert report["matched"] == report["total"] == 4 and report["unmatched"] == []
    items = alice.get(f"/api/playlists/{report['playlist_id']}").json()["items"]
    assert [i["track_pk"] for i in items] == [pks[t] for t in ORDER]


def test_import_reports_unmatched_and_keeps_others_tracks_out(make_user):
    alice, bob = make_user("alice"), make_user("bob")
    _, bob_pks = _setlist(bob)
    alice_playlist, alice_pks = _setlist(alice)
    with db.session_scope() as s:
        from services.common.models import Track

        bob_path = s.get(Track, bob_pks["Closer"]).local_audio_path
    text = ("#EXTM3U\n#PLAYLIST:From M3U\n#EXTINF:245,Bee - Peak\nx.mp3\n"
            f"#EXTINF:10,Closer Impostor - Nope\n{bob_path}\n"
            "# missing audio: Nobody - Ghost\n")
    r = alice.post("/api/playlists/import", files={"file": ("set.m3u8", text.encode(), "audio/x-mpegurl")})
    assert r.status_code == 201, r.text
    report = r.json()
    assert report["name"] == "From M3U" and report["matched"] == 2 and report["total"] == 3
    [missing] = report["unmatched"]
    assert (missing["entry"], missing["line"], missing["artist"], missing["title"], missing["path"]) == \
        (2, 5, "Closer Impostor", "Nope", bob_path)
    assert missing["reason"].startswith("no track you can read")
    items = alice.get(f"/api/playlists/{report['playlist_id']}").json()["items"]
    assert [i["track_pk"] for i in items] == [alice_pks["Peak"], alice_pks["Ghost"]]
    assert alice_playlist != report["playlist_id"]


def test_import_errors(make_user, client, monkeypatch):
    alice = make_user("alice")
    r = alice.post("/api/playlists/import", files={"file": ("evil.xml", BILLION_LAUGHS, "application/xml")})
    assert r.status_code == 422 and r.json()["code"] == "unsafe_xml"
    r = alice.post("/api/playlists/import", files={"file": ("a.json", b"[1, 2", "application/json")})
    assert r.status_code == 422 and r.json()["code"] == "invalid_json"
    r = alice.post("/api/playlists/import", data={"name": "x"})
    assert r.status_code == 422 and r.json()["code"] == "invalid_upload"
    r = alice.post("/api/playlists/import", json=["Bee - Peak"])
    assert r.status_code == 422 and r.json()["code"] == "invalid_upload"
    r = alice.post("/api/playlists/import?format=flac", files={"file": ("a.m3u8", b"x.mp3\n")})
    assert r.status_code == 422 and r.json()["code"] == "invalid_format"
    monkeypatch.setattr(imports, "MAX_IMPORT_BYTES", 1024)
    r = alice.post("/api/playlists/import", files={"file": ("big.m3u8", b"x.mp3\n" * 400)})
    assert r.status_code == 413 and r.json()["code"] in ("too_large", "import_too_large")
    assert alice.get("/api/playlists").json() == []  # nothing was created by any of these
    r = client.post("/api/playlists/import", files={"file": ("a.m3u8", b"x.mp3\n")})
    assert r.status_code == 401
    assert json.loads(alice.get("/openapi.json").text)["paths"]["/api/playlists/import"]["post"]
