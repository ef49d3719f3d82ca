"""A local HTTP server for download tests: real media files for yt-dlp's generic extractor, and the
failures a download meets (404, a redirect, a stall, a slow link, a file that is not audio).

Paths: /files/<name> (served with Content-Length and Range), /slow/<name>?bps=N (throttled),
/stall/<name> (headers and a few bytes, then silence), /redirect?to=<url> (302), /missing (404).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

TYPES = {".mp3": "audio/mpeg", ".m4a": "audio/mp4", ".wav": "audio/wav", ".flac": "audio/flac",
         ".ogg": "audio/ogg"}


class MediaServer:
    def __init__(self, root: Path, *, host: str = "127.0.0.1") -> None:
        self.root = root
        self.hits: Counter[str] = Counter()
        self.stop_event = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def handle(self) -> None:
                try:
                    super().handle()
                except (ConnectionResetError, BrokenPipeError):
                    pass  # the client gave up (a timeout or size-cap test)

            def _file(self, name: str) -> Path | None:
                path = (server.root / name).resolve()
                return path if path.is_file() and server.root.resolve() in path.parents else None

            def _head(self, status: int, length: int, ctype: str, extra: dict[str, str] | None = None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(length))
                for k, v in (extra or {}).items():
                    self.send_header(k, v)
                self.end_headers()

            def do_HEAD(self) -> None:
                self.do_GET(head=True)

            def do_GET(self, head: bool = False) -> None:
                parts = urlsplit(self.path)
                query = parse_qs(parts.query)
                server.hits[parts.path] += 1
                kind, _, name = parts.path.lstrip("/").partition("/")
                if kind == "redirect":
                    self.send_response(302)
                    self.send_header("Location", query["to"][0])
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                path = self._file(name) if name else None
                if kind not in ("files", "slow", "stall") or path is None:
                    body = b"not found"
                    self._head(404, len(body), "text/plain")
                    if not head:
                        self.wfile.write(body)
                    return
                data = path.read_bytes()
                ctype = TYPES.get(path.suffix, "application/octet-stream")
                self._head(200, len(data), ctype, {"Accept-Ranges": "none"})
                if head:
                    return
                try:
                    if kind == "files":
                        self.wfile.write(data)
                    elif kind == "stall":
                        self.wfile.write(data[:1024])
                        self.wfile.flush()
                        server.stop_event.wait(120)
                    else:
                        bps = int(query.get("bps", ["65536"])[0])
                        step = max(1024, bps // 10)
                        for at in range(0, len(data), step):
                            if server.stop_event.is_set():
                                return
                            self.wfile.write(data[at:at + step])
                            self.wfile.flush()
                            time.sleep(step / bps)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.httpd = ThreadingHTTPServer((host, 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.base = f"http://{host}:{self.port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> MediaServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop_event.set()
        self.httpd.shutdown()
        self.httpd.server_close()
