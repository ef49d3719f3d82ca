"""Domain exceptions. Each has a stable machine-readable `code`; the edges decide how to show it
(the web app maps classes to HTTP statuses in one place, the CLI prints `detail`)."""

from __future__ import annotations


class DomainError(Exception):
    code = "error"

    def __init__(self, detail: str, *, code: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code


class NotFound(DomainError):
    """It does not exist, or the user may not see it (never reveal others' ids)."""

    code = "not_found"


class Forbidden(DomainError):
    """The user may see it but not change it."""

    code = "forbidden"


class Conflict(DomainError):
    """The change clashes with what is stored (a duplicate, a deleted track)."""

    code = "conflict"


class Invalid(DomainError):
    """The input is well-formed but not acceptable (a duplicate position, an impossible set)."""

    code = "invalid"


class Refused(DomainError):
    """The request cannot be carried out as things stand (no Discogs token, wrong current password)."""

    code = "refused"


class TooLarge(DomainError):
    code = "too_large"


class NotAuthenticated(DomainError):
    code = "not_authenticated"


class Unavailable(DomainError):
    """A dependency is down (the job queue, the analysis service, the set builder): try again later."""

    code = "unavailable"


class RateLimited(DomainError):
    """Too many attempts (sign-in throttling): try again in `retry_after` seconds."""

    code = "rate_limited"

    def __init__(self, detail: str, *, retry_after: int, code: str | None = None) -> None:
        super().__init__(detail, code=code)
        self.retry_after = retry_after
