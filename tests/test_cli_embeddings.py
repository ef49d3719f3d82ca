"""`djp embeddings backfill [--library-id] [--sync]` and `djp embeddings status`."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from typer.testing import CliRunner

from services.cli import app
from services.common.db import get_redis, session_scope
from services.common.models import Library, Track, User
from services.common.settings import get_settings

runner = CliRunner()


def test_backfill_sync_then_status_and_queued_backfill(clean_db, monkeypatch):
    monkeypatch.setenv("EMBEDDINGS_PROVIDER", "local")
    get_settings.cache_clear()
    get_redis().flushdb()
    assert runner.invoke(app, ["embeddings", "status"]).exit_code == 0  # prepares the database and the admin
    with session_scope() as s:
        admin = s.scalar(select(User).where(User.is_admin.is_(True)))
        lib = Library(owner_id=admin.id, name="crate")
        s.add(lib)
        s.flush()
        s.add_all([Track(track_id="1-A1", library_id=lib.id, title="Groove", artist="Synth", bpm=124.0,
                         analyzed_at=datetime.now(UTC)),
                   Track(track_id="1-A2", library_id=lib.id, title="Ballad", artist="Piano")])
        lib_id = lib.id
    result = runner.invoke(app, ["embeddings", "backfill", "--library-id", str(lib_id), "--sync"])
    assert result.exit_code == 0, result.output
    assert "2 tracks" in result.output and "2 embedded" in result.output and "1 not analysed" in result.output
    status = runner.invoke(app, ["embeddings", "status", "--library-id", str(lib_id)])
    assert status.exit_code == 0
    assert "text\tlocal:all-MiniLM-L6-v2-int8\t2 embedded\t0 missing" in status.output
    assert "audio\taudio-features-v1\t1 embedded\t0 missing" in status.output
    queued = runner.invoke(app, ["embeddings", "backfill"])
    assert queued.exit_code == 0 and "queued" in queued.output
    missing = runner.invoke(app, ["embeddings", "status", "--library-id", "999999"])
    assert missing.exit_code == 1 and "does not exist" in missing.output
    get_settings.cache_clear()
