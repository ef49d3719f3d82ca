"""scripts/release.py on a scratch clone: the project's real pyproject.toml and docker-compose.prod.yml
committed in a fresh git repository in tmp_path, the script copied in and run as a user would."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    (repo / "scripts").mkdir(parents=True)
    for name in ("pyproject.toml", "docker-compose.prod.yml", "scripts/release.py"):
        shutil.copy(ROOT / name, repo / name)
    # Start from a known version whatever the project's is now.
    text = (repo / "pyproject.toml").read_text()
    (repo / "pyproject.toml").write_text(re.sub(r'(?m)^version = "[^"]+"', 'version = "0.1.0"', text, count=1))
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.email", "dj@example.com")
    git(repo, "config", "user.name", "DJ")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "First commit")
    git(repo, "commit", "-q", "--allow-empty", "-m", "Add the crate digger")
    return repo


def run(repo: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(repo / "scripts" / "release.py"), *args], check=False, cwd=repo,
                          capture_output=True, text=True, timeout=60)


def images(repo: Path) -> dict[str, str]:
    services = yaml.safe_load((repo / "docker-compose.prod.yml").read_text())["services"]
    return {n: s["image"] for n, s in services.items() if "dj-playlist-" in s.get("image", "")}


def test_release_bumps_version_image_tags_and_changelog(clone: Path) -> None:
    before = images(clone)
    assert set(before) == {"web", "essentia-api", "ga-service", "download-worker", "migrate"}
    result = run(clone, "0.2.0")
    assert result.returncode == 0, result.stderr
    assert 'version = "0.2.0"' in (clone / "pyproject.toml").read_text()
    after = images(clone)
    assert set(after) == set(before)
    for name, image in after.items():
        image_name = "web" if name == "migrate" else name  # migrate runs the web image
        assert image.endswith("/dj-playlist-" + image_name + ":${TAG:-0.2.0}"), image
        assert image.replace("0.2.0", "latest") == before[name]  # only the tag changed
    changelog = (clone / "CHANGELOG.md").read_text()
    assert re.search(r"^## \[0\.2\.0\] - \d{4}-\d{2}-\d{2}$", changelog, re.MULTILINE)
    assert "- Add the crate digger" in changelog and "## [Unreleased]" in changelog
    assert changelog.index("## [Unreleased]") < changelog.index("## [0.2.0]")
    # The tag command is printed, not run.
    assert 'git tag -a v0.2.0 -m "Release 0.2.0"' in result.stdout
    assert git(clone, "tag", "--list") == ""
    assert git(clone, "status", "--porcelain").strip()  # edits left for review, not committed

    # The next release: notes written under Unreleased move under it; the earlier section stays.
    text = (clone / "CHANGELOG.md").read_text().replace("## [Unreleased]\n", "## [Unreleased]\n\n- Backups\n", 1)
    (clone / "CHANGELOG.md").write_text(text)
    git(clone, "add", "-A")
    git(clone, "commit", "-qm", "Release 0.2.0")
    git(clone, "tag", "v0.2.0")
    result = run(clone, "0.3.0")
    assert result.returncode == 0, result.stderr
    changelog = (clone / "CHANGELOG.md").read_text()
    section = changelog.split("## [0.3.0]", 1)[1].split("## [0.2.0]", 1)[0]
    assert "- Backups" in section and "Add the crate digger" not in section
    assert changelog.count("## [Unreleased]") == 1 and "## [0.2.0]" in changelog
    assert all(i.endswith(":${TAG:-0.3.0}") for i in images(clone).values())


def test_a_dirty_tree_is_refused(clone: Path) -> None:
    (clone / "notes.txt").write_text("wip")
    result = run(clone, "0.2.0")
    assert result.returncode == 1 and "uncommitted changes" in result.stderr
    assert 'version = "0.1.0"' in (clone / "pyproject.toml").read_text()
    assert not (clone / "CHANGELOG.md").exists()


@pytest.mark.parametrize("version,reason", [("0.1.0", "not newer"), ("0.0.9", "not newer"),
                                            ("1.2", "not a version"), ("v1.2.3", "not a version"),
                                            ("1.2.3-rc1", "not a version")])
def test_a_version_not_newer_or_malformed_is_refused(clone: Path, version: str, reason: str) -> None:
    result = run(clone, version)
    assert result.returncode == 1 and reason in result.stderr
    assert git(clone, "status", "--porcelain") == ""  # nothing changed


def test_dry_run_changes_nothing(clone: Path) -> None:
    result = run(clone, "1.0.0", "--dry-run")
    assert result.returncode == 0 and "git tag -a v1.0.0" in result.stdout
    assert git(clone, "status", "--porcelain") == ""


def test_the_makefile_target(clone: Path) -> None:
    shutil.copy(ROOT / "Makefile", clone / "Makefile")
    git(clone, "add", "Makefile")
    git(clone, "commit", "-qm", "Makefile")
    missing = subprocess.run(["make", "-s", "release"], check=False, cwd=clone, capture_output=True, text=True, timeout=60)
    assert missing.returncode != 0 and "VERSION=" in missing.stdout + missing.stderr
    ok = subprocess.run(["make", "-s", "release", "VERSION=0.4.0", f"PYTHON={sys.executable}"], check=False, cwd=clone,
                        capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert 'version = "0.4.0"' in (clone / "pyproject.toml").read_text()
