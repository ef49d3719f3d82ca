"""Worker-side stand-ins for the pool tests (module-level so spawned workers can import them).

Paths carry a directive: "hang:<path>" sleeps past any timeout; "slowonce:<marker>:<path>" sleeps
past any timeout the first time (creating <marker>) and analyses <path> normally afterwards."""

from __future__ import annotations

import os
import time

from services.essentia_api.pool import _run


def run(path: str, options) -> dict:
    if path.startswith("hang:"):
        time.sleep(120)
        path = path[len("hang:") :]
    elif path.startswith("slowonce:"):
        _, marker, path = path.split(":", 2)
        if not os.path.exists(marker):
            open(marker, "w").close()
            time.sleep(120)
    return _run(path, options)
