"""Build every image of the Dockerfile with podman and prove each one starts: `make images`.

No Docker engine runs on the development machines, and registry images cannot be pulled, so:
1. A stand-in for the `python:<version>-slim-bookworm` base is made once from Debian packages
   (debootstrap, minbase + python3 + venv), with the official image's layout where the Dockerfile
   relies on it (`python` on PATH, /usr/local/bin), and tagged locally under the official name.
2. `podman build --isolation chroot --target <t>` builds each target (the runtime cannot *run*
   containers here: the sandbox refuses its rlimit calls).
3. Each image is mounted (`podman image mount`) and its CMD started with `chroot`, as the image's
   non-root user, with the image's environment: web, essentia-api and ga-service must answer
   /health; the worker must connect to Redis and register.

    python scripts/images.py build [--target web ...]
    python scripts/images.py smoke [--target web ...]   # needs DATABASE_URL / REDIS_URL of running servers
    python scripts/images.py sizes
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import socket
import socketserver
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
TARGETS = ("web", "essentia-api", "ga-service", "download-worker")
IMAGE_PREFIX = "localhost/dj-playlist"
BASE_CACHE = Path(os.environ.get("DJP_IMAGE_BASE_CACHE", "/var/cache/djp-base"))
DEBIAN_MIRROR = os.environ.get("DEBIAN_MIRROR", "http://deb.debian.org/debian")
# What each image's /health (or the worker's registration) is checked on.
HEALTH_PORTS = {"web": "WEB_PORT", "essentia-api": "ESSENTIA_PORT", "ga-service": "GA_PORT"}


class ImageError(RuntimeError):
    pass


def _run(args: list[str], **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(args, capture_output=True, text=True, **kwargs)
    if result.returncode != 0:
        raise ImageError(f"{' '.join(args[:4])} … failed ({result.returncode}): {result.stderr.strip()[-2000:]}")
    return result


def python_version() -> str:
    match = re.search(r"^ARG PYTHON_VERSION=(\S+)$", (ROOT / "Dockerfile").read_text(), re.M)
    if match is None:
        raise ImageError("the Dockerfile has no ARG PYTHON_VERSION")
    return match.group(1)


def base_name() -> str:
    return f"docker.io/library/python:{python_version()}-slim-bookworm"


def image_name(target: str) -> str:
    return f"{IMAGE_PREFIX}-{target}:dev"


def image_exists(name: str) -> bool:
    return subprocess.run(["podman", "image", "exists", name]).returncode == 0


def ensure_base(log=print) -> str:
    """The stand-in base image, made once and cached (the rootfs under BASE_CACHE, the image in podman)."""
    name = base_name()
    if image_exists(name):
        return name
    rootfs = BASE_CACHE / "rootfs"
    if not (rootfs / "usr/bin/python3").exists():
        if shutil.which("debootstrap") is None:
            raise ImageError("debootstrap is not installed (apt-get install debootstrap)")
        log(f"debootstrap bookworm → {rootfs} (once, about a minute)")
        shutil.rmtree(rootfs, ignore_errors=True)
        BASE_CACHE.mkdir(parents=True, exist_ok=True)
        _run(["debootstrap", "--variant=minbase", "--include=python3,python3-venv,ca-certificates",
              "bookworm", str(rootfs), DEBIAN_MIRROR])
    # The official image keeps python, pip and friends in /usr/local/bin; the Dockerfile calls `python`.
    local_bin = rootfs / "usr/local/bin"
    local_bin.mkdir(parents=True, exist_ok=True)
    for link in ("python", "python3"):
        if not (local_bin / link).exists():
            (local_bin / link).symlink_to("/usr/bin/python3")
    # This machine reaches PyPI and Debian through an egress proxy with its own CA: the stand-in (a
    # local image, never pushed) trusts what the host trusts, so pip and apt work inside the build.
    host_cas = sorted(Path("/usr/local/share/ca-certificates").glob("*.crt"))
    if host_cas:
        for ca in host_cas:
            shutil.copy2(ca, rootfs / "usr/local/share/ca-certificates" / ca.name)
        _run(["chroot", str(rootfs), "update-ca-certificates"])
    for junk in ("var/cache/apt/archives", "var/lib/apt/lists", "usr/share/doc", "usr/share/man"):
        for child in (rootfs / junk).glob("*"):
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child, ignore_errors=True)
            elif child.name != "lock":
                child.unlink(missing_ok=True)
    log(f"importing the stand-in base as {name}")
    tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
    imported = subprocess.run(
        ["podman", "import", "--change", "ENV PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
         "--change", "ENV LANG=C.UTF-8", "--change", 'CMD ["python3"]', "-", name],
        stdin=tar.stdout, capture_output=True, text=True)
    tar.wait()
    if imported.returncode != 0 or tar.returncode != 0:
        raise ImageError(f"podman import failed: {imported.stderr.strip()[-2000:]}")
    return name


def build(targets: list[str], log=print) -> dict[str, float]:
    """Build each target; returns the seconds each took."""
    ensure_base(log)
    took = {}
    for target in targets:
        log(f"building {image_name(target)}")
        started = time.monotonic()
        _run(["podman", "build", "--isolation", "chroot", "--pull=never", "--target", target,
              "-t", image_name(target), "-f", str(ROOT / "Dockerfile"), str(ROOT)])
        took[target] = time.monotonic() - started
        log(f"  {target}: {took[target]:.0f} s")
    return took


def image_config(name: str) -> dict:
    out = _run(["podman", "image", "inspect", name]).stdout
    return json.loads(out)[0]["Config"]


def image_size_mb(name: str) -> float:
    out = _run(["podman", "image", "inspect", "--format", "{{.Size}}", name]).stdout
    return int(out.strip()) / 1e6


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MountedImage:
    """An image's filesystem, mounted read-only, with a writable /data and /tmp bound in."""

    def __init__(self, name: str):
        self.name = name
        self.path: Path | None = None
        self._binds: list[Path] = []
        self._scratch = Path(tempfile.mkdtemp(prefix="djp-image-"))

    def __enter__(self) -> "MountedImage":
        self.path = Path(_run(["podman", "image", "mount", self.name]).stdout.strip())
        # An image mount is read-only: the services write to /data (DATA_DIR) and /tmp.
        for inside in ("data", "tmp", "dev/shm"):
            outside = self._scratch / inside.replace("/", "_")
            outside.mkdir(mode=0o777)
            outside.chmod(0o1777)
            _run(["mount", "--bind", str(outside), str(self.path / inside)])
            self._binds.append(self.path / inside)
        for special in ("proc", "dev/null", "dev/urandom", "dev/random", "dev/zero"):
            target = self.path / special
            if target.exists():
                _run(["mount", "--bind", f"/{special}", str(target)])
                self._binds.append(target)
        return self

    def __exit__(self, *exc) -> None:
        for bind in reversed(self._binds):
            subprocess.run(["umount", "-l", str(bind)], capture_output=True)
        subprocess.run(["podman", "image", "unmount", self.name], capture_output=True)
        shutil.rmtree(self._scratch, ignore_errors=True)

    def start(self, command: list[str], env: dict[str, str], user: str, workdir: str) -> subprocess.Popen:
        """Start a command inside the image as `user`, with exactly `env` (no shell)."""
        args = ["chroot", f"--userspec={user}", str(self.path), "/usr/bin/env", "-i", f"--chdir={workdir}",
                *(f"{k}={v}" for k, v in env.items()), *command]
        return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                start_new_session=True)


