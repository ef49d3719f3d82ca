"""POST /api/libraries/{id}/audio-files: a DJ's own files matched to the library's tracks and attached, through
the real app (streamed multipart, PostgreSQL's track search, ffmpeg's decoder)."""

from __future__ import annotations

from services.common import db
from services.common.models import Library
from services.common.settings import get_settings
from tests.domain.local_audio.audio_files import add_tracks, make_audio

SECONDS = 6.0


def _library(owner_id: int, *, friend: bool = False) -> tuple[int, dict[str, int]]:
    with db.session_scope() as s:
        lib = Library(owner_id=owner_id, name="Crates", discogs_username="crates-f" if friend else None,
                      is_friend=friend)
        s.add(lib)
        s.flush()
        library_id = lib.id
    records = [("Daft Punk", "Da Funk"), ("Aphex Twin", "Xtal"), ("Aphex Twin", "Xtal (Live)")]
    return library_id, add_tracks(library_id, records, seconds=SECONDS)


def _send(client, library_id: int, path, query: str = ""):
    return client.post(f"/api/libraries/{library_id}/audio-files{query}",
                       files={"file": (path.name, path.read_bytes(), "audio/mpeg")})


def test_files_are_matched_attached_and_reported(make_user, tmp_path):
    alice = make_user("alice")
    library_id, pks = _library(alice.user_id)
    tagged = make_audio(tmp_path / "track01.mp3", seconds=SECONDS, artist="Daft Punk", title="Da Funk")
    r = _send(alice, library_id, tagged)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "attached" and body["track_pk"] == pks["Da Funk"] and body["tags"]["source"] == "tags"
    assert body["analysis"] is None and body["analysis_error"] is None  # ANALYZE_UPLOADS=false in the tests
    track = alice.get(f"/api/tracks/{pks['Da Funk']}").json()
    assert track["local_audio_path"] == body["local_audio_path"]
    assert track["audio_source"]["method"] == "import" and track["audio_source"]["matched_by"] == "tags"
    page = alice.get(f"/tracks/{pks['Da Funk']}").text  # the track page says where its audio came from
    assert "Added from your file “track01.mp3”, matched by its tags (score 1.00)" in page
    played = alice.get(f"/api/tracks/{pks['Da Funk']}/audio")
    assert played.status_code == 200 and played.content == tagged.read_bytes()

    # The same file again: the track keeps its audio unless replace=true.
    assert _send(alice, library_id, tagged).json()["status"] == "has_audio"
    assert _send(alice, library_id, tagged, "?replace=true").json()["status"] == "attached"

    # The name says it; the live take is not the studio track.
    named = _send(alice, library_id, make_audio(tmp_path / "02 - Aphex Twin - Xtal (Live).wav", seconds=SECONDS))
    assert named.json()["status"] == "attached" and named.json()["track_pk"] == pks["Xtal (Live)"]
    assert named.json()["tags"]["source"] == "filename"

    nothing = _send(alice, library_id, make_audio(tmp_path / "Burial - Archangel.mp3", seconds=SECONDS))
    assert nothing.status_code == 200 and nothing.json()["status"] == "unmatched"
    assert nothing.json()["local_audio_path"] is None
    assert alice.get(f"/api/tracks/{pks['Xtal']}").json()["local_audio_path"] is None
    # Asked to, a file that matches nothing becomes a track of its own.
    added = _send(alice, library_id, make_audio(tmp_path / "Burial - Archangel.mp3", seconds=SECONDS),
                  "?add_unmatched=true")
    assert added.status_code == 200 and added.json()["status"] == "created", added.text
    made = alice.get(f"/api/tracks/{added.json()['track_pk']}").json()
    assert (made["artist"], made["title"], made["album"]) == ("Burial", "Archangel", "Loose files")
    assert made["local_audio_path"] == added.json()["local_audio_path"]


def test_an_unclear_match_lists_candidates_to_choose_from(make_user, tmp_path):
    alice = make_user("alice")
    library_id, pks = _library(alice.user_id)
    long_take = make_audio(tmp_path / "Aphex Twin - Xtal.mp3", seconds=SECONDS * 4)  # much longer than the record
    r = _send(alice, library_id, long_take)
    assert r.status_code == 200 and r.json()["status"] == "ambiguous"
    first = r.json()["candidates"][0]
    assert first["track_pk"] == pks["Xtal"] and first["has_audio"] is False and 0.5 <= first["score"] < 0.86
    # The DJ's choice is an ordinary upload to that track.
    chosen = alice.post(f"/api/tracks/{first['track_pk']}/audio",
                        files={"file": (long_take.name, long_take.read_bytes(), "audio/mpeg")})
    assert chosen.status_code == 201


def test_access_and_bad_requests(make_user, client, tmp_path, env_setting):
    alice, bob = make_user("alice"), make_user("bob")
    library_id, _ = _library(alice.user_id)
    friends_id, _ = _library(alice.user_id, friend=True)
    song = make_audio(tmp_path / "Daft Punk - Da Funk.mp3", seconds=SECONDS)
    assert _send(client, library_id, song).status_code == 401
    assert _send(bob, library_id, song).status_code == 404
    assert _send(alice, friends_id, song).status_code == 403
    assert _send(alice, library_id, song, "?replac=true").status_code == 422  # a misspelt option is not ignored
    text = alice.post(f"/api/libraries/{library_id}/audio-files", files={"file": ("notes.txt", b"hi", "text/plain")})
    assert text.status_code == 422 and text.json()["code"] == "unsupported_audio"
    fake = alice.post(f"/api/libraries/{library_id}/audio-files",
                      files={"file": ("Daft Punk - Da Funk.mp3", b"not audio" * 500, "audio/mpeg")})
    assert fake.status_code == 422 and fake.json()["code"] == "not_audio"
    no_file = alice.post(f"/api/libraries/{library_id}/audio-files", files={"other": ("a.mp3", b"x", "audio/mpeg")})
    assert no_file.status_code == 422 and no_file.json()["code"] == "invalid_upload"
    env_setting(ANALYSIS_MAX_UPLOAD_MB="1")
    big = alice.post(f"/api/libraries/{library_id}/audio-files",
                     files={"file": ("big.wav", b"\0" * (2 * 1024 * 1024), "audio/wav")})
    assert big.status_code == 413
    assert not list((get_settings().resolved_audio_dir / ".uploads").glob("*"))  # nothing left of any of them
