"""Audio files on disk: a replaced file is removed, a deleted library's folder is removed, and what we
write is private to the user running the stack (files 0600, folders 0700; the embedded Redis too)."""

from __future__ import annotations

import io
import math
import os
import stat
import struct
import subprocess
import wave
from pathlib import Path

import pytest

from services.common import db
from services.common.audio_files import remove_library_folder
from services.common.models import Library, Track, User
from services.common.settings import get_settings
from services.domain.analysis.audio import replace_audio
from services.domain.libraries.service import delete_library


def _wav(seconds: float = 0.5) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(22050)
        w.writeframes(b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i / 22050)))
                               for i in range(int(22050 * seconds))))
    return out.getvalue()


def _mp3(wav: bytes) -> bytes:
    done = subprocess.run(["ffmpeg", "-v", "error", "-f", "wav", "-i", "pipe:0", "-f", "mp3", "pipe:1"],
                          input=wav, capture_output=True, check=True)
    return done.stdout


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def _library_with_track(owner_id: int) -> tuple[int, int]:
    with db.session_scope() as s:
        lib = Library(owner_id=owner_id, name="Crates")
        s.add(lib)
        s.flush()
        track = Track(track_id="7-A1", library_id=lib.id, title="Tone", artist="Test")
        s.add(track)
        s.flush()
        return lib.id, track.id


@pytest.fixture
def audio_dir() -> Path:
    return get_settings().resolved_audio_dir


def test_replacing_audio_with_another_type_leaves_only_the_new_file(make_user, audio_dir):
    alice = make_user("alice")
    library_id, pk = _library_with_track(alice.user_id)
    wav = _wav()
    first = alice.post(f"/api/tracks/{pk}/audio", files={"file": ("tone.wav", wav, "audio/wav")})
    assert first.status_code == 201, first.text
    folder = audio_dir / f"library_{library_id}"
    assert sorted(p.name for p in folder.iterdir()) == [f"{pk}.wav"]

    second = alice.post(f"/api/tracks/{pk}/audio", files={"file": ("tone.mp3", _mp3(wav), "audio/mpeg")})
    assert second.status_code == 201, second.text
    assert second.json()["local_audio_path"] == f"library_{library_id}/{pk}.mp3"
    assert sorted(p.name for p in folder.iterdir()) == [f"{pk}.mp3"]  # the .wav is gone

    # Private to the user running the stack, whatever the umask.
    assert _mode(folder / f"{pk}.mp3") == 0o600
    assert _mode(folder) == 0o700


def test_a_replaced_file_stays_until_the_change_is_committed(make_user, audio_dir):
    """Downloads and uploads share replace_audio: a rolled-back change keeps the file its row points at."""
    alice = make_user("alice")
    library_id, pk = _library_with_track(alice.user_id)
    old_rel, new_rel = f"library_{library_id}/{pk}.wav", f"library_{library_id}/{pk}.mp3"
    with db.session_scope() as s:
        s.get(Track, pk).local_audio_path = old_rel
    old = audio_dir / old_rel
    old.parent.mkdir(parents=True, exist_ok=True)
    old.write_bytes(b"old")

    session = db.new_session()
    try:
        replace_audio(track=session.get(Track, pk), audio_dir=audio_dir, new_rel=new_rel)
        session.flush()
        assert old.exists()  # nothing removed before the commit
        session.rollback()
        assert old.exists()  # rolled back: the database still points at it
        session.commit()
        assert old.exists()  # a later commit of the same session does not run the dropped removal

        replace_audio(track=session.get(Track, pk), audio_dir=audio_dir, new_rel=new_rel)
        session.commit()
        assert not old.exists()
    finally:
        session.close()
    with db.session_scope() as s:
        assert s.get(Track, pk).local_audio_path == new_rel


def test_deleting_a_library_removes_its_audio_folder(make_user, audio_dir):
    alice = make_user("alice")
    library_id, pk = _library_with_track(alice.user_id)
    kept_id, kept_pk = _library_with_track(alice.user_id)
    for track_pk in (pk, kept_pk):
        r = alice.post(f"/api/tracks/{track_pk}/audio", files={"file": ("tone.wav", _wav(), "audio/wav")})
        assert r.status_code == 201, r.text
    folder, kept = audio_dir / f"library_{library_id}", audio_dir / f"library_{kept_id}"
    assert folder.is_dir() and kept.is_dir()

    assert alice.delete(f"/api/libraries/{library_id}").status_code == 204
    assert not folder.exists()
    assert (kept / f"{kept_pk}.wav").is_file()  # other libraries keep their audio

    # A soft-deleted track keeps its audio (it can be restored).
    assert alice.delete(f"/api/tracks/{kept_pk}").status_code in (200, 204)
    assert (kept / f"{kept_pk}.wav").is_file()


def test_a_library_delete_that_rolls_back_keeps_the_audio(make_user, audio_dir):
    alice = make_user("alice")
    library_id, _ = _library_with_track(alice.user_id)
    folder = audio_dir / f"library_{library_id}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "1.wav").write_bytes(b"x")
    session = db.new_session()
    try:
        user = session.get(User, alice.user_id)
        delete_library(session=session, user=user, library_id=library_id)
        session.rollback()
        assert (folder / "1.wav").exists()
        session.commit()
        assert (folder / "1.wav").exists() and session.get(Library, library_id) is not None
    finally:
        session.close()


def test_removing_a_library_folder_stays_inside_audio_dir(tmp_path):
    audio_dir = tmp_path / "audio"
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "keep.wav").write_bytes(b"x")
    audio_dir.mkdir()
    (audio_dir / "library_5").symlink_to(outside, target_is_directory=True)
    assert remove_library_folder(audio_dir, 5)
    assert (outside / "keep.wav").exists() and not (audio_dir / "library_5").exists()
    assert remove_library_folder(audio_dir, 6)  # nothing there: nothing to do
    # A folder that cannot be removed is logged, not raised.
    (audio_dir / "library_7").mkdir()
    (audio_dir / "library_7" / "a.wav").write_bytes(b"x")
    os.chmod(audio_dir, 0o500)
    try:
        if os.geteuid() != 0:
            assert remove_library_folder(audio_dir, 7) is False
    finally:
        os.chmod(audio_dir, 0o700)


def test_embedded_redis_keeps_its_data_private(servers):
    if os.environ.get("TEST_REDIS_URL"):
        pytest.skip("an external redis-server is used")
    db.get_redis().set("djp:test:private", "1")
    rdir = get_settings().data_dir / "redis"
    assert _mode(rdir) == 0o700
    files = [p for p in rdir.rglob("*") if not p.is_socket()]
    assert any("appendonly" in p.name or p.suffix == ".aof" for p in files)
    for path in files:
        assert _mode(path) == (0o700 if path.is_dir() else 0o600), path
