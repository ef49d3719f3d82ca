"""`djp import discogs`, `djp import csv FILE`, `djp friends add NAME` against the fake server."""

from __future__ import annotations

from sqlalchemy import func, select
from typer.testing import CliRunner

from services.cli import app
from services.common.db import session_scope
from services.common.models import Album, Library, Track

runner = CliRunner()


def _count(model, **where) -> int:
    with session_scope() as s:
        stmt = select(func.count()).select_from(model)
        for key, value in where.items():
            stmt = stmt.where(getattr(model, key) == value)
        return s.scalar(stmt)


def test_import_discogs_uses_the_discogs_username_library(clean_db, discogs_env, monkeypatch):
    discogs_env.set_collection("boss", list(range(15, 0, -1)))
    monkeypatch.setenv("DISCOGS_USERNAME", "boss")
    from services.common.settings import get_settings

    get_settings.cache_clear()
    result = runner.invoke(app, ["import", "discogs"])
    assert result.exit_code == 0, result.output
    assert "15/15 releases" in result.output
    with session_scope() as s:
        lib = s.scalar(select(Library).where(Library.discogs_username == "boss"))
        assert lib is not None and not lib.is_friend
    assert _count(Album) == 15 and _count(Track) == 90
    again = runner.invoke(app, ["import", "discogs"])
    assert again.exit_code == 0 and "0 fetched" in again.output


def test_import_csv_then_tracklists(clean_db, discogs_env, tmp_path):
    discogs_env.set_collection("nobody", [41, 42])
    path = tmp_path / "export.csv"
    path.write_text(
        "Catalog#,Artist,Title,Label,Format,Rating,Released,release_id,CollectionFolder,Date Added,"
        "Collection Media Condition,Collection Sleeve Condition,Collection Notes\n"
        "X1,Someone (3),Thing,Lbl,LP,4,2001,41,Uncategorized,2022-01-01 00:00:00,,,\n"
        "X2,Other*,Thing 2,Lbl,LP,,2002,42,Uncategorized,2022-01-02 00:00:00,,,\n"
    )
    result = runner.invoke(app, ["import", "csv", str(path)])
    assert result.exit_code == 0, result.output
    assert "2 new albums" in result.output
    assert _count(Album) == 2 and _count(Track) == 12  # tracklists fetched from the API with the token


def test_import_csv_bad_file(clean_db, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("a,b\n1,2\n")
    result = runner.invoke(app, ["import", "csv", str(path)])
    assert result.exit_code == 1
    assert "missing column(s)" in result.output


def test_friends_add_imports_read_only_library(clean_db, discogs_env):
    discogs_env.set_collection("pal", [51, 52, 53])
    result = runner.invoke(app, ["friends", "add", "pal"])
    assert result.exit_code == 0, result.output
    with session_scope() as s:
        lib = s.scalar(select(Library).where(Library.discogs_username == "pal"))
        assert lib.is_friend
    assert _count(Album, library_id=lib.id) == 3
    listed = runner.invoke(app, ["friends", "list"])
    assert "pal" in listed.output
    assert runner.invoke(app, ["friends", "remove", "pal"]).exit_code == 0
    assert _count(Album) == 0


def test_search_prints_a_table(clean_db):
    from services.common.models import User

    with session_scope() as s:
        admin = User(username="admin", password_hash="x", is_admin=True)
        s.add(admin)
        s.flush()
        lib = Library(owner_id=admin.id, name="Crates")
        s.add(lib)
        s.flush()
        s.add_all([Track(track_id="1-A1", library_id=lib.id, title="Around the World", artist="Daft Punk", bpm=121.0,
                         camelot="8A"),
                   Track(track_id="2-A1", library_id=lib.id, title="Da Funk", artist="Daft Punk", bpm=111.0,
                         camelot="3A")])
    result = runner.invoke(app, ["search", "daft pnuk", "--bpm", "120-128", "--compatible-with", "9A"])
    assert result.exit_code == 0, result.output
    assert "Around the World" in result.output and "Da Funk" not in result.output
    assert "1 track(s)" in result.output
    bad = runner.invoke(app, ["search", "x", "--bpm", "fast"])
    assert bad.exit_code == 1 and "--bpm takes a number or a range" in bad.output
    assert runner.invoke(app, ["search", "reindex"]).exit_code == 1  # nothing to rebuild on Postgres


def test_download_and_jobs(clean_db):
    from services.common.db import get_redis
    from services.common.models import User

    get_redis().flushdb()
    assert runner.invoke(app, ["jobs"]).exit_code == 0  # prepares the database and the first admin
    with session_scope() as s:
        admin = s.scalar(select(User).where(User.is_admin.is_(True)))
        lib = Library(owner_id=admin.id, name="crate")
        s.add(lib)
        s.flush()
        track = Track(track_id="1-A1", library_id=lib.id, title="Groove", artist="Synth")
        s.add(track)
        s.flush()
        pk, lib_id = track.id, lib.id
    result = runner.invoke(app, ["download", str(pk)])
    assert result.exit_code == 0, result.output
    job_id = result.output.split("\t")[0]
    listed = runner.invoke(app, ["jobs", "--kind", "download"])
    assert listed.exit_code == 0 and job_id in listed.output and "queued" in listed.output
    again = runner.invoke(app, ["download", "--missing", str(lib_id)])
    assert "already queued 1" in again.output
    assert runner.invoke(app, ["download"]).exit_code == 1
    refused = runner.invoke(app, ["download", str(pk), "--url", "ftp://example.com/a.mp3"])
    assert refused.exit_code == 1 and "only http and https" in refused.output
    missing = runner.invoke(app, ["download", "999999"])
    assert missing.exit_code == 1 and "track not found" in missing.output
    bad = runner.invoke(app, ["jobs", "--kind", "nope"])
    assert bad.exit_code == 1 and "kind" in bad.output
