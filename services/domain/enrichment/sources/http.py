"""The HTTP side every catalog client shares: timeouts, bounded retries, bounded concurrency, no leaks.

- Timeouts: `ENRICHMENT_TIMEOUT_SECONDS` per request; a timeout is retried.
- 429: waits `Retry-After` (seconds or an HTTP date) when it is within `ENRICHMENT_MAX_RETRY_AFTER_SECONDS`,
  else gives up at once with the wait in the message (`CatalogQuotaExceeded`: sleeping longer than that in a
  job helps nobody); without the header, exponential backoff.
- 5xx, timeouts, connection errors and malformed bodies (a truncated or non-JSON 200): retried with
  exponential backoff (or the server's Retry-After), `ENRICHMENT_MAX_ATTEMPTS` attempts in all, then
  `CatalogError` / `CatalogMalformed`.
- 401/403: `CatalogAuthError` carrying the status, so a client can refresh its token once and try again.
- Bounded concurrency: at most `ENRICHMENT_CONCURRENCY` requests in flight per platform, process-wide
  (a semaphore held per attempt, never while sleeping before a retry).
- Secrets (API keys, client secrets, tokens) are registered with `add_secret` and replaced by `***` in
  every message this module logs or raises; request URLs (which may carry query parameters) are never
  put in messages. `sleep` is injectable so tests check the waits without waiting.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from services.common.outbound import USER_AGENT, parse_retry_after
from services.common.settings import Settings, get_settings
from services.domain.enrichment.sources.base import (
    CatalogAuthError,
    CatalogError,
    CatalogMalformed,
    CatalogQuotaExceeded,
)

log = logging.getLogger(__name__)

REDACTED = "***"


@dataclass(frozen=True)
class HttpTuning:
    """Client knobs (ENRICHMENT_* settings, see .env.example)."""

    timeout_seconds: float = 15.0
    max_attempts: int = 4
    backoff_base_seconds: float = 1.0
    backoff_max_seconds: float = 30.0
    max_retry_after_seconds: float = 60.0
    concurrency: int = 4

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> HttpTuning:
        s = settings or get_settings()
        return cls(
            timeout_seconds=s.enrichment_timeout_seconds,
            max_attempts=s.enrichment_max_attempts,
            backoff_base_seconds=s.enrichment_backoff_seconds,
            max_retry_after_seconds=s.enrichment_max_retry_after_seconds,
            concurrency=s.enrichment_concurrency,
        )


class Transient(Exception):
    """Worth retrying: 5xx, 429, timeouts, connection errors, malformed bodies."""

    def __init__(self, reason: str, *, status: int | None = None, retry_after: float | None = None,
                 malformed: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.retry_after = retry_after
        self.malformed = malformed


# A hook that sees every non-2xx response first and may classify it (platform-specific error bodies,
# such as YouTube's 403 quotaExceeded): return an exception to raise, or None for the generic rules.
ErrorHook = Callable[[httpx.Response], Exception | None]

_SEMAPHORES: dict[tuple[str, int], threading.BoundedSemaphore] = {}
_SEMAPHORES_LOCK = threading.Lock()


def platform_semaphore(source: str, concurrency: int) -> threading.BoundedSemaphore:
    """One semaphore per platform (and size) for the whole process: every client instance shares it."""
    with _SEMAPHORES_LOCK:
        key = (source, max(1, concurrency))
        if key not in _SEMAPHORES:
            _SEMAPHORES[key] = threading.BoundedSemaphore(key[1])
        return _SEMAPHORES[key]


class CatalogHttp:
    def __init__(
        self,
        *,
        source: str,
        label: str,
        tuning: HttpTuning | None = None,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.source = source
        self.label = label
        self.tuning = tuning or HttpTuning.from_settings()
        self.sleep = sleep
        self.semaphore = platform_semaphore(source, self.tuning.concurrency)
        self.http = httpx.Client(
            headers={"User-Agent": USER_AGENT, "Accept": "application/json", **(headers or {})},
            timeout=httpx.Timeout(self.tuning.timeout_seconds),
            transport=transport,
            follow_redirects=True,
        )
        self._secrets: set[str] = set()
        self._secrets_lock = threading.Lock()
        self.request_count = 0
        self.retry_count = 0

    def close(self) -> None:
        self.http.close()

    # -- secrets -----------------------------------------------------------------------------------

    def add_secret(self, value: str | None) -> None:
        """Never show `value` (a key, a client secret, a token) in a log line or an error message."""
        if value and len(value) >= 4:
            with self._secrets_lock:
                self._secrets.add(value)

    def redact(self, text: str) -> str:
        with self._secrets_lock:
            secrets = sorted(self._secrets, key=len, reverse=True)
        for secret in secrets:
            text = text.replace(secret, REDACTED)
        return text

    def error(self, kind: type[CatalogError], detail: str, *, status: int | None = None) -> CatalogError:
        return kind(self.redact(detail), source=self.source, status=status)

    # -- requests ----------------------------------------------------------------------------------

    def request_json(
        self,
        method: str,
        url: str,
        *,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        data: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        error_hook: ErrorHook | None = None,
        json: Any = None,  # a JSON body (Spotify's playlist writes)
    ) -> dict[str, Any]:
        """One JSON object from the platform, with retries. Raises CatalogError subclasses only."""
        attempts = max(1, self.tuning.max_attempts)
        retrying = Retrying(
            stop=stop_after_attempt(attempts),
            retry=retry_if_exception_type(Transient),
            wait=self._wait_for,
            sleep=self.sleep,
            before_sleep=self._before_sleep,
            reraise=True,
        )
        try:
            return retrying(self._once, method, url, params, headers, data, auth, error_hook, json)
        except Transient as exc:
            kind = CatalogMalformed if exc.malformed else CatalogError
            raise self.error(kind, f"{self.label}: {exc.reason} (gave up after {attempts} attempts)",
                             status=exc.status) from None

    def _wait_for(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, Transient) and exc.retry_after is not None:
            return min(exc.retry_after, self.tuning.max_retry_after_seconds)
        return wait_exponential(multiplier=self.tuning.backoff_base_seconds,
                                max=self.tuning.backoff_max_seconds)(state)

    def _before_sleep(self, state: RetryCallState) -> None:
        self.retry_count += 1
        exc = state.outcome.exception() if state.outcome else None
        reason = exc.reason if isinstance(exc, Transient) else type(exc).__name__
        log.warning("%s: %s; retry %d in %.1fs", self.label, self.redact(reason), state.attempt_number,
                    state.upcoming_sleep)

    def _once(self, method: str, url: str, params, headers, data, auth, error_hook: ErrorHook | None,
              json: Any = None) -> dict:
        with self.semaphore:
            self.request_count += 1
            try:
                response = self.http.request(method, url, params=params, headers=headers, data=data, auth=auth,
                                             json=json)
            except httpx.TimeoutException:
                raise Transient(f"timed out after {self.tuning.timeout_seconds:g}s") from None
            except httpx.TransportError as exc:
                raise Transient(f"connection error: {type(exc).__name__}") from None
        status = response.status_code
        if status >= 400:
            raise self._failure(response, error_hook)
        if status in (200, 201, 202, 204) and not response.content.strip() and method != "GET":
            return {}  # a write answered without a body (Spotify's playlist details): nothing to read
        try:
            body = response.json()
        except (ValueError, UnicodeDecodeError):
            raise Transient(f"malformed answer: not JSON (HTTP {status})", status=status, malformed=True) from None
        if not isinstance(body, dict):
            raise Transient(f"malformed answer: expected a JSON object, got {type(body).__name__}", status=status,
                            malformed=True)
        return body

    def _failure(self, response: httpx.Response, error_hook: ErrorHook | None) -> Exception:
        status = response.status_code
        if error_hook is not None:
            found = error_hook(response)
            if found is not None:
                return found
        message = platform_message(response)
        suffix = f": {self.redact(message)}" if message else ""
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        if status == 429:
            if retry_after is not None and retry_after > self.tuning.max_retry_after_seconds:
                return self.error(CatalogQuotaExceeded,
                                  f"{self.label} is rate limiting us: it asks to wait {retry_after:.0f} s, over the "
                                  f"{self.tuning.max_retry_after_seconds:.0f} s limit; try again later", status=429)
            return Transient("rate limited (429)", status=429, retry_after=retry_after)
        if status >= 500:
            return Transient(f"server error {status}", status=status, retry_after=retry_after)
        if status in (401, 403):
            return self.error(CatalogAuthError, f"{self.label} refused the credentials ({status}){suffix}",
                              status=status)
        return self.error(CatalogError, f"{self.label} answered HTTP {status}{suffix}", status=status)


def platform_message(response: httpx.Response) -> str | None:
    """The human message in an error body: Apple's `errors[].detail`, Spotify's and Google's `error.message`,
    OAuth's `error_description`. Tags stripped, cut to 200 characters. Callers redact it."""
    try:
        body = response.json()
    except (ValueError, UnicodeDecodeError):
        return None
    message: Any = None
    if isinstance(body, dict):
        error = body.get("error")
        errors = body.get("errors")
        if isinstance(error, dict):
            message = error.get("message")
        elif isinstance(error, str):
            message = body.get("error_description") or error
        elif isinstance(errors, list) and errors and isinstance(errors[0], dict):
            message = errors[0].get("detail") or errors[0].get("title")
    if not isinstance(message, str) or not message.strip():
        return None
    return re.sub(r"<[^>]+>", "", message).strip()[:200]
