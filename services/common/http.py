"""The HTTP edge the three services share: one error envelope, request ids, the service-token guard.

Every error body is `{"detail": "<what went wrong, for people>", "code": "<stable machine code>"}`.
Validation errors add `errors` (one entry per field); unexpected errors add `request_id`, and are
logged with it so an operator can find the traceback from what the user saw.
"""

from __future__ import annotations

import logging
import re
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.common.service_auth import bearer_matches, service_token
from services.common.settings import Settings

REQUEST_ID_HEADER = "X-Request-ID"
_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# Codes for errors raised as bare HTTP statuses (routing, malformed bodies, framework limits).
STATUS_CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_type",
    422: "invalid",
    429: "rate_limited",
    503: "unavailable",
}


def error_response(
    status: int, detail: str, code: str | None = None, *, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    code = code or STATUS_CODES.get(status, "bad_request" if status < 500 else "error")
    return JSONResponse({"detail": detail, "code": code, **extra}, status_code=status, headers=headers)


def request_id(request: Request) -> str:
    return getattr(request.state, "request_id", None) or uuid.uuid4().hex


def validation_summary(errors: list[dict[str, Any]]) -> str:
    parts = []
    for err in errors[:5]:
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


def plain_errors(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Validation errors as JSON: no echoed input, exception objects in `ctx` as strings."""
    plain = []
    for err in errors:
        item = {k: v for k, v in err.items() if k not in ("input", "ctx", "url")}
        if "ctx" in err:
            item["ctx"] = {k: str(v) for k, v in err["ctx"].items()}
        plain.append(item)
    return plain


def request_headers(scope: Scope) -> dict[str, str]:
    """The request's headers by lower-case name (latin-1, as HTTP sends them; a repeated header: the last)."""
    return {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]}


class RequestIdMiddleware:
    """Every request gets an id (the client's X-Request-ID when well-formed), in `request.state.request_id`
    and on the response. Pure ASGI: BaseHTTPMiddleware costs a task and a stream per request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = request_headers(scope).get("x-request-id", "")
        rid = given if _REQUEST_ID_RE.match(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = rid

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = rid
            await send(message)

        await self.app(scope, receive, send_with_id)


class ServiceTokenMiddleware:
    """Refuses every request but /health that lacks the service token (401 in the error envelope)."""

    def __init__(self, app: ASGIApp, *, token: str) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] == "http" and scope["path"] != "/health"
                and not bearer_matches(request_headers(scope).get("authorization"), self.token)):
            response = error_response(401, "missing or wrong service token (SERVICE_TOKEN)", "unauthorized")
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def http_error_response(exc: StarletteHTTPException) -> JSONResponse:
    return error_response(exc.status_code, str(exc.detail), headers=getattr(exc, "headers", None))


def install_error_handling(app: FastAPI, *, log: logging.Logger) -> None:
    """Request ids on every response, and the one error envelope for validation, HTTP and unexpected errors."""

    app.add_middleware(RequestIdMiddleware)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = plain_errors(exc.errors())
        return error_response(422, validation_summary(errors), "invalid", errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return http_error_response(exc)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        return unexpected_error(request, log=log)


def unexpected_error(request: Request, *, log: logging.Logger) -> JSONResponse:
    """Log the exception being handled with the request id, and answer 500 with that id (no details)."""
    rid = request_id(request)
    log.exception("unhandled error [request %s] on %s %s", rid, request.method, request.url.path)
    return error_response(
        500, f"internal error (request id {rid})", "internal_error", request_id=rid, headers={REQUEST_ID_HEADER: rid}
    )


def require_service_token(app: FastAPI, settings: Settings) -> None:
    """Refuse every request but /health that lacks the service token (401 in the error envelope)."""
    app.add_middleware(ServiceTokenMiddleware, token=service_token(settings))
