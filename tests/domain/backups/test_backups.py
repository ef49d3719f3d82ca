"""Backups against the real embedded PostgreSQL: backup -> change -> restore gives back every table row for
row; a truncated dump and another application's dump are refused with the live data untouched.

The restore swaps databases, so it runs on a database made for each test (never the session's shared one),
through the service's `database_url` parameter."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, pool, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from services.common.models import Album, Library, Track, User
from services.domain.backups import service as backups
from services.domain.errors import Invalid, NotFound
from services.common.migrations import migrate


def _admin_engine(url: str):
    return create_engine(make_url(url).set(database="postgres"), poolclass=pool.NullPool,
                         isolation_level="AUTOCOMMIT")


def _databases(url: str, prefix: str) -> set[str]:
    engine = _admin_engine(url)
    with engine.connect() as conn:
        names = set(conn.execute(text("SELECT datname FROM pg_database")).scalars())
    engine.dispose()
    return {n for n in names if n.startswith(prefix)}


@pytest.fixture
def make_database(database_url: str) -> Iterator[Callable[[str], str]]:
    """Create empty databases on the test server; dropped afterwards (with any `<name>_pre_restore_*`)."""
    made: list[str] = []

    def _make(prefix: str = "djp_bt") -> str:
        name = f"{prefix}_{secrets.token_hex(4)}"
        engine = _admin_engine(database_url)
        with engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        engine.dispose()
        made.append(name)
        return make_url(database_url).set(database=name).render_as_string(hide_password=False)

    yield _make
    engine = _admin_engine(database_url)
    with engine.connect() as conn:
        for name in made:
            for db in _databases(database_url, name):
                conn.execute(text(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'))
    engine.dispose()


@pytest.fixture
def app_db(make_database) -> Iterator[str]:
    """A migrated DJ Playlist database with a user, a library, albums and tracks."""
    url = make_database("djp_bt")
    engine = create_engine(url, poolclass=pool.NullPool)
    migrate(engine)
    with Session(engine) as session:
        user = User(username="dj", password_hash="x", is_admin=True)
        session.add(user)
        session.flush()
        library = Library(owner_id=user.id, name="crate")
        session.add(library)
        session.flush()
        for r in range(3):
            album = Album(library_id=library.id, release_id=100 + r, title=f"Album {r}", artist="Artist",
                          genres=["Electronic"], styles=["House", "Techno"])
            session.add(album)
            session.flush()
            for p in range(4):
                session.add(Track(track_id=f"{100 + r}-A{p}", library_id=library.id, album_id=album.id,
                                  title=f"Track {r}.{p} ünïcödé 'quoted'", artist="Artist", bpm=120.5 + p,
                                  genres=["Electronic"]))
        session.commit()
    engine.dispose()
    yield url


def snapshot(url: str) -> dict[str, list[str]]:
    """Every table of the public schema, every row as text, in a stable order; and every sequence's value."""
    engine = create_engine(url, poolclass=pool.NullPool)
    out: dict[str, list[str]] = {}
    with engine.connect() as conn:
        tables = conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                                   "ORDER BY tablename")).scalars().all()
        for table in tables:
            out[table] = conn.execute(text(f'SELECT t::text FROM public."{table}" t ORDER BY 1')).scalars().all()
        for seq in conn.execute(text("SELECT sequencename FROM pg_sequences WHERE schemaname = 'public'")).scalars():
            out[f"sequence {seq}"] = [str(conn.execute(text(f'SELECT last_value FROM public."{seq}"')).scalar_one())]
    engine.dispose()
    return out


def change_everything(url: str) -> None:
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.begin() as conn:
        conn.execute(text("UPDATE tracks SET title = 'changed', bpm = 99 WHERE id % 2 = 0"))
        conn.execute(text("DELETE FROM tracks WHERE id % 3 = 0"))
        conn.execute(text("INSERT INTO users (username, password_hash, is_admin, created_at, updated_at) "
                          "VALUES ('intruder', 'y', false, now(), now())"))
    engine.dispose()


