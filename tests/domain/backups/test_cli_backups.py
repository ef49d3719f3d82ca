"""`djp backup create | list | restore NAME | delete NAME` against the session's database (restore is only
tried with a damaged file here: refused, nothing touched)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from services.cli import app
from services.common.settings import get_settings

runner = CliRunner()


@pytest.fixture
def dumps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, servers):
    monkeypatch.setenv("BACKUP_DIR", str(tmp_path / "dumps"))
    get_settings.cache_clear()
    yield tmp_path / "dumps"
    monkeypatch.undo()
    get_settings.cache_clear()


def test_backup_commands(dumps: Path) -> None:
    created = runner.invoke(app, ["backup", "create"])
    assert created.exit_code == 0, created.output
    (name,) = [p.name for p in dumps.iterdir() if p.name.endswith(".dump")]
    assert name in created.output

    listed = runner.invoke(app, ["backup", "list"])
    assert listed.exit_code == 0 and listed.stdout.split("\t")[0] == name

    damaged = dumps / "djp-20200101T000000Z.dump"
    damaged.write_bytes((dumps / name).read_bytes()[:200])
    refused = runner.invoke(app, ["backup", "restore", damaged.name, "--yes"])
    assert refused.exit_code == 1 and "nothing was restored" in refused.output

    traversal = runner.invoke(app, ["backup", "delete", "../dumps/" + name])
    assert traversal.exit_code == 1 and "not a backup name" in traversal.output and (dumps / name).exists()

    deleted = runner.invoke(app, ["backup", "delete", name])
    assert deleted.exit_code == 0 and not (dumps / name).exists()
