"""`make images`: every Dockerfile target builds with podman and its command starts from the image
(web, essentia-api and ga-service answer /health; the worker registers in Redis), as a non-root user
with no secret in the image's environment. Needs podman and debootstrap (scripts/images.py)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import images  # noqa: E402

pytestmark = [
    pytest.mark.skipif(shutil.which("podman") is None or shutil.which("debootstrap") is None,
                       reason="podman and debootstrap are not installed here (apt-get install podman debootstrap)"),
    # A first build downloads every dependency (about 15 minutes on 2 cores); later ones reuse the layers.
    pytest.mark.timeout(3600),
]


@pytest.fixture(scope="module")
def built() -> dict[str, float]:
    # Layers are cached: after the first build only changed steps (the source copy) rebuild.
    return images.build(list(images.TARGETS), log=lambda line: None)


@pytest.mark.parametrize("target", images.TARGETS)
def test_image_builds_and_starts(built, target, database_url, redis_url):
    config = images.image_config(images.image_name(target))
    assert config["User"].split(":")[0] not in ("", "0", "root")
    env = dict(item.split("=", 1) for item in config.get("Env") or [])
    assert not any(env.get(k) for k in ("SECRET_KEY", "SERVICE_TOKEN", "DISCOGS_USER_TOKEN", "OPENAI_API_KEY"))
    result = images.smoke(target, database_url=database_url, redis_url=redis_url, timeout=180)
    if target == "download-worker":
        assert "worker registered" in result
    else:
        assert "/health 200" in result and '"status":"ok"' in result.replace(" ", "")
