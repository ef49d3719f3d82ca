"""`djp playlist export ID --format F [-o FILE]` and `djp playlist import FILE`."""

from __future__ import annotations

import m3u8
from typer.testing import CliRunner

from services.cli import app
from services.common.db import session_scope
from services.common.models import User
from services.domain.playlists.service import create_playlist, get_playlist
from tests.domain.playlists.helpers import ORDER, make_library, make_tracks

runner = CliRunner()


def _setlist() -> int:
    with session_scope() as s:
        admin = User(username="boss", password_hash="x", is_admin=True)
        s.add(admin)
        s.flush()
        tracks = make_tracks(s, make_library(s, admin.id))
        return create_playlist(session=s, user=admin, name="Gig", track_pks=[tracks[t].id for t in ORDER]).id


def test_export_then_import(clean_db, tmp_path):
    playlist_id = _setlist()
    out = tmp_path / "gig.m3u8"
    result = runner.invoke(app, ["playlist", "export", str(playlist_id), "--format", "m3u8", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "1 track(s) without audio" in result.output
    assert [s.title for s in m3u8.loads(out.read_text()).segments] == \
        ["Bee - Peak", "Ann & Co - Opener", "=cmd|' /C calc'!A0 - Closer"]

    stdout = runner.invoke(app, ["playlist", "export", str(playlist_id), "--format", "json"])
    assert stdout.exit_code == 0 and '"format": "dj-playlist"' in stdout.stdout
    cued = runner.invoke(app, ["playlist", "export", str(playlist_id), "--format", "nml", "--phrase-cues"])
    assert cued.exit_code == 0 and 'NAME="Phrase 1"' in cued.stdout

    out.write_text(out.read_text() + "#EXTINF:1,Who - Knows\nnowhere.mp3\n")
    result = runner.invoke(app, ["playlist", "import", str(out), "--name", "Gig again"])
    assert result.exit_code == 0, result.output
    assert "4/5 tracks matched" in result.output and "line 10: Who - Knows: no track you can read" in result.output
    with session_scope() as s:
        boss = s.query(User).filter_by(username="boss").one()
        new_id = int(result.output.split("playlist ")[1].split()[0])
        assert [i.track.title for i in get_playlist(session=s, user=boss, playlist_id=new_id).items] == ORDER


def test_errors_are_one_line(clean_db, tmp_path):
    playlist_id = _setlist()
    result = runner.invoke(app, ["playlist", "export", str(playlist_id), "--format", "mp3"])
    assert result.exit_code == 1 and "unknown export format 'mp3'" in result.output
    cues = runner.invoke(app, ["playlist", "export", str(playlist_id), "--format", "csv", "--phrase-cues"])
    assert cues.exit_code == 1 and "Rekordbox XML and Traktor NML files only" in cues.output
    assert runner.invoke(app, ["playlist", "export", "999", "--format", "json"]).exit_code == 1
    bad = tmp_path / "evil.xml"
    bad.write_text('<?xml version="1.0"?><!DOCTYPE a [<!ENTITY b "c">]><DJ_PLAYLISTS/>')
    result = runner.invoke(app, ["playlist", "import", str(bad)])
    assert result.exit_code == 1 and "DTD or entities" in result.output
