"""Discogs HTTP client: token auth, a real User-Agent, rate limiting and bounded retries.

- Local pacing: at most `rate_limit_per_minute` requests in any 60 s window (0 turns it off).
- Server pacing: reads `X-Discogs-Ratelimit-Remaining` and slows down before it reaches 0.
- 429: waits `Retry-After` seconds (capped), else exponential backoff; bounded attempts.
- 5xx, timeouts and connection errors: retried with exponential backoff, bounded attempts.
- 401/403: SourceAuthError (stops the sync); 404: SourceNotFound; bad JSON: MalformedResponse.
`sleep` and `clock` are injectable so tests check the waits without waiting.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from services.common.outbound import USER_AGENT, parse_retry_after
from services.common.settings import get_settings
from services.domain.sources.base import MalformedResponse, SourceAuthError, SourceError, SourceNotFound

log = logging.getLogger(__name__)



@dataclass(frozen=True)
class DiscogsTuning:
    """Client knobs; defaults suit the real Discogs API (DISCOGS_* settings, see .env.example)."""

    timeout_seconds: float = 30.0
    max_attempts: int = 5
    backoff_base_seconds: float = 1.0
    backoff_max_seconds: float = 60.0
    max_retry_after_seconds: float = 120.0
    concurrency: int = 1
    slowdown_remaining: int = 5

    @classmethod
    def from_settings(cls) -> DiscogsTuning:
        s = get_settings()
        return cls(
            timeout_seconds=s.discogs_timeout_seconds,
            max_attempts=s.discogs_max_attempts,
            backoff_base_seconds=s.discogs_backoff_seconds,
            backoff_max_seconds=s.discogs_backoff_max_seconds,
            max_retry_after_seconds=s.discogs_max_retry_after_seconds,
            concurrency=s.discogs_concurrency,
            slowdown_remaining=s.discogs_slowdown_remaining,
        )


class Transient(SourceError):
    """Worth retrying: 5xx, 429, timeouts, connection errors."""

    def __init__(self, reason: str, *, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(reason, status=status)
        self.retry_after = retry_after


class RateLimiter:
    """Thread-safe pacing from the configured limit and the server's remaining-requests header."""

    WINDOW = 60.0

    def __init__(
        self,
        per_minute: int,
        *,
        slowdown_remaining: int = 5,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.per_minute = per_minute
        self.slowdown_remaining = slowdown_remaining
        self.clock = clock
        self.sleep = sleep
        self._lock = threading.Lock()
        self._sent: deque[float] = deque()
        self._not_before = 0.0
        self.total_slept = 0.0

    def _wait(self, seconds: float) -> None:
        if seconds > 0:
            self.total_slept += seconds
            self.sleep(seconds)

    def acquire(self) -> None:
        with self._lock:
            now = self.clock()
            delay = max(0.0, self._not_before - now)
            if self.per_minute > 0:
                while self._sent and self._sent[0] <= now - self.WINDOW:
                    self._sent.popleft()
                if len(self._sent) >= self.per_minute:
                    delay = max(delay, self._sent[0] + self.WINDOW - now)
            self._wait(delay)
            now = self.clock()
            if self.per_minute > 0:
                self._sent.append(now)

    def observe(self, headers: httpx.Headers) -> None:
        """Slow down as the server's remaining budget shrinks (one window / limit per request)."""
        try:
            remaining = int(headers["X-Discogs-Ratelimit-Remaining"])
        except (KeyError, ValueError):
            return
        if remaining > self.slowdown_remaining:
            return
        try:
            limit = int(headers.get("X-Discogs-Ratelimit") or self.per_minute or 60)
        except ValueError:
            limit = 60
        step = self.WINDOW / max(limit, 1)
        pause = step * max(1, self.slowdown_remaining - remaining + 1)
        with self._lock:
            self._not_before = max(self._not_before, self.clock() + min(pause, self.WINDOW))

    def penalise(self, seconds: float) -> None:
        """After a 429: nobody (no thread) sends before `seconds` from now."""
        with self._lock:
            self._not_before = max(self._not_before, self.clock() + seconds)


class DiscogsClient:
    def __init__(
        self,
        *,
        base_url: str,
        token: str | None,
        rate_limit_per_minute: int = 60,
        tuning: DiscogsTuning | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.tuning = tuning or DiscogsTuning.from_settings()
        self.base_url = base_url.rstrip("/")
        headers = {"User-Agent": USER_AGENT, "Accept": "application/vnd.discogs.v2.discogs+json"}
        if token:
            headers["Authorization"] = f"Discogs token={token}"
        limits = httpx.Limits(max_connections=max(4, self.tuning.concurrency * 2),
                              max_keepalive_connections=max(4, self.tuning.concurrency * 2))
        self.http = httpx.Client(
            base_url=self.base_url,
            headers=headers,
            timeout=httpx.Timeout(self.tuning.timeout_seconds),
            limits=limits,
            transport=transport,
            follow_redirects=True,
        )
        self.sleep = sleep
        self.limiter = RateLimiter(
            rate_limit_per_minute, slowdown_remaining=self.tuning.slowdown_remaining, clock=clock, sleep=sleep
        )
        self.request_count = 0
        self.retry_count = 0

    @classmethod
    def from_settings(cls, settings, *, token: str | None = None, **kwargs) -> DiscogsClient:
        """`token`: a user's own Discogs token; None = the server's DISCOGS_USER_TOKEN."""
        if token is None:
            token = settings.discogs_user_token.get_secret_value() if settings.discogs_user_token else None
        return cls(
            base_url=settings.discogs_api_url,
            token=token,
            rate_limit_per_minute=settings.discogs_rate_limit_per_minute,
            **kwargs,
        )

    def close(self) -> None:
        self.http.close()

    # -- retries -----------------------------------------------------------------------------------

    def _wait_for(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, Transient) and exc.retry_after is not None:
            return min(exc.retry_after, self.tuning.max_retry_after_seconds)
        backoff = wait_exponential(
            multiplier=self.tuning.backoff_base_seconds, max=self.tuning.backoff_max_seconds
        )
        return backoff(state)

    def _before_sleep(self, state: RetryCallState) -> None:
        self.retry_count += 1
        exc = state.outcome.exception() if state.outcome else None
        log.warning("discogs: %s; retry %d in %.1fs", exc, state.attempt_number, state.upcoming_sleep)

    def get_json(self, url: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """GET with pacing and bounded retries. Raises SourceError subclasses."""
        retrying = Retrying(
            stop=stop_after_attempt(max(1, self.tuning.max_attempts)),
            retry=retry_if_exception_type(Transient),
            wait=self._wait_for,
            sleep=self.sleep,
            before_sleep=self._before_sleep,
            reraise=True,
        )
        try:
            return retrying(self._get_once, url, params)
        except Transient as exc:
            raise SourceError(f"{exc.reason} (gave up after {self.tuning.max_attempts} attempts)",
                              status=exc.status) from None

    def _get_once(self, url: str, params: dict[str, Any] | None) -> dict[str, Any]:
        self.limiter.acquire()
        self.request_count += 1
        try:
            response = self.http.get(url, params=params)
        except httpx.TimeoutException:
            raise Transient(f"timed out after {self.tuning.timeout_seconds:g}s") from None
        except httpx.TransportError as exc:
            raise Transient(f"connection error: {type(exc).__name__}") from None
        self.limiter.observe(response.headers)
        status = response.status_code
        if status == 429:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            if retry_after is not None:
                self.limiter.penalise(min(retry_after, self.tuning.max_retry_after_seconds))
            raise Transient("rate limited (429)", status=429, retry_after=retry_after)
        if status >= 500:
            raise Transient(f"server error {status}", status=status)
        if status in (401, 403):
            raise SourceAuthError(_message(response) or f"access refused ({status})", status=status)
        if status == 404:
            raise SourceNotFound(_message(response) or "not found", status=404)
        if status >= 400:
            raise SourceError(_message(response) or f"HTTP {status}", status=status)
        try:
            data = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError, ValueError) as exc:
            raise MalformedResponse(f"malformed JSON: {exc}", status=status) from None
        if not isinstance(data, dict):
            raise MalformedResponse("malformed JSON: expected an object", status=status)
        return data

    # -- endpoints ---------------------------------------------------------------------------------

    def collection_page(self, username: str, page: int, *, per_page: int = 100) -> dict[str, Any]:
        return self.get_json(
            f"/users/{username}/collection/folders/0/releases",
            {"per_page": per_page, "page": page, "sort": "added", "sort_order": "desc"},
        )

    def release(self, release_id: int) -> dict[str, Any]:
        return self.get_json(f"/releases/{int(release_id)}")

    def artist_releases(self, artist_id: int, *, page: int = 1, per_page: int = 100) -> dict[str, Any]:
        """An artist's releases and masters, newest year first: {"pagination", "releases": [{"id", "type",
        "title", "year", "role", "artist", ...}]}."""
        return self.get_json(
            f"/artists/{int(artist_id)}/releases",
            {"sort": "year", "sort_order": "desc", "page": page, "per_page": per_page},
        )


def _message(response: httpx.Response) -> str | None:
    try:
        data = response.json()
    except ValueError:
        return None
    return data.get("message") if isinstance(data, dict) else None
