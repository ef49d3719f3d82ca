#!/usr/bin/env python3
"""Prepare a release: `python scripts/release.py X.Y.Z` (or `make release VERSION=X.Y.Z`).

- refuses a dirty git tree, a version that is not X.Y.Z, or one not newer than pyproject.toml's;
- sets `version` in pyproject.toml and the default image tag (`${TAG:-...}`) of every image in
  docker-compose.prod.yml;
- moves CHANGELOG.md's "Unreleased" notes under a new "## [X.Y.Z] - <date>" section (when there are no
  notes, the commit subjects since the previous tag are listed); creates CHANGELOG.md if absent;
- prints the commit and tag commands; it runs neither (pushing the tag starts the release workflow,
  which builds and pushes the images).

Only the standard library: it runs before any install.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from datetime import date
from pathlib import Path

VERSION = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")
PROJECT_VERSION = re.compile(r'(?ms)^(\[project\]\s*$.*?^version\s*=\s*")([^"]+)(")')
IMAGE_TAG = re.compile(r"(image:\s*\S*/dj-playlist-[a-z-]+:\$\{TAG:-)([^}]+)(\})")
CHANGELOG_HEAD = ("# Changelog\n\nNotable changes of each release. Add notes under \"Unreleased\" as you go; "
                  "`make release VERSION=X.Y.Z` moves them under the new version.\n\n## [Unreleased]\n")
UNRELEASED = re.compile(r"(?ms)^## \[Unreleased\][^\n]*\n(.*?)(?=^## \[|\Z)")


class ReleaseError(Exception):
    pass


def _git(root: Path, *args: str) -> str:
    result = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ReleaseError(f"git {' '.join(args)} failed: {result.stderr.strip() or result.stdout.strip()}")
    return result.stdout


def parse(version: str) -> tuple[int, int, int]:
    m = VERSION.fullmatch(version.strip())
    if not m:
        raise ReleaseError(f"{version!r} is not a version X.Y.Z (digits only, e.g. 1.4.0)")
    return int(m.group(1)), int(m.group(2)), int(m.group(3))


def current_version(pyproject: str) -> str:
    m = PROJECT_VERSION.search(pyproject)
    if not m:
        raise ReleaseError("pyproject.toml has no [project] version")
    return m.group(2)


def _commit_subjects(root: Path) -> list[str]:
    tags = _git(root, "tag", "--list", "v*", "--sort=-v:refname").split()
    span = [f"{tags[0]}..HEAD"] if tags else ["HEAD"]
    return [s for s in _git(root, "log", "--format=%s", *span).splitlines() if s.strip()]


def changelog(text: str | None, version: str, today: date, subjects: list[str]) -> str:
    text = text if text and text.strip() else CHANGELOG_HEAD
    if not UNRELEASED.search(text):  # a changelog without the section: add it above the first release
        first = re.search(r"(?m)^## \[", text)
        at = first.start() if first else len(text)
        text = text[:at].rstrip("\n") + "\n\n## [Unreleased]\n\n" + text[at:]
    m = UNRELEASED.search(text)
    notes = m.group(1).strip("\n")
    if not notes.strip():
        notes = "\n".join(f"- {s}" for s in subjects) or "- No notable changes."
    section = f"## [Unreleased]\n\n## [{version}] - {today.isoformat()}\n\n{notes}\n\n"
    return (text[:m.start()] + section + text[m.end():].lstrip("\n")).rstrip("\n") + "\n"


def release(root: Path, version: str, *, today: date | None = None, dry_run: bool = False) -> list[str]:
    """Make the release edits in `root`; returns the commands to run next."""
    new = parse(version)
    if _git(root, "status", "--porcelain").strip():
        raise ReleaseError("the git tree has uncommitted changes: commit or stash them first")
    pyproject_path = root / "pyproject.toml"
    compose_path = root / "docker-compose.prod.yml"
    changelog_path = root / "CHANGELOG.md"
    pyproject = pyproject_path.read_text()
    current = current_version(pyproject)
    if new <= parse(current):
        raise ReleaseError(f"{version} is not newer than the current version {current}")
    tag = f"v{version}"
    if _git(root, "tag", "--list", tag).strip():
        raise ReleaseError(f"tag {tag} exists already")
    compose = compose_path.read_text()
    compose, images = IMAGE_TAG.subn(rf"\g<1>{version}\g<3>", compose)
    if not images:
        raise ReleaseError("docker-compose.prod.yml has no image with a ${TAG:-...} tag to bump")
    pyproject = PROJECT_VERSION.sub(rf"\g<1>{version}\g<3>", pyproject, count=1)
    notes = changelog(changelog_path.read_text() if changelog_path.exists() else None, version,
                      today or date.today(), _commit_subjects(root))
    if not dry_run:
        pyproject_path.write_text(pyproject)
        compose_path.write_text(compose)
        changelog_path.write_text(notes)
    return [
        f'git commit -am "Release {version}"',
        f'git tag -a {tag} -m "Release {version}"',
        f"git push origin HEAD {tag}",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("version", help="the new version, X.Y.Z")
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[1],
                        help="the repository (default: the one holding this script)")
    parser.add_argument("--dry-run", action="store_true", help="check and show the commands, change nothing")
    args = parser.parse_args(argv)
    try:
        commands = release(args.root.resolve(), args.version, dry_run=args.dry_run)
    except (ReleaseError, OSError) as exc:
        print(f"release: {exc}", file=sys.stderr)
        return 1
    print(f"{'Checked' if args.dry_run else 'Prepared'} release {args.version}: pyproject.toml, "
          f"docker-compose.prod.yml (image tags), CHANGELOG.md. Review the diff, then run:")
    for command in commands:
        print(f"  {command}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