def test_backup_change_restore_gives_back_every_row(app_db: str, tmp_path: Path, database_url: str) -> None:
    folder = tmp_path / "dumps"
    stages: list[tuple[str, int]] = []
    info = backups.create_backup(database_url=app_db, folder=folder, progress=lambda s, p: stages.append((s, p)))
    assert backups.BACKUP_NAME.fullmatch(info.name) and not info.scheduled
    path = folder / info.name
    assert path.stat().st_mode & 0o777 == 0o600 and folder.stat().st_mode & 0o777 == 0o700
    assert stages[-1] == ("done", 100) and any(s == "dumping" for s, _ in stages)
    assert [b.name for b in backups.list_backups(folder=folder)] == [info.name]
    assert not [p for p in folder.iterdir() if p.name.endswith(".partial")]

    before = snapshot(app_db)
    assert len(before["tracks"]) == 12 and before["alembic_version"]
    change_everything(app_db)
    assert snapshot(app_db) != before

    report = backups.restore_backup(name=info.name, database_url=app_db, folder=folder)
    after = snapshot(app_db)
    assert after.keys() == before.keys()
    for table in before:
        assert after[table] == before[table], f"{table} differs after the restore"
    assert report.row_counts["tracks"] == 12 and report.revision == report.head
    # The replaced database is kept (changed data and all) until the next restore; no scratch database is left.
    previous = make_url(app_db).set(database=report.previous_database).render_as_string(hide_password=False)
    assert len(snapshot(previous)["users"]) == len(before["users"]) + 1
    assert not _databases(database_url, backups.SCRATCH_PREFIX)

    # A second restore keeps only the database it replaced.
    second = backups.restore_backup(name=info.name, database_url=app_db, folder=folder)
    kept = _databases(database_url, f"{make_url(app_db).database}{backups.PRE_RESTORE}")
    assert kept == {second.previous_database}
    assert snapshot(app_db) == before


def _refused_untouched(app_db: str, folder: Path, name: str, database_url: str, match: str) -> None:
    before = snapshot(app_db)
    with pytest.raises(Invalid, match=match) as refused:
        backups.restore_backup(name=name, database_url=app_db, folder=folder)
    assert "nothing was restored" in refused.value.detail or "not touched" in refused.value.detail
    assert snapshot(app_db) == before
    assert not _databases(database_url, backups.SCRATCH_PREFIX)
    assert not _databases(database_url, f"{make_url(app_db).database}{backups.PRE_RESTORE}")


@pytest.mark.parametrize("keep", [0.5, 0.9, 64])
def test_a_truncated_dump_is_refused_and_the_data_untouched(app_db: str, tmp_path: Path, database_url: str,
                                                            keep: float) -> None:
    folder = tmp_path / "dumps"
    info = backups.create_backup(database_url=app_db, folder=folder)
    data = (folder / info.name).read_bytes()
    cut = folder / "djp-20200101T000000Z.dump"
    cut.write_bytes(data[: int(len(data) * keep)] if keep < 1 else data[: int(keep)])
    change_everything(app_db)  # the live data now differs from the dump: it must stay as it is
    _refused_untouched(app_db, folder, cut.name, database_url, "incomplete or damaged|not a readable")


def test_another_applications_dump_is_refused_and_the_data_untouched(app_db: str, make_database, tmp_path: Path,
                                                                     database_url: str) -> None:
    other = make_database("otherapp")
    engine = create_engine(other, poolclass=pool.NullPool)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE widgets (id serial PRIMARY KEY, name text)"))
        conn.execute(text("INSERT INTO widgets (name) VALUES ('sprocket'), ('gear')"))
    engine.dispose()
    folder = tmp_path / "dumps"
    foreign = backups.create_backup(database_url=other, folder=folder)
    _refused_untouched(app_db, folder, foreign.name, database_url, "not a DJ Playlist backup")

    # Another application that uses Alembic too: its revision is not one of ours.
    engine = create_engine(other, poolclass=pool.NullPool)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY)"))
        conn.execute(text("INSERT INTO alembic_version VALUES ('ae1027a6acf')"))
    engine.dispose()
    foreign2 = backups.create_backup(database_url=other, folder=folder)
    _refused_untouched(app_db, folder, foreign2.name, database_url, "not one of this app's migrations")


def test_not_a_dump_is_refused(app_db: str, tmp_path: Path, database_url: str) -> None:
    folder = tmp_path / "dumps"
    folder.mkdir()
    (folder / "djp-20200101T000000Z.dump").write_text("-- just some SQL\nDROP TABLE users;\n")
    _refused_untouched(app_db, folder, "djp-20200101T000000Z.dump", database_url, "not a readable")


@pytest.mark.parametrize("name", ["../etc/passwd", "..", "djp-20200101T000000Z.dump/../../x",
                                  "/etc/passwd", "djp-20200101T000000Z.sql", ".djp-20200101T000000Z.dump.partial",
                                  "djp-20200101T000000Z.dump\x00", "lock"])
def test_names_outside_the_pattern_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(Invalid, match="not a backup name"):
        backups.backup_path(name=name, folder=tmp_path)
    with pytest.raises(Invalid):
        backups.delete_backup(name=name, folder=tmp_path)


