"""`djp audio import FOLDER`: a folder of real, tagged audio files matched to a library's tracks and copied in."""

from __future__ import annotations

from typer.testing import CliRunner

from services.cli import app
from services.common.db import session_scope
from services.common.models import Library, Track, User
from services.common.settings import get_settings
from tests.domain.local_audio.audio_files import add_tracks, make_audio

runner = CliRunner()
SECONDS = 5.0


def _crate() -> dict[str, int]:
    with session_scope() as s:
        admin = User(username="admin", password_hash="x", is_admin=True)
        s.add(admin)
        s.flush()
        lib = Library(owner_id=admin.id, name="Crates")
        s.add(lib)
        s.flush()
        library_id = lib.id
    return add_tracks(library_id, [("Daft Punk", "Da Funk"), ("Aphex Twin", "Xtal"), ("Moodymann", "Shades Of Jae")],
                      seconds=SECONDS)


def _audio(pk: int) -> str | None:
    with session_scope() as s:
        return s.get(Track, pk).local_audio_path


def test_a_folder_is_matched_then_copied(clean_db, tmp_path):
    pks = _crate()
    music = tmp_path / "music"
    make_audio(music / "Homework" / "07 - Da Funk.mp3", seconds=SECONDS, artist="Daft Punk", title="Da Funk")
    make_audio(music / "SAW" / "A1 Aphex Twin - Xtal.flac", seconds=SECONDS)
    make_audio(music / "Burial - Archangel.mp3", seconds=SECONDS)
    make_audio(music / ".hidden" / "Moodymann - Shades Of Jae.mp3", seconds=SECONDS)  # hidden folders are skipped
    (music / "cover.jpg").write_bytes(b"\xff\xd8")  # not audio: not even looked at
    (music / "broken.mp3").write_bytes(b"not audio at all" * 50)

    preview = runner.invoke(app, ["audio", "import", str(music), "--dry-run"])
    assert preview.exit_code == 0, preview.output
    # a dry run reads tags and names only (no decoding): broken.mp3 is an unmatched name here, refused below
    assert "would be attached 2, unmatched 2 (of 4 files)" in preview.output
    assert _audio(pks["Da Funk"]) is None and _audio(pks["Xtal"]) is None

    done = runner.invoke(app, ["audio", "import", str(music)])
    assert done.exit_code == 0, done.output
    assert "attached 2, unmatched 1, refused 1 (of 4 files)" in done.output
    assert "Archangel" in done.output and "broken.mp3" in done.output
    audio_dir = get_settings().resolved_audio_dir
    assert (audio_dir / _audio(pks["Da Funk"])).read_bytes() == (music / "Homework" / "07 - Da Funk.mp3").read_bytes()
    assert _audio(pks["Xtal"]).endswith(".flac") and _audio(pks["Shades Of Jae"]) is None
    assert (music / "Burial - Archangel.mp3").exists()  # the folder is left as it was

    again = runner.invoke(app, ["audio", "import", str(music), "--add-unmatched"])
    assert "added as new tracks 1, already had audio 2, refused 1 (of 4 files)" in again.output
    with session_scope() as s:
        assert s.query(Track).filter_by(title="Archangel", artist="Burial").one().local_audio_path


def test_bad_folders(clean_db, tmp_path):
    _crate()
    missing = runner.invoke(app, ["audio", "import", str(tmp_path / "nope")])
    assert missing.exit_code == 1 and "is not a folder" in missing.output
    empty = runner.invoke(app, ["audio", "import", str(tmp_path)])
    assert empty.exit_code == 1 and "no audio files" in empty.output
    make_audio(tmp_path / "a.mp3", seconds=1)
    other = runner.invoke(app, ["audio", "import", str(tmp_path), "--library", "999999"])
    assert other.exit_code == 1 and "library not found" in other.output


def test_analyze_queues_what_is_missing(clean_db):
    from services.common.db import get_redis
    from services.domain import jobs

    pks = _crate()
    with session_scope() as s:
        s.get(Track, pks["Da Funk"]).local_audio_path = "library_1/1.mp3"
    done = runner.invoke(app, ["analyze"])
    try:
        assert done.exit_code == 0, done.output
        assert "queued 1, already queued 0" in done.output
        assert "queued 0, already queued 1" in runner.invoke(app, ["analyze"]).output
    finally:  # no worker here: the job must not wait for a later module's worker
        job = jobs.live_track_job(kind="analysis", track_pk=pks["Da Funk"])
        if job is not None:
            job.cancel()
        get_redis().delete(jobs.TRACK_JOB_KEY.format("analysis", pks["Da Funk"]))
    assert runner.invoke(app, ["analyze", "--library", "999999"]).exit_code == 1