class _Relay(socketserver.BaseRequestHandler):
    """Copy bytes both ways between a TCP client and the Unix socket the server was made for."""

    def handle(self) -> None:
        upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        upstream.connect(self.server.unix_path)

        def pump(src: socket.socket, dst: socket.socket) -> None:
            try:
                while data := src.recv(65536):
                    dst.sendall(data)
            except OSError:
                pass
            finally:
                for sock in (src, dst):
                    try:
                        sock.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass

        other = threading.Thread(target=pump, args=(upstream, self.request), daemon=True)
        other.start()
        pump(self.request, upstream)
        other.join()
        upstream.close()


class _Forwarder(socketserver.ThreadingTCPServer):
    daemon_threads = True

    def __init__(self, unix_path: str):
        super().__init__(("127.0.0.1", 0), _Relay)
        self.unix_path = unix_path
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def port(self) -> int:
        return self.server_address[1]


def _tcp_url(url: str, forwarders: list) -> str:
    """`url` itself when it is TCP; for a Unix socket, a loopback TCP URL forwarded to it."""
    parts = urlsplit(url)
    if parts.scheme == "unix":  # redis: unix:///path/redis.sock[?db=N]
        db = parse_qs(parts.query).get("db", ["0"])[0]
        forwarder = _Forwarder(parts.path)
        forwarders.append(forwarder)
        return f"redis://127.0.0.1:{forwarder.port}/{db}"
    socket_dir = parse_qs(parts.query).get("host", [""])[0]
    if parts.scheme.startswith("postgresql") and socket_dir.startswith("/"):
        forwarder = _Forwarder(f"{socket_dir}/.s.PGSQL.{parts.port or 5432}")
        forwarders.append(forwarder)
        query = "&".join(f"{k}={v[0]}" for k, v in parse_qs(parts.query).items() if k != "host")
        netloc = parts.netloc.split("@")[0] + "@" if "@" in parts.netloc else ""
        return urlunsplit((parts.scheme, f"{netloc}127.0.0.1:{forwarder.port}", parts.path, query, ""))
    return url


