"""The shared shape of the app's pure ASGI middleware (no BaseHTTPMiddleware: nothing is buffered, event
streams pass through): act on HTTP requests only, let every other scope (lifespan, websocket) through."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send


class HTTPMiddleware:
    """Subclasses implement `handle` (HTTP requests only) and may widen `passes_through`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    def passes_through(self, scope: Scope) -> bool:
        """Whether the request goes straight to the app, untouched."""
        return scope["type"] != "http"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.passes_through(scope):
            await self.app(scope, receive, send)
            return
        await self.handle(scope, receive, send)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        raise NotImplementedError
