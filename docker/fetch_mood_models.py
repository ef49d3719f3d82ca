"""Build-time helper: download the Essentia mood models named in MOOD_MODELS_URLS into a folder.

    MOOD_MODELS_URLS="https://.../mood_happy-musicnn-msd-2.pb https://.../mood_happy-musicnn-msd-2.json" \
        python docker/fetch_mood_models.py /opt/mood-models

An empty MOOD_MODELS_URLS (the default) creates the empty folder only: the analysis service then uses
its descriptor-based mood estimates (see services/essentia_api/analysis/mood.py).
"""

from __future__ import annotations

import os
import sys
import urllib.parse
import urllib.request
from pathlib import Path


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    target = Path(argv[0])
    target.mkdir(parents=True, exist_ok=True)
    for url in os.environ.get("MOOD_MODELS_URLS", "").split():
        name = Path(urllib.parse.urlsplit(url).path).name
        if not name:
            print(f"error: no file name in {url}", file=sys.stderr)
            return 1
        print(f"fetching {url} -> {target / name}", flush=True)
        urllib.request.urlretrieve(url, target / name)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
