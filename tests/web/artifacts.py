"""Where browser tests write their screenshots: TEST_ARTIFACTS_DIR, or test-artifacts/ at the repo root
(uploaded by the CI workflow)."""

from __future__ import annotations

import os
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def artifacts_dir(*parts: str) -> Path:
    base = Path(os.environ.get("TEST_ARTIFACTS_DIR") or ROOT / "test-artifacts")
    path = base.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def screenshot_name(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", label).strip("_") + ".png"
