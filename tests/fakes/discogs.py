"""A local fake of the Discogs API speaking the real response shapes (tests and the benchmark).

- `GET /users/{name}/collection/folders/0/releases?per_page=&page=` with `pagination.urls.next/last`
- `GET /releases/{id}` with tracklists (headings, index tracks, sub-tracks, various artists, suffixes)
- `GET /artists/{id}/releases?sort=year&sort_order=desc&per_page=&page=`: the artist's known releases
  (those added with `add_artist_release`, plus every stored release crediting the artist), newest first
- `X-Discogs-Ratelimit`, `-Used`, `-Remaining` headers over a moving 60 s window
- scripted faults per path: "429:<retry-after>", "500", "hang:<seconds>", "malformed", "404", "403"
- `release_delay` (slow server for the kill test), request counters per path, Authorization seen.
Run standalone: `python -m tests.fakes.discogs --releases 5000 --port 8123`.
"""

from __future__ import annotations

import argparse
import json
import re
import threading
import time
from collections import Counter, deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

GENRES = [["Electronic"], ["Electronic", "Funk / Soul"], ["Jazz"], ["Hip Hop"]]
STYLES = [["Deep House"], ["Techno", "Minimal"], ["Disco"], ["Soul-Jazz"], ["Boom Bap"]]


