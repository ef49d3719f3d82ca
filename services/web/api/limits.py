"""A request-size limit for every route: bodies over MAX_REQUEST_MB answer 413 `too_large`.

Checked on `Content-Length` before anything reads the body, and by counting the bytes as they arrive for
chunked bodies (no Content-Length). Routes that stream a larger upload under their own cap are allowed up
to that cap (plus the multipart framing) whatever MAX_REQUEST_MB is: `ALLOWANCES` maps them to the setting
that governs them, and the route still enforces its exact limit while reading.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from fastapi import FastAPI
from starlette.exceptions import HTTPException
from starlette.types import Message, Receive, Scope, Send

from services.common.http import error_response
from services.common.settings import Settings, get_settings
from services.domain.collection.csv_import import MAX_BYTES as CSV_MAX_BYTES
from services.domain.playlists.imports import MAX_IMPORT_BYTES
from services.web.api.asgi import HTTPMiddleware
from services.web.api.uploads import MULTIPART_OVERHEAD

MB = 1024 * 1024

# (method, path pattern, the route's own cap in bytes from the settings)
ALLOWANCES: tuple[tuple[str, re.Pattern[str], Callable[[Settings], int]], ...] = (
    ("POST", re.compile(r"/api/tracks/[^/]+/audio"), lambda s: s.analysis_max_upload_mb * MB),
    ("POST", re.compile(r"/api/libraries/[^/]+/audio-files"), lambda s: s.analysis_max_upload_mb * MB),
    ("POST", re.compile(r"/api/libraries/[^/]+/import/csv"), lambda s: CSV_MAX_BYTES),
    ("POST", re.compile(r"/libraries/[^/]+/import-csv"), lambda s: CSV_MAX_BYTES),
    ("POST", re.compile(r"/libraries"), lambda s: CSV_MAX_BYTES),  # new library with an optional CSV
    ("POST", re.compile(r"/api/playlists/import"), lambda s: MAX_IMPORT_BYTES),
)


def rule_for(method: str, path: str, settings: Settings | None = None) -> tuple[int, str]:
    """The most body bytes a request may send, and the refusal's message: a streamed route's own cap
    (plus the multipart framing) when it has one, else MAX_REQUEST_MB."""
    settings = settings or get_settings()
    for allowed_method, pattern, own in ALLOWANCES:
        if method == allowed_method and pattern.fullmatch(path):
            cap = own(settings)
            return cap + MULTIPART_OVERHEAD, f"the file is larger than {_size(cap)}"
    limit = settings.max_request_mb * MB
    return limit, f"the request body is larger than {_size(limit)}"


def limit_for(method: str, path: str, settings: Settings | None = None) -> int:
    return rule_for(method, path, settings)[0]


class BodyTooLarge(HTTPException):
    """Raised into whoever reads the body past the limit (an HTTPException, so body parsers pass it on)."""

    def __init__(self, detail: str) -> None:
        super().__init__(413, detail)


def _size(limit: int) -> str:
    return f"{limit // MB} MB" if limit >= MB else f"{limit} bytes"


class RequestSizeLimit(HTTPMiddleware):
    """Pure ASGI middleware (no buffering): refuses over-long bodies with 413 `{"detail","code":"too_large"}`."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit, detail = rule_for(scope["method"], scope["path"])
        length = _content_length(scope)
        if length is not None and length > limit:
            await _refuse(scope, send, detail)  # the body is never read
            return

        received = 0
        exceeded = False
        started = False

        async def limited_receive() -> Message:
            nonlocal received, exceeded
            if exceeded:
                raise BodyTooLarge(detail)
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    exceeded = True
                    raise BodyTooLarge(detail)
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if exceeded:  # whatever the app made of the refused body, the answer is 413
                if not started and message["type"] == "http.response.start":
                    started = True
                    await _refuse(scope, send, detail)
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except BodyTooLarge:
            if not started:
                started = True
                await _refuse(scope, send, detail)
        except Exception:
            if not exceeded:
                raise
            if not started:
                started = True
                await _refuse(scope, send, detail)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _refuse(scope: Scope, send: Send, detail: str) -> None:
    response = error_response(413, detail, "too_large", headers={"Connection": "close"})

    async def no_body() -> Message:
        return {"type": "http.disconnect"}

    await response(scope, no_body, send)


def install_request_limits(app: FastAPI) -> None:
    app.add_middleware(RequestSizeLimit)
