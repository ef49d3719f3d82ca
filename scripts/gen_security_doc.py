"""Generate docs/security.md: the threat model, every route of the three apps with who may call it, and the
limits, read from the apps themselves (routes and their dependencies, request models, settings defaults).

    python scripts/gen_security_doc.py          # rewrite docs/security.md
    python scripts/gen_security_doc.py --check  # exit 1 when it is out of date (tests/web/test_security_doc.py)

Who may call a web route is read from its dependency tree: `require_admin` (AdminUser) = admin,
`get_current_user` (CurrentUser) = any signed-in user (cookie or Bearer token), neither = anonymous (each
anonymous route must be explained in ANONYMOUS below, or generation fails). Path parameters name the
resources a route is scoped to; RESOURCES says what the caller must have for each (a new one must be added).
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DOC = ROOT / "docs" / "security.md"
HIDDEN_METHODS = {"HEAD", "OPTIONS"}

# Why a web route needs no sign-in. A new anonymous route must be added here (else generation fails).
ANONYMOUS = {
    "/health": "liveness and readiness probe; says nothing about data",
    "/api/auth/login": "signing in (throttled; a browser's login must come from this site: CSRF check)",
    "/login": "the sign-in page and form (same rules as /api/auth/login)",
    "/api/auth/logout": "ends the caller's own session, if any",
    "/logout": "ends the caller's own session, if any",
    "/static": "CSS, JavaScript, vendored htmx and Swagger UI; no data",
}

# What the caller must have for a resource named by a path parameter. Others' resources answer 404.
RESOURCES = {
    "library_id": "a library they can read (own or shared with them); changes need their own library "
                  "(services/domain/access.py)",
    "album_id": "an album of a library they can read; changes need write access to it",
    "track_pk": "a track of a library they can read; changes need write access to it",
    "playlist_id": "their own playlist",
    "position": "a position in that playlist",
    "version_id": "a saved version of that playlist",
    "job_id": "a job they started or one on a library they can read (admins: all; backups: admins)",
    "token_id": "their own API token",
    "session_id": "their own spin session",
    "review_id": "a link review of a track they can write",
    "suggestion_id": "their own metadata suggestion",
    "username": "another user, by name (friends, shares)",
    "name": "a named item of theirs (prompt template) or, for admins, a backup file",
    "tool": "a download tool (`gamdl`, `ytdlp`), admins only",
}


@dataclass(frozen=True)
class Route:
    methods: str
    path: str
    who: str
    scope: str


def _walk(routes: list[Any], prefix: str = ""):
    """(path, route) for every route, through included routers (FastAPI's lazy `_IncludedRouter`s too)."""
    for route in routes:
        if hasattr(route, "original_router"):
            context = getattr(route, "include_context", None)
            yield from _walk(route.original_router.routes, prefix + (getattr(context, "prefix", "") or ""))
        elif hasattr(route, "routes") and not hasattr(route, "methods") and hasattr(route, "app"):
            yield prefix + route.path, route  # a mount (static files)
        else:
            yield prefix + route.path, route


def _calls(dependant) -> set[str]:
    names: set[str] = set()
    for sub in getattr(dependant, "dependencies", []):
        names.add(getattr(sub.call, "__name__", ""))
        names |= _calls(sub)
    return names


def _scope(path: str) -> str:
    params = re.findall(r"\{([^}:]+)(?::[^}]*)?\}", path)
    missing = [p for p in params if p not in RESOURCES]
    if missing:
        raise SystemExit(f"{path}: explain the path parameter(s) {missing} in RESOURCES ({__file__})")
    return ", ".join(f"`{p}`" for p in params)


def web_routes() -> list[Route]:
    from services.web.app import create_app

    rows = []
    for path, route in _walk(create_app().routes):
        methods = sorted(set(getattr(route, "methods", None) or {"GET"}) - HIDDEN_METHODS)
        if not hasattr(route, "dependant"):  # the static mount
            who = "anonymous"
        else:
            calls = _calls(route.dependant)
            who = "admin" if "require_admin" in calls else "user" if "get_current_user" in calls else "anonymous"
        if who == "anonymous":
            if path not in ANONYMOUS:
                raise SystemExit(f"{path} needs no sign-in: explain why in ANONYMOUS ({__file__}) or add CurrentUser")
            scope = ANONYMOUS[path]
        else:
            scope = _scope(path) or "—"
        rows.append(Route(", ".join(methods), path, who, scope))
    return sorted(rows, key=lambda r: (r.path, r.methods))


def service_routes(app) -> list[Route]:
    rows = []
    for path, route in _walk(app.routes):
        methods = sorted(set(getattr(route, "methods", None) or {"GET"}) - HIDDEN_METHODS)
        if path in ("/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"):
            who = "service token"
        else:
            who = "anonymous" if path == "/health" else "service token"
        rows.append(Route(", ".join(methods), path, who, ""))
    return sorted(rows, key=lambda r: (r.path, r.methods))


def _resolve(schema: dict, components: dict) -> dict:
    while "$ref" in schema:
        schema = components[schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _list_caps(schema: dict, components: dict, prefix: str = "", seen: frozenset = frozenset()) -> list[str]:
    """`field ≤ N` for every array with maxItems in a request body schema (nested objects too)."""
    found: list[str] = []
    ref = schema.get("$ref")
    if ref in seen:
        return found
    seen = seen | {ref} if ref else seen
    schema = _resolve(schema, components)
    for alternative in schema.get("anyOf", []) + schema.get("allOf", []) + schema.get("oneOf", []):
        found += _list_caps(alternative, components, prefix, seen)
    if schema.get("type") == "array":
        if "maxItems" in schema:
            found.append(f"`{prefix or 'body'}` ≤ {schema['maxItems']:,}")
        found += _list_caps(schema.get("items", {}), components, f"{prefix}[]", seen)
    for name, sub in schema.get("properties", {}).items():
        found += _list_caps(sub, components, f"{prefix}.{name}" if prefix else name, seen)
    return found


def list_caps(openapi: dict) -> list[tuple[str, str]]:
    """(operation, caps) for every operation with a capped list in its body or a capped list size parameter."""
    components = openapi.get("components", {}).get("schemas", {})
    rows = []
    for path, item in sorted(openapi["paths"].items()):
        for method, op in sorted(item.items()):
            caps: list[str] = []
            for content in op.get("requestBody", {}).get("content", {}).values():
                caps += _list_caps(content.get("schema", {}), components)
            for param in op.get("parameters", []):
                schema = _resolve(param.get("schema", {}), components)
                for option in [schema, *schema.get("anyOf", [])]:
                    if param["in"] == "query" and param["name"] in ("limit", "page_size", "per_page") \
                            and "maximum" in option:
                        caps.append(f"`?{param['name']}` ≤ {option['maximum']:,}")
            if caps:
                rows.append((f"{method.upper()} {path}", ", ".join(dict.fromkeys(caps))))
    return rows


def limits() -> list[tuple[str, str, str]]:
    """(limit, value, where it is enforced), values read from the code and the settings' defaults."""
    from services.common.settings import Settings
    from services.domain import jobs
    from services.domain.collection import csv_import
    from services.domain.downloads import service as downloads
    from services.domain.playlists import imports as playlist_imports
    from services.domain.search import models as search_models
    from services.web.api import limits as request_limits
    from services.web.api.routes import setbuilder

    defaults = {name: field.default for name, field in Settings.model_fields.items()}
    mb = 1024 * 1024
    rows = [
        ("Request body, any web route (`MAX_REQUEST_MB`)", f"{defaults['max_request_mb']} MB",
         "`services/web/api/limits.py` (ASGI middleware: `Content-Length` first, then counted while reading; 413)"),
    ]
    for method, pattern, own in request_limits.ALLOWANCES:
        rows.append((f"Request body, `{method} {pattern.pattern}` (a streamed upload)",
                     f"{own(Settings.model_construct()) // mb} MB + multipart framing",
                     "`services/web/api/limits.py` `ALLOWANCES`; the file's own cap again while reading"))
    rows += [
        ("Discogs CSV upload, bytes", f"{csv_import.MAX_BYTES // mb} MB",
         "`services/domain/collection/csv_import.py` (`MAX_BYTES`, while reading line by line)"),
        ("Discogs CSV upload, rows", f"{csv_import.MAX_ROWS:,}", "`services/domain/collection/csv_import.py` (`MAX_ROWS`)"),
        ("Audio upload (`ANALYSIS_MAX_UPLOAD_MB`)", f"{defaults['analysis_max_upload_mb']} MB",
         "`services/web/api/uploads.py` while streaming to disk; again in `services/essentia_api/app.py`"),
        ("Audio length analysed (`ANALYSIS_MAX_DURATION_MINUTES`)", f"{defaults['analysis_max_duration_minutes']:g} min",
         "`services/essentia_api` (decode)"),
        ("Playlist file import (M3U, NML, Rekordbox XML)", f"{playlist_imports.MAX_IMPORT_BYTES // mb} MB",
         "`services/domain/playlists/imports.py` (`MAX_IMPORT_BYTES`)"),
        ("Set builder candidates per request", f"{setbuilder.MAX_SET_TRACKS:,} tracks",
         "`services/web/api/routes/setbuilder.py` (request model)"),
        ("Set builder service input (`GA_MAX_TRACKS`)", f"{defaults['ga_max_tracks']:,} tracks", "`services/ga_service/app.py`"),
        ("Downloads or analyses queued by one batch request", f"{jobs.BATCH_MAX:,} tracks",
         "`services/domain/jobs.py` (`BATCH_MAX`; the rest wait for the next request)"),
        ("Jobs of one kind a user may have queued or running (`JOBS_MAX_QUEUED_PER_USER`)",
         f"{defaults['jobs_max_queued_per_user']:,}",
         "`services/domain/jobs.py` (`enqueue`: 429 + Retry-After; batches queue up to it, the rest skipped)"),
        ("Discogs syncs a user may have queued or running (`JOBS_MAX_SYNCS_PER_USER`)",
         f"{defaults['jobs_max_syncs_per_user']}", "`services/domain/jobs.py` (`enqueue`: 429 + Retry-After)"),
        ("Downloaded file (`DOWNLOAD_MAX_MB`)", f"{defaults['download_max_mb']} MB", "the download worker's fetchers"),
        ("Downloaded audio length (`DOWNLOAD_MAX_DURATION_MINUTES`)",
         f"{defaults['download_max_duration_minutes']:g} min", "the download worker's fetchers"),
        ("Cookie file for gamdl / yt-dlp", f"{downloads.COOKIE_MAX_BYTES // mb} MB",
         "`services/domain/downloads/service.py` (`COOKIE_MAX_BYTES`)"),
        ("Search page size", f"{search_models.MAX_LIMIT}", "`services/domain/search/models.py` (`MAX_LIMIT`)"),
    ]
    if "web_max_inflight" in defaults:
        rows.append(("Requests at work per web process (`WEB_MAX_INFLIGHT`; a response frees its slot once its "
                     f"headers are sent), waiting at most `WEB_QUEUE_TIMEOUT_MS` = {defaults.get('web_queue_timeout_ms')} ms",
                     f"{Settings.model_construct().resolved_web_max_inflight}",
                     "`services/web/api/admission.py` (then 503 + Retry-After)"))
        rows.append(("Uploads in flight per web process (`WEB_MAX_UPLOADS`: multipart, a body over 1 MiB or "
                     "chunked), counted apart", f"{defaults.get('web_max_uploads')}",
                     "`services/web/api/admission.py` (then 503 + Retry-After)"))
    try:
        from services.domain.accounts import throttle
    except ImportError:  # pragma: no cover - built alongside
        throttle = None
    if throttle is not None and hasattr(throttle, "ACCOUNT_POLICY"):
        for what, policy in (("account", throttle.ACCOUNT_POLICY), ("client address", throttle.ADDRESS_POLICY)):
            rows.append((f"Failed sign-ins per {what} before a lock", f"{policy.threshold}, then "
                         f"{policy.base_seconds:g} s doubling up to {policy.max_seconds / 60:g} min",
                         "`services/domain/accounts/throttle.py` (429 + Retry-After)"))
        rows.append(("Sign-ins verified at once per account / address", "what is left below the threshold "
                     "(one at a time past it)", "`services/domain/accounts/throttle.py` (`reserve`, atomic in Redis)"))
    return rows


THREAT_MODEL = """\
## Threat model

DJ Playlist is self-hosted for one person or a small group (a household, a crew). It defends against:

- **Other users of the same server**: every route but those listed as *anonymous* needs a session
  cookie or an API token; a user reads only their own and shared libraries and writes only their own
  (`services/domain/access.py` is the one rule); anyone else's resource answers 404, admin routes 403.
- **Other web sites in the user's browser** (CSRF, clickjacking, injected script): cookie-authenticated
  writes (POST/PUT/PATCH/DELETE) must carry an `Origin` (or, without one, a `Referer`) of this site,
  else 403 `csrf`; a login from another site is refused the same way; Bearer-token requests are exempt
  (a browser never sends a token on its own). The session cookie is HttpOnly and SameSite=Lax (Secure
  with `COOKIE_SECURE`). Every answer carries `X-Frame-Options: DENY`, `X-Content-Type-Options: nosniff`,
  `Referrer-Policy: same-origin` and a Content-Security-Policy without inline scripts or eval (below);
  `/docs` allows its one inline start-up script by hash. All in `services/web/api/security.py`.
- **Abuse of resources by a signed-in user or an anonymous client**: request size, upload, list and
  queue limits (below), login throttling, and admission control (503 with `Retry-After` beyond capacity).
- **Hostile input from outside services** (Discogs, catalog APIs, download sites): URLs go through an
  allow-list and a private-address guard (`services/domain/downloads/urls.py`); uploaded XML is parsed
  without DTDs or entities; user paths are resolved inside their root (`services/common/audio_files.py`).

Out of scope: a malicious admin (admins manage users, cookies for download tools and backups), the
operating system account running the stack, and the network between a reverse proxy and the app.
The internal services (audio analysis, set builder) listen on loopback by default and require
`SERVICE_TOKEN` on everything but `/health`.

**Behind a reverse proxy** the proxy must pass the original `Host` header (nginx:
`proxy_set_header Host $host;`): the CSRF check compares `Origin` with it. Serve over HTTPS and set
`COOKIE_SECURE=true`.
"""


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def render() -> str:
    from services.essentia_api.app import create_app as essentia_app
    from services.ga_service.app import create_app as ga_app
    from services.web.api.security import CSP
    from services.web.app import create_app as web_app

    web = web_routes()
    counts = {who: sum(r.who == who for r in web) for who in ("anonymous", "user", "admin")}
    parts = [
        "# Security",
        "",
        "<!-- Generated by `python scripts/gen_security_doc.py` from the apps' routes, dependencies, request "
        "models and settings; tests/web/test_security_doc.py fails when it is out of date. Edit the script, "
        "not this file. -->",
        "",
        THREAT_MODEL,
        "## Browser policy",
        "",
        "`Content-Security-Policy` on every web answer:",
        "",
        "```",
        CSP.replace("; ", ";\n"),
        "```",
        "",
        "`style-src-attr 'unsafe-inline'` lets templates set widths and colours with `style=` attributes "
        "(progress bars, the energy meter); attributes cannot run script. htmx's indicator `<style>` is "
        "turned off (`includeIndicatorStyles: false` in base.html) and app.css styles `.htmx-indicator`.",
        "",
        "## Who may call each route",
        "",
        "**Web app** (port 3000). *user* = any signed-in user, by session cookie or `Authorization: Bearer "
        "<token>`; *admin* = a user with `is_admin`; *anonymous* = no sign-in. Without the sign-in a route needs, "
        "the API answers 401 (pages redirect to /login); a non-admin on an admin route gets 403. "
        f"{len(web)} routes: {counts['anonymous']} anonymous, {counts['user']} user, {counts['admin']} admin.",
        "",
        "What the caller must have for the resource a path names (else 404):",
        "",
        *[f"- `{name}`: {text}" for name, text in RESOURCES.items()],
        "",
        _table(("Method", "Path", "Who", "Scoped to / why anonymous"),
               [(r.methods, f"`{r.path}`", r.who, r.scope) for r in web]),
        "",
    ]
    for title, app in (("Audio analysis service** (`services/essentia_api`, port 8001)", essentia_app()),
                       ("Set builder service** (`services/ga_service`, port 8002)", ga_app(start_pool=False))):
        rows = service_routes(app)
        parts += [
            f"**{title}: every route but `/health` requires `Authorization: Bearer $SERVICE_TOKEN` "
            "(`services/common/http.py:require_service_token`), else 401. Only the web app and the worker hold "
            "the token.",
            "",
            _table(("Method", "Path", "Who"), [(r.methods, f"`{r.path}`", r.who) for r in rows]),
            "",
        ]
    parts += [
        "## Limits",
        "",
        "Values are the defaults (settings in `services/common/settings.py`, overridable by the environment "
        "variable named) or constants in the code.",
        "",
        _table(("Limit", "Value", "Enforced in"), limits()),
        "",
        "### List sizes in requests",
        "",
        "Every list a web request may send is capped in its request model (422 beyond the cap); page sizes "
        "likewise. From the OpenAPI schema:",
        "",
        _table(("Operation", "Caps"), list_caps(web_app().openapi())),
        "",
    ]
    return "\n".join(parts)


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        if not DOC.exists() or DOC.read_text() != text:
            print(f"{DOC.relative_to(ROOT)} is out of date: run python scripts/gen_security_doc.py", file=sys.stderr)
            return 1
        return 0
    DOC.write_text(text)
    print(f"wrote {DOC.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
