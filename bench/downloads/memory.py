"""Peak memory of process trees, sampled every 0.2 s in a thread (psutil).

For each watched root process (an RQ worker, the analysis service), children that already exist when
sampling starts are "resident" (a worker's RQ scheduler process, forked at start-up by the one worker
holding the scheduler lock; the analysis service's pool processes); children that appear later are
"transient" (a worker's work horse, one fork per job). Every sample records:
* `rss_py`: the root's RSS + its transient direct children's (for a worker: worker + horse);
* `pss_py`: the same in proportional set size, so pages the forked horse still shares with its
  parent are counted once (RSS counts them in both);
* `rss_resident`: the resident direct children (the scheduler process);
* `rss_all`: the root + every descendant (adds the scheduler and the ffmpeg processes of the horse).
The peaks are maxima over samples; a process living less than 0.2 s can be missed.
"""

from __future__ import annotations

import threading
from typing import Self

import psutil

MB = 1024 * 1024


class TreeSampler:
    def __init__(self, roots: dict[str, int], *, every: float = 0.2) -> None:
        self.roots = {name: psutil.Process(pid) for name, pid in roots.items()}
        self.resident = {name: {c.pid for c in root.children()} for name, root in self.roots.items()}
        self.every = every
        self.peaks = {name: {"rss_py": 0, "pss_py": 0, "rss_resident": 0, "rss_all": 0, "root_rss": 0}
                      for name in roots}
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def _mem(proc: psutil.Process, *, pss: bool) -> tuple[int, int]:
        try:
            if pss:
                info = proc.memory_full_info()
                return info.rss, info.pss
            return proc.memory_info().rss, 0
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            return 0, 0

    def sample(self) -> None:
        for name, root in self.roots.items():
            try:
                direct = root.children()
                everyone = root.children(recursive=True)
            except psutil.NoSuchProcess:
                continue
            rss_py, pss_py = self._mem(root, pss=True)
            root_rss = rss_py
            resident = 0
            for child in direct:
                if child.pid in self.resident[name]:
                    resident += self._mem(child, pss=False)[0]
                else:
                    rss, pss = self._mem(child, pss=True)
                    rss_py += rss
                    pss_py += pss
            direct_pids = {c.pid for c in direct}
            deeper = sum(self._mem(c, pss=False)[0] for c in everyone if c.pid not in direct_pids)
            peak = self.peaks[name]
            for key, value in (("rss_py", rss_py), ("pss_py", pss_py), ("rss_resident", resident),
                               ("rss_all", rss_py + resident + deeper), ("root_rss", root_rss)):
                peak[key] = max(peak[key], value)
        self.samples += 1

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.sample()

    def __enter__(self) -> Self:
        self.sample()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def peaks_mb(self) -> dict[str, dict[str, float]]:
        return {name: {k: round(v / MB, 1) for k, v in peak.items()} for name, peak in self.peaks.items()}