def make_release(release_id: int, *, tracks: int = 6, kind: str = "normal") -> dict[str, Any]:
    """A release body like Discogs'. kind: normal | various | headings | subtracks | split."""
    n = release_id
    artists = [{"name": f"Artist {n % 97} (2)" if n % 5 == 0 else f"Artist {n % 97}", "anv": "", "join": "",
                "role": "", "tracks": "", "id": 1000 + n % 97, "resource_url": ""}]
    if kind == "various":
        artists = [{"name": "Various", "anv": "", "join": "", "id": 194}]
    tracklist: list[dict[str, Any]] = []
    sides = "AB" if tracks <= 8 else "ABCD"
    per_side = max(1, -(-tracks // len(sides)))
    for i in range(tracks):
        side = sides[min(i // per_side, len(sides) - 1)]
        pos = f"{side}{i % per_side + 1}"
        mins, secs = 3 + (n + i) % 6, (n * 7 + i * 13) % 60
        track: dict[str, Any] = {"position": pos, "type_": "track", "title": f"Track {i + 1} of {n}",
                                 "duration": f"{mins}:{secs:02d}" if (n + i) % 9 else "",
                                 "extraartists": [{"name": "Some Remixer (3)", "role": "Remix", "anv": "", "join": ""}]}
        if kind == "various":
            track["artists"] = [{"name": f"Comp Artist {i}*", "anv": "", "join": "&"},
                                {"name": f"Guest {i} (4)", "anv": "", "join": ""}]
        if kind == "split" and side == "B":
            track["artists"] = [{"name": "Other Side Band", "anv": "", "join": ""}]
        tracklist.append(track)
    if kind == "headings":
        tracklist.insert(0, {"position": "", "type_": "heading", "title": "Side One", "duration": ""})
        tracklist.insert(len(tracklist) // 2 + 1, {"position": "", "type_": "heading", "title": "Side Two", "duration": ""})
    if kind == "subtracks":
        tracklist.append({"position": "", "type_": "index", "title": "Suite", "duration": "",
                          "sub_tracks": [{"position": "C1a", "type_": "track", "title": "Part I", "duration": "1:02:03"},
                                         {"position": "C1b", "type_": "track", "title": "Part II", "duration": "4:00"}]})
        tracklist.append({"position": "C2", "type_": "track", "title": "Medley", "duration": "9:00",
                          "sub_tracks": [{"position": "C2.a", "type_": "track", "title": "Intro", "duration": ""},
                                         {"position": "C2.b", "type_": "track", "title": "Groove", "duration": "5:00"}]})
    genres, styles = GENRES[n % len(GENRES)], STYLES[n % len(STYLES)]
    return {
        "id": n, "status": "Accepted", "year": 1970 + n % 50, "title": f"Release {n}",
        "artists": artists, "artists_sort": artists[0]["name"],
        "labels": [{"name": f"Label {n % 31} (5)", "catno": f"CAT-{n:05d}", "entity_type": "1"}],
        "formats": [{"name": "Vinyl", "qty": "1", "descriptions": ['12"', "33 ⅓ RPM"]}],
        "country": "UK", "released": f"{1970 + n % 50}", "genres": genres, "styles": styles,
        "uri": f"https://www.discogs.com/release/{n}", "thumb": f"https://img.example/{n}-150.jpg",
        "tracklist": tracklist,
    }


def basic_information(release: dict[str, Any]) -> dict[str, Any]:
    return {k: release[k] for k in ("id", "title", "year", "artists", "labels", "formats", "genres", "styles")} | {
        "thumb": release["thumb"], "cover_image": release["thumb"].replace("-150", ""),
        "resource_url": f"https://api.discogs.com/releases/{release['id']}", "master_id": 0}


class FakeDiscogs:
    def __init__(self, *, rate_limit: int = 60, ratelimit_headers: bool = True) -> None:
        self.releases: dict[int, dict[str, Any]] = {}
        self.collections: dict[str, list[int]] = {}  # username -> release ids, newest first
        self.artist_items: dict[int, list[dict[str, Any]]] = {}  # artist id -> extra /artists/{id}/releases items
        self.private: set[str] = set()
        self.faults: dict[str, deque[str]] = {}
        self.release_delay = 0.0
        self.rate_limit = rate_limit
        self.ratelimit_headers = ratelimit_headers
        self.requests: Counter[str] = Counter()
        self.authorization: Counter[str] = Counter()
        self.user_agents: set[str] = set()
        self._window: deque[float] = deque()
        self._lock = threading.Lock()
        self._cache: dict[int, bytes] = {}
        self.server: ThreadingHTTPServer | None = None

    # -- data --------------------------------------------------------------------------------------
    def add_release(self, release: dict[str, Any]) -> None:
        self.releases[release["id"]] = release
        self._cache.pop(release["id"], None)

    def set_collection(self, username: str, release_ids: list[int], *, kinds: dict[int, str] | None = None,
                       tracks: int = 6) -> None:
        for rid in release_ids:
            if rid not in self.releases:
                self.add_release(make_release(rid, tracks=tracks, kind=(kinds or {}).get(rid, "normal")))
        self.collections[username] = list(release_ids)

    def add_artist_release(self, artist_id: int, item_id: int, *, title: str, year: int, kind: str = "release",
                           role: str = "Main", artist: str | None = None, main_release: int | None = None,
                           label: str = "Some Label", format: str = '12", EP') -> dict[str, Any]:
        """One item of the artist's releases list, as Discogs shapes it (a release, or a master)."""
        item: dict[str, Any] = {"id": item_id, "title": title, "type": kind, "role": role, "year": year,
                                "artist": artist or f"Artist {artist_id}", "thumb": f"https://img.example/a{item_id}.jpg",
                                "resource_url": f"https://api.discogs.com/{kind}s/{item_id}",
                                "stats": {"community": {"in_wantlist": 3, "in_collection": 7}}}
        if kind == "master":
            item["main_release"] = main_release or item_id * 10
        else:
            item.update(status="Accepted", label=label, format=format)
        self.artist_items.setdefault(artist_id, []).append(item)
        return item

    def _artist_releases(self, artist_id: int) -> list[dict[str, Any]] | None:
        items = list(self.artist_items.get(artist_id, []))
        for rel in self.releases.values():
            if any(a.get("id") == artist_id for a in rel.get("artists", [])):
                items.append({"id": rel["id"], "title": rel["title"], "type": "release", "role": "Main",
                              "year": rel.get("year") or 0, "artist": rel["artists"][0]["name"],
                              "status": "Accepted", "label": rel["labels"][0]["name"], "format": "Vinyl",
                              "thumb": rel["thumb"], "resource_url": f"https://api.discogs.com/releases/{rel['id']}"})
        if not items and artist_id not in self.artist_items:
            return None
        return sorted(items, key=lambda i: (-(i.get("year") or 0), i["id"]))

    def fault(self, path: str, *actions: str) -> None:
        self.faults.setdefault(path, deque()).extend(actions)

    def release_requests(self, release_id: int | None = None) -> int:
        if release_id is not None:
            return self.requests[f"/releases/{release_id}"]
        return sum(v for k, v in self.requests.items() if k.startswith("/releases/"))

    # -- server ------------------------------------------------------------------------------------
    def start(self, port: int = 0) -> str:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            wbufsize = 1 << 16  # one write per response (no Nagle / delayed-ACK stalls)
            disable_nagle_algorithm = True

            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                fake._handle(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self.base_url

    @property
    def base_url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        if self.server:
            self.server.shutdown()
            self.server.server_close()

    def _ratelimit(self) -> dict[str, str]:
        now = time.monotonic()
        with self._lock:
            self._window.append(now)
            while self._window and self._window[0] <= now - 60:
                self._window.popleft()
            used = len(self._window)
        if not self.ratelimit_headers:
            return {}
        return {"X-Discogs-Ratelimit": str(self.rate_limit), "X-Discogs-Ratelimit-Used": str(used),
                "X-Discogs-Ratelimit-Remaining": str(max(0, self.rate_limit - used))}

    def _send(self, h: BaseHTTPRequestHandler, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        try:
            h.send_response(status)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                h.send_header(k, v)
            h.end_headers()
            h.wfile.write(body)
            h.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(h.path)
        path = parts.path
        with self._lock:
            self.requests[path] += 1
            self.authorization[h.headers.get("Authorization", "")] += 1
            self.user_agents.add(h.headers.get("User-Agent", ""))
            queue = self.faults.get(path)
            action = queue.popleft() if queue else None
        headers = self._ratelimit()
        if action:
            kind, _, arg = action.partition(":")
            if kind == "429":
                return self._send(h, 429, b'{"message": "You are making requests too quickly."}',
                                  {**headers, "Retry-After": arg or "1"})
            if kind == "500":
                return self._send(h, 500, b'{"message": "Internal server error"}', headers)
            if kind == "hang":
                time.sleep(float(arg or 5))
            elif kind == "malformed":
                return self._send(h, 200, b'{"id": 1, "tracklist": [ {"position": "A1", "ti', headers)
            elif kind in ("404", "403", "401"):
                return self._send(h, int(kind), b'{"message": "The requested resource was not found."}', headers)
        m = re.fullmatch(r"/releases/(\d+)", path)
        if m:
            if self.release_delay:
                time.sleep(self.release_delay)
            rid = int(m.group(1))
            if rid not in self.releases:
                return self._send(h, 404, b'{"message": "Release not found."}', headers)
            body = self._cache.get(rid)
            if body is None:
                body = self._cache[rid] = json.dumps(self.releases[rid]).encode()
            return self._send(h, 200, body, headers)
        m = re.fullmatch(r"/artists/(\d+)/releases", path)
        if m:
            items = self._artist_releases(int(m.group(1)))
            if items is None:
                return self._send(h, 404, b'{"message": "Artist not found."}', headers)
            q = parse_qs(parts.query)
            if q.get("sort_order", ["asc"])[0] != "desc":
                items.reverse()
            per_page = min(100, int(q.get("per_page", ["50"])[0]))
            page = max(1, int(q.get("page", ["1"])[0]))
            pages = max(1, -(-len(items) // per_page))
            base = f"{self.base_url}{path}?per_page={per_page}&sort=year&sort_order=desc"
            urls = {"last": f"{base}&page={pages}", "next": f"{base}&page={page + 1}"} if page < pages else {}
            body = json.dumps({"pagination": {"page": page, "pages": pages, "per_page": per_page, "items": len(items),
                                              "urls": urls},
                               "releases": items[(page - 1) * per_page: page * per_page]}).encode()
            return self._send(h, 200, body, headers)
        m = re.fullmatch(r"/users/([^/]+)/collection/folders/0/releases", path)
        if m:
            user = m.group(1)
            if user in self.private:
                return self._send(h, 403, b'{"message": "You don\'t have permission to access this resource."}',
                                  headers)
            if user not in self.collections:
                return self._send(h, 404, b'{"message": "User does not exist or may have been deleted."}', headers)
            q = parse_qs(parts.query)
            per_page = min(500, int(q.get("per_page", ["50"])[0]))
            page = max(1, int(q.get("page", ["1"])[0]))
            ids = self.collections[user]
            pages = max(1, -(-len(ids) // per_page))
            chunk = ids[(page - 1) * per_page: page * per_page]
            base = f"{self.base_url}{path}?per_page={per_page}&sort=added&sort_order=desc"
            urls = {"first": f"{base}&page=1", "last": f"{base}&page={pages}"} if pages > 1 else {}
            if page < pages:
                urls["next"] = f"{base}&page={page + 1}"
            if page > 1:
                urls["prev"] = f"{base}&page={page - 1}"
            releases = []
            for i, rid in enumerate(chunk):
                rel = self.releases[rid]
                releases.append({
                    "id": rid, "instance_id": 900000 + rid, "folder_id": 1,
                    "date_added": f"2024-01-{1 + (i % 28):02d}T10:00:00-08:00", "rating": rid % 6,
                    "basic_information": basic_information(rel),
                    "notes": [{"field_id": 3, "value": f"note {rid}"}] if rid % 4 == 0 else [],
                })
            body = json.dumps({"pagination": {"page": page, "pages": pages, "per_page": per_page,
                                              "items": len(ids), "urls": urls},
                               "releases": releases}).encode()
            return self._send(h, 200, body, headers)
        return self._send(h, 404, b'{"message": "The requested resource was not found."}', headers)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--releases", type=int, default=5000)
    parser.add_argument("--tracks", type=int, default=6)
    parser.add_argument("--port", type=int, default=8123)
    parser.add_argument("--username", default="benchuser")
    args = parser.parse_args()
    fake = FakeDiscogs(rate_limit=1_000_000)
    fake.set_collection(args.username, list(range(args.releases, 0, -1)), tracks=args.tracks)
    print(fake.start(args.port), flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        fake.stop()


if __name__ == "__main__":
    main()
