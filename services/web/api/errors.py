"""Domain exceptions and database refusals as HTTP answers: the one place where they meet.

Bodies are the shared envelope (services.common.http): `{"detail": ..., "code": ...}`.
"""

from __future__ import annotations

import psycopg
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy.exc import DataError, IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.common.http import error_response, http_error_response
from services.domain import errors

STATUS = {
    errors.NotFound: 404,
    errors.Forbidden: 403,
    errors.Conflict: 409,
    errors.Invalid: 422,
    errors.Refused: 400,
    errors.TooLarge: 413,
    errors.NotAuthenticated: 401,
    errors.Unavailable: 503,
}


def status_of(exc: errors.DomainError) -> int:
    return next((code for kind, code in STATUS.items() if isinstance(exc, kind)), 400)


def _wants_html(request: Request) -> bool:
    return not request.url.path.startswith("/api") and "text/html" in request.headers.get("accept", "")


def _login_redirect(request: Request) -> RedirectResponse:
    return RedirectResponse(f"/login?next={request.url.path}", status_code=303)


def install_domain_errors(app: FastAPI) -> None:
    @app.exception_handler(errors.DomainError)
    async def domain_error(request: Request, exc: errors.DomainError) -> Response:
        status = status_of(exc)
        if status == 401:
            if _wants_html(request):
                return _login_redirect(request)
            return error_response(401, exc.detail, exc.code, headers={"WWW-Authenticate": "Bearer"})
        headers = {"Retry-After": "5"} if status == 503 else None
        return error_response(status, exc.detail, exc.code, headers=headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 401 and _wants_html(request):
            return _login_redirect(request)
        return http_error_response(exc)

    @app.exception_handler(DataError)
    @app.exception_handler(psycopg.DataError)
    async def data_error(request: Request, exc: Exception) -> JSONResponse:
        # Postgres refused a value the schema let through (an id past bigint, a number out of range).
        return error_response(
            422, "a value in the request is out of range or malformed (e.g. an id too large, a NUL character)",
            "invalid_value",
        )

    @app.exception_handler(IntegrityError)
    async def integrity_error(request: Request, exc: IntegrityError) -> JSONResponse:
        # Services check what they can; a constraint that still trips means the data conflicts.
        return error_response(409, "the change conflicts with existing data or leaves a required field empty")
