"""Container health probe, stdlib only (the slim images have no curl).

    python /opt/djp/healthcheck.py http://127.0.0.1:3000/health   # HTTP service: exit 0 on a 2xx answer
    python /opt/djp/healthcheck.py 'http://127.0.0.1:{WEB_PORT}/health'  # {NAME}: from the environment
    python /opt/djp/healthcheck.py --worker                        # RQ worker: Redis answers and a worker of
                                                                   # this container is registered

Used by the Dockerfile's HEALTHCHECK and by the compose files' healthcheck entries.
"""

from __future__ import annotations

import os
import socket
import sys
import urllib.error
import urllib.request


def check_http(template: str, timeout: float = 4.0) -> int:
    try:
        url = template.format_map(os.environ)
    except KeyError as exc:
        print(f"unhealthy: {exc} is not set (needed by {template})", file=sys.stderr)
        return 1
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return 0 if 200 <= resp.status < 300 else 1
    except (urllib.error.URLError, OSError) as exc:
        print(f"unhealthy: {url}: {exc}", file=sys.stderr)
        return 1


def check_worker() -> int:
    from rq import Worker

    from services.common.db import get_redis

    try:
        connection = get_redis()
        connection.ping()
        hostname = socket.gethostname()
        workers = [w for w in Worker.all(connection=connection) if w.hostname == hostname]
    except Exception as exc:  # noqa: BLE001 - any failure to reach Redis is "unhealthy", not a trace
        print(f"unhealthy: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    if not workers:
        print(f"unhealthy: no RQ worker registered from {hostname}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str]) -> int:
    if argv == ["--worker"]:
        return check_worker()
    if len(argv) == 1 and argv[0].startswith("http"):
        return check_http(argv[0])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
