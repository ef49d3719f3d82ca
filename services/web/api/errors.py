"""Domain exceptions and database refusals as HTTP answers: the one place where they meet.

Bodies are the shared envelope (services.common.http): `{"detail": ..., "code": ...}`.
"""

from __future__ import annotations

import logging
from types import SimpleNamespace

import psycopg
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy.exc import DataError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.common.http import REQUEST_ID_HEADER, error_response, http_error_response, request_id, unexpected_error
from services.common.db import session_scope
from services.domain import errors
from services.web.api.deps import authenticate
from services.web.ui.templates import templates

log = logging.getLogger("services.web")
TITLES = {403: "Not allowed", 404: "Not found", 405: "Not allowed", 409: "Conflict", 413: "Too large",
          422: "Cannot do that", 429: "Too many attempts", 500: "Something went wrong", 503: "Temporarily unavailable"}

STATUS = {
    errors.NotFound: 404,
    errors.Forbidden: 403,
    errors.Conflict: 409,
    errors.Invalid: 422,
    errors.Refused: 400,
    errors.TooLarge: 413,
    errors.NotAuthenticated: 401,
    errors.Unavailable: 503,
    errors.RateLimited: 429,
}


DATABASE_RETRY_AFTER = "5"
# SQLSTATE classes/codes of a lost or refused connection (08: connection exception; 57P01-57P03:
# the server is shutting down, crashed or is starting up). No SQLSTATE at all: the client could not connect.
_CONNECTION_SQLSTATES = ("08", "57P01", "57P02", "57P03")


def _connection_lost(exc: Exception) -> bool:
    orig = getattr(exc, "orig", None) or exc
    sqlstate = getattr(orig, "sqlstate", None)
    return sqlstate is None or sqlstate.startswith(_CONNECTION_SQLSTATES)


def status_of(exc: errors.DomainError) -> int:
    return next((code for kind, code in STATUS.items() if isinstance(exc, kind)), 400)


def _wants_html(request: Request) -> bool:
    """A browser page load (or a boosted link): not the API, and not an htmx fragment request."""
    if request.url.path.startswith(("/api", "/static")):
        return False
    if request.headers.get("hx-request") and not request.headers.get("hx-boosted"):
        return False
    return "text/html" in request.headers.get("accept", "")


def _signed_in_username(request: Request) -> str | None:
    """Who is browsing, for the navigation on an error page no route authenticated (an unknown path)."""
    if not request.cookies and "authorization" not in request.headers:
        return None
    try:
        with session_scope() as session:
            user = authenticate(request, session)
            return user.username if user else None
    except Exception:  # noqa: BLE001 - the database being down must not turn a 404 page into a 500
        return None


def error_page(request: Request, status: int, detail: str) -> Response:
    """The HTML error page for browser routes, with the signed-in user's navigation when known."""
    username = getattr(request.state, "username", None) or _signed_in_username(request)
    rid = request_id(request)
    return templates.TemplateResponse(
        request, "error.html",
        {"user": SimpleNamespace(username=username) if username else None, "status": status,
         "title": TITLES.get(status, "Error"), "detail": detail, "request_id": rid},
        status_code=status, headers={REQUEST_ID_HEADER: rid},
    )


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
        if _wants_html(request):
            return error_page(request, status, exc.detail)
        headers = {"Retry-After": "5"} if status == 503 else None
        if isinstance(exc, errors.RateLimited):
            headers = {"Retry-After": str(exc.retry_after)}
        return error_response(status, exc.detail, exc.code, headers=headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 401 and _wants_html(request):
            return _login_redirect(request)
        if _wants_html(request) and exc.status_code >= 400:
            detail = "There is no page at this address." if exc.status_code == 404 else str(exc.detail)
            return error_page(request, exc.status_code, detail)
        return http_error_response(exc)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        response = unexpected_error(request, log=log)
        if _wants_html(request):
            return error_page(request, 500, f"An unexpected error stopped this page (request id {request_id(request)}). "
                                            "It has been logged; try again or report the request id.")
        return response

    @app.exception_handler(DataError)
    @app.exception_handler(psycopg.DataError)
    async def data_error(request: Request, exc: Exception) -> JSONResponse:
        # Postgres refused a value the schema let through (an id past bigint, a number out of range).
        return error_response(
            422, "a value in the request is out of range or malformed (e.g. an id too large, a NUL character)",
            "invalid_value",
        )

    @app.exception_handler(OperationalError)
    @app.exception_handler(psycopg.OperationalError)
    async def database_unavailable(request: Request, exc: Exception) -> Response:
        # Postgres is down, restarting or refused the connection: the request may succeed shortly
        # (the pool pre-pings, so recovery needs no restart of the web app).
        reachable = not _connection_lost(exc)
        detail = ("the database is busy; try again shortly" if reachable
                  else "the database is not reachable; try again shortly")
        cause = (str(getattr(exc, "orig", None) or exc).strip().splitlines() or [type(exc).__name__])[0]
        log.warning("database unavailable on %s %s: %s", request.method, request.url.path, cause)
        if _wants_html(request):
            page = error_page(request, 503, detail[0].upper() + detail[1:] + ".")
            page.headers["Retry-After"] = DATABASE_RETRY_AFTER
            return page
        return error_response(503, detail, "unavailable", headers={"Retry-After": DATABASE_RETRY_AFTER})

    @app.exception_handler(PoolTimeout)
    async def pool_exhausted(request: Request, exc: PoolTimeout) -> Response:
        # Every pooled connection stayed busy for DB_POOL_TIMEOUT: overloaded, not broken.
        # JSON even for page loads, as the admission control's 503: an error page would look the user
        # up in the database, i.e. wait for the same exhausted pool again.
        log.warning("connection pool exhausted on %s %s", request.method, request.url.path)
        return error_response(503, "the server is busy; try again shortly", "overloaded",
                              headers={"Retry-After": "1"})

    @app.exception_handler(IntegrityError)
    async def integrity_error(request: Request, exc: IntegrityError) -> JSONResponse:
        # Services check what they can; a constraint that still trips means the data conflicts.
        return error_response(409, "the change conflicts with existing data or leaves a required field empty")