def test_a_symlink_in_the_folder_is_not_followed(tmp_path: Path) -> None:
    folder = tmp_path / "dumps"
    folder.mkdir()
    secret = tmp_path / "secret.txt"
    secret.write_text("secret")
    (folder / "djp-20200101T000000Z.dump").symlink_to(secret)
    with pytest.raises(NotFound):
        backups.backup_path(name="djp-20200101T000000Z.dump", folder=folder)
    assert backups.list_backups(folder=folder) == []


def test_the_password_never_reaches_a_command_line_or_a_message(monkeypatch: pytest.MonkeyPatch) -> None:
    url = make_url("postgresql+psycopg://djp:s3cr%40t%2Fpw@db.example:5432/djp?sslmode=require")
    env = backups._libpq_env(url)
    assert env["PGPASSWORD"] == "s3cr@t/pw" and env["PGHOST"] == "db.example" and env["PGSSLMODE"] == "require"
    message = backups.scrub("FATAL: password s3cr@t/pw for postgresql://djp:s3cr%40t%2Fpw@db.example/djp failed",
                            url)
    assert "s3cr" not in message and "***" in message
    # An unreachable server: the error names the problem, never the password.
    with pytest.raises(Exception) as failed:
        backups.server_major(make_url("postgresql+psycopg://djp:hunter2pw@127.0.0.1:1/djp?connect_timeout=2"))
    assert "hunter2pw" not in str(failed.value)


def test_the_embedded_servers_own_tools_are_used(app_db: str) -> None:
    url = make_url(app_db)
    major = backups.server_major(url)
    folder = backups.pg_tools(major)
    assert backups._tool_major(str(folder / "pg_restore")) == major


def test_retention_keeps_the_newest_per_day_and_per_week_and_never_manual_backups(tmp_path: Path) -> None:
    folder = tmp_path / "dumps"
    folder.mkdir()
    now = datetime(2025, 3, 31, 3, 0, tzinfo=UTC)  # a Monday
    names = []
    for hours_ago in range(0, 24 * 40, 12):  # two scheduled backups a day for 40 days
        at = now - timedelta(hours=hours_ago)
        name = f"djp-{at:%Y%m%dT%H%M%SZ}-auto.dump"
        (folder / name).write_bytes(b"x")
        names.append((at, name))
    manual = folder / f"djp-{now - timedelta(days=90):%Y%m%dT%H%M%SZ}.dump"
    manual.write_bytes(b"x")
    deleted = backups.prune_backups(keep_daily=7, keep_weekly=4, folder=folder)
    left = {b.name for b in backups.list_backups(folder=folder)}
    assert manual.name in left and manual.name not in deleted
    autos = sorted((b for b in backups.list_backups(folder=folder) if b.scheduled), key=lambda b: b.created)
    days = {b.created.date() for b in autos}
    newest_days = sorted({at.date() for at, _ in names}, reverse=True)[:7]
    assert set(newest_days) <= days
    for day in newest_days:  # the newest of each kept day
        assert max(n for at, n in names if at.date() == day) in left
    weeks = {tuple(b.created.isocalendar())[:2] for b in autos}
    assert len(weeks) == 4 or len(weeks) == 5  # four newest weeks (the daily ones may share one)
    assert len(autos) <= 7 + 4 and len(deleted) == len(names) - len(autos)
    os.sync()


def test_a_dump_of_an_older_version_is_migrated_after_the_restore(app_db: str, make_database,
                                                                 tmp_path: Path) -> None:
    from alembic import command
    from alembic.script import ScriptDirectory

    from services.common.migrations import alembic_config

    older = make_database("djp_old")
    script = ScriptDirectory.from_config(alembic_config(older))
    head = script.get_current_head()
    previous = script.get_revision(head).down_revision
    engine = create_engine(older, poolclass=pool.NullPool)
    with engine.begin() as conn:
        cfg = alembic_config(older)
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, previous)
        conn.execute(text("INSERT INTO users (username, password_hash, is_admin, created_at, updated_at) "
                          "VALUES ('old-timer', 'x', true, now(), now())"))
    engine.dispose()
    folder = tmp_path / "dumps"
    dump = backups.create_backup(database_url=older, folder=folder)

    report = backups.restore_backup(name=dump.name, database_url=app_db, folder=folder)
    assert (report.revision, report.head) == (previous, head)
    after = snapshot(app_db)
    assert after["alembic_version"] == [f"({head})"]
    assert any("old-timer" in row for row in after["users"]) and after["tracks"] == []
