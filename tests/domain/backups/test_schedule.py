"""Scheduled backups: planned once on the RQ scheduler when BACKUP_INTERVAL_HOURS is set; the job makes an
`-auto` backup, prunes by retention and plans the next one."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
from rq.registry import ScheduledJobRegistry

from services.common.db import get_redis
from services.common.settings import get_settings
from services.domain import jobs
from services.domain.backups import jobs as backup_jobs


@pytest.fixture
def schedule_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, servers):
    monkeypatch.setenv("BACKUP_DIR", str(tmp_path / "dumps"))
    monkeypatch.setenv("BACKUP_INTERVAL_HOURS", "24")
    monkeypatch.setenv("BACKUP_KEEP_DAILY", "1")
    monkeypatch.setenv("BACKUP_KEEP_WEEKLY", "0")
    monkeypatch.setattr(backup_jobs, "QUEUE", f"test-backups-{secrets.token_hex(4)}")
    monkeypatch.setattr(backup_jobs, "_SCHEDULED_KEY", f"test:backups:scheduled:{secrets.token_hex(4)}")
    get_settings.cache_clear()
    yield tmp_path / "dumps"
    get_redis().delete(backup_jobs._SCHEDULED_KEY)
    monkeypatch.undo()
    get_settings.cache_clear()


def _scheduled() -> list[str]:
    return ScheduledJobRegistry(queue=jobs.queue(backup_jobs.QUEUE)).get_job_ids()


def test_planned_once_then_each_run_plans_the_next(schedule_env: Path) -> None:
    assert backup_jobs.schedule_backups() is True
    assert backup_jobs.schedule_backups() is False  # already planned (a worker restart does not add one)
    (first,) = _scheduled()
    assert jobs.fetch_job(first).meta["kind"] == "backup"

    schedule_env.mkdir(mode=0o700)
    old = schedule_env / "djp-20200101T000000Z-auto.dump"
    old.write_bytes(b"x")
    manual = schedule_env / "djp-20200101T000000Z.dump"
    manual.write_bytes(b"x")
    result = backup_jobs.scheduled_backup_job()
    assert result["scheduled"] is True and result["name"].endswith("-auto.dump")
    assert result["pruned"] == [old.name] and manual.exists()  # retention: 1 daily; manual ones stay
    assert len(_scheduled()) == 2  # the next one is planned (the first is still in the registry here)


def test_no_schedule_when_the_interval_is_zero(schedule_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BACKUP_INTERVAL_HOURS", "0")
    get_settings.cache_clear()
    assert backup_jobs.schedule_backups() is False and _scheduled() == []
