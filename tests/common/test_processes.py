"""pid_alive: a zombie (killed, not yet reaped) is dead; a running process is alive."""

from __future__ import annotations

import os
import subprocess
import time

from services.common.processes import pid_alive


def test_running_zombie_and_gone_processes():
    assert pid_alive(os.getpid())
    child = subprocess.Popen(["sleep", "30"])
    try:
        assert pid_alive(child.pid)
        child.kill()
        deadline = time.monotonic() + 10
        while pid_alive(child.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not pid_alive(child.pid)  # a zombie until we reap it below
        assert os.path.exists(f"/proc/{child.pid}")
    finally:
        child.wait()
    assert not pid_alive(child.pid)
