"""Browser protections for the web app: CSRF refusal for cookie-authenticated writes, and security headers.

CSRF: a write (POST/PUT/PATCH/DELETE) that carries the session cookie must come from one of our own
pages: its `Origin` header (or, when a browser sends none, its `Referer`) must name this site (the
request's `Host`); a login with an Origin or Referer must name this site too. Otherwise it is refused
with 403 `{"detail", "code": "csrf"}`. Requests with an `Authorization` header are exempt: a Bearer
token is never sent by a browser on its own (no ambient authority), and `deps.authenticate` never falls
back to the cookie when that header is present.
Behind a reverse proxy the proxy must pass the original `Host` (nginx: `proxy_set_header Host $host`).

Headers on every response (error pages included): `X-Content-Type-Options: nosniff`, `X-Frame-Options:
DENY`, `Referrer-Policy: same-origin` and `CSP`, a Content-Security-Policy without inline scripts or
eval. A response that sets its own Content-Security-Policy keeps it (`/docs`: the Swagger UI page allows
its one inline script by hash, see `docs_response`).
"""

from __future__ import annotations

import base64
import hashlib
import re
from urllib.parse import urlsplit

from fastapi import FastAPI
from starlette.responses import HTMLResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.common.http import error_response, request_headers
from services.web.api.asgi import HTTPMiddleware
from services.web.api.cookies import SESSION_COOKIE

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Login answers with a session cookie: a forged login (the attacker's account in the victim's browser) is
# refused like any other cross-site write, cookie or not. Browsers send Origin with every POST, so a login
# with neither Origin nor Referer (and no cookie) is a program's (curl, scripts) and is let through.
LOGIN_PATHS = frozenset({"/api/auth/login", "/login"})

# style-src-attr 'unsafe-inline': templates set widths and colours with `style=` attributes (progress bars,
# the energy meter, chart legends), which htmx swaps in as markup. Style attributes cannot run script.
CSP_DIRECTIVES: tuple[tuple[str, str], ...] = (
    ("default-src", "'self'"),
    ("script-src", "'self'"),
    ("style-src", "'self'"),
    ("style-src-attr", "'unsafe-inline'"),
    ("img-src", "'self' data: https:"),  # album art comes from Discogs' image servers
    ("media-src", "'self' blob:"),
    ("connect-src", "'self'"),
    ("font-src", "'self'"),
    ("object-src", "'none'"),
    ("base-uri", "'self'"),
    ("form-action", "'self'"),
    ("frame-ancestors", "'none'"),
)
CSP = "; ".join(f"{name} {value}" for name, value in CSP_DIRECTIVES)
SECURITY_HEADERS: tuple[tuple[str, str], ...] = (
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "same-origin"),
    ("content-security-policy", CSP),
)
CSRF_DETAIL = ("cross-site request refused: a browser write must come from this site's pages (Origin or Referer "
               "of this host); API clients authenticate with `Authorization: Bearer <token>` instead of the cookie")
_DEFAULT_PORTS = {"http": 80, "https": 443}
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def csp_with(**extra: str) -> str:
    """The policy with some directives replaced (keys in snake_case: script_src="'self' 'sha256-…'")."""
    replaced = {name.replace("_", "-"): value for name, value in extra.items()}
    return "; ".join(f"{name} {replaced.get(name, value)}" for name, value in CSP_DIRECTIVES)


def _origin_of(url: str) -> tuple[str, int] | None:
    """(host, port) of an http(s) URL, or None for anything else (`null`, other schemes, junk)."""
    try:
        parts = urlsplit(url.strip())
        if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
            return None
        return parts.hostname.lower(), parts.port or _DEFAULT_PORTS[parts.scheme]
    except ValueError:
        return None


def _host_of(host: str, scheme: str) -> tuple[str, int] | None:
    """(host, port) of a Host header, its port defaulting to that of the caller's scheme."""
    try:
        parts = urlsplit(f"//{host.strip()}")
        if not parts.hostname:
            return None
        return parts.hostname.lower(), parts.port or _DEFAULT_PORTS.get(scheme, 80)
    except ValueError:
        return None


def same_site(url: str | None, host: str | None) -> bool:
    """Whether an Origin/Referer value names the site the request was sent to (its Host header)."""
    if not url or not host:
        return False
    origin = _origin_of(url)
    return origin is not None and origin == _host_of(host, urlsplit(url.strip()).scheme)


def _has_session_cookie(cookie_header: str) -> bool:
    return any(part.split("=", 1)[0].strip() == SESSION_COOKIE for part in cookie_header.split(";"))


def csrf_refusal(method: str, path: str, headers: dict[str, str]) -> bool:
    """Whether a request must be refused as a possible cross-site request forgery (headers: lower-case names)."""
    if method not in UNSAFE_METHODS or headers.get("authorization"):
        return False
    if path not in LOGIN_PATHS and not _has_session_cookie(headers.get("cookie", "")):
        return False  # no ambient authority: the route's own authentication answers (401)
    source = headers.get("origin", headers.get("referer"))
    if source is None and path in LOGIN_PATHS and not _has_session_cookie(headers.get("cookie", "")):
        return False  # a program logging in (every browser sends Origin with a POST): nothing to forge
    return not same_site(source, headers.get("host"))


class BrowserSecurity(HTTPMiddleware):
    """Pure ASGI (no buffering, event streams pass through): the CSRF check, then the headers on the answer."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                present = {name.lower() for name, _ in headers}
                headers.extend((name.encode(), value.encode()) for name, value in SECURITY_HEADERS
                               if name.encode() not in present)
                message = {**message, "headers": headers}
            await send(message)

        if csrf_refusal(scope["method"], scope["path"], request_headers(scope)):
            await error_response(403, CSRF_DETAIL, "csrf")(scope, receive, send_with_headers)
            return
        await self.app(scope, receive, send_with_headers)


def install_browser_security(app: FastAPI) -> None:
    """Wrap the whole middleware stack (outside Starlette's error middleware, so 500 pages get the headers too)."""
    build = app.build_middleware_stack

    def build_with_security() -> ASGIApp:
        return BrowserSecurity(build())

    app.build_middleware_stack = build_with_security  # type: ignore[method-assign]


def docs_response(page: HTMLResponse) -> HTMLResponse:
    """The Swagger UI page with a policy allowing exactly its inline start-up script (by hash)."""
    body = bytes(page.body).decode()
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(script.encode()).digest()).decode() + "'"
        for script in _INLINE_SCRIPT.findall(body)
    )
    page.headers["content-security-policy"] = csp_with(script_src=f"'self' {hashes}".strip())
    return page