def _image_env(config: dict) -> dict[str, str]:
    return dict(item.split("=", 1) for item in config.get("Env") or [])


def _worker_names(redis_url: str) -> set[str]:
    from redis import Redis
    from rq import Worker

    return {worker.name for worker in Worker.all(connection=Redis.from_url(redis_url))}


def smoke(target: str, *, database_url: str, redis_url: str, timeout: float = 120.0, log=print) -> str:
    """Start `target`'s CMD from its mounted image and wait for /health (or the worker's registration)."""
    import httpx

    name = image_name(target)
    config = image_config(name)
    user = config.get("User") or ""
    if user in ("", "0", "root", "0:0"):
        raise ImageError(f"{name} runs as root")
    env = _image_env(config) | {"DATABASE_URL": database_url, "REDIS_URL": redis_url,
                                "SECRET_KEY": "image-smoke-test-secret-key-0123456789",
                                "SERVICE_TOKEN": "image-smoke-service-token", "BIND_HOST": "127.0.0.1"}
    secrets = [k for k in _image_env(config) if re.search(r"(TOKEN|SECRET|PASSWORD|KEY)", k)
               and _image_env(config)[k]]
    if secrets:
        raise ImageError(f"{name} carries secrets in its environment: {secrets}")
    port = None
    if target in HEALTH_PORTS:
        port = _free_port()
        env[HEALTH_PORTS[target]] = str(port)
    known_workers = set() if port is not None else _worker_names(redis_url)
    # Servers on Unix sockets (the embedded ones) are reached over loopback TCP, as a container would.
    forwarders = []
    env["DATABASE_URL"], env["REDIS_URL"] = (_tcp_url(database_url, forwarders), _tcp_url(redis_url, forwarders))
    with MountedImage(name) as mounted, contextlib.ExitStack() as stack:
        for forwarder in forwarders:
            stack.callback(forwarder.shutdown)
        process = mounted.start(config["Cmd"], env, user, config.get("WorkingDir") or "/app")
        try:
            deadline, last = time.monotonic() + timeout, "no answer"
            while time.monotonic() < deadline:
                if process.poll() is not None:
                    raise ImageError(f"{target} exited with {process.returncode}: {process.stdout.read()[-3000:]}")
                if port is not None:
                    try:
                        response = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
                        last = f"{response.status_code} {response.text[:300]}"
                        if response.status_code == 200:
                            return f"{target}: /health {response.status_code} {response.text[:120]}"
                    except httpx.HTTPError as exc:
                        last = f"{type(exc).__name__}"
                elif new := _worker_names(redis_url) - known_workers:
                    return f"{target}: worker registered ({', '.join(sorted(new))})"
                time.sleep(0.5)
            os.killpg(process.pid, 9)
            output = process.communicate()[0]
            raise ImageError(f"{target} did not come up within {timeout:.0f} s (last /health: {last}): {output[-3000:]}")
        finally:
            if process.poll() is None:
                os.killpg(process.pid, 15)
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, 9)
                    process.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("build", "smoke", "sizes", "all"))
    parser.add_argument("--target", action="append", choices=TARGETS)
    args = parser.parse_args(argv)
    targets = args.target or list(TARGETS)
    if shutil.which("podman") is None:
        print("podman is not installed (apt-get install podman debootstrap)", file=sys.stderr)
        return 2
    try:
        if args.command in ("build", "all"):
            build(targets)
        if args.command in ("smoke", "all"):
            database_url, redis_url = os.environ.get("DATABASE_URL"), os.environ.get("REDIS_URL")
            if not database_url or not redis_url:
                print("smoke needs DATABASE_URL (TCP or a Unix socket folder) and REDIS_URL (TCP) of running"
                      " servers, e.g. the ones `make up` started (see data/)", file=sys.stderr)
                return 2
            for target in targets:
                print(smoke(target, database_url=database_url, redis_url=redis_url))
        if args.command in ("sizes", "all"):
            for target in targets:
                print(f"{image_name(target)}  {image_size_mb(image_name(target)):.0f} MB")
    except ImageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
