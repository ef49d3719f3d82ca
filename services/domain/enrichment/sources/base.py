"""One interface for the catalogs a track is looked up in (Apple Music, Spotify, YouTube), registered
and looked up by name like the download fetchers (`downloads/fetchers/base.py`).

A source searches its platform for a `TrackQuery` (by ISRC first when known, then artist and title)
and returns `Candidate`s; scoring them is `enrichment.matching`'s job, storing the accepted link
(`url_field`, a Track column) the enrichment service's. Without credentials a source is "not
configured": `configured(settings)` says why, and `source(name)` raises `SourceNotConfigured` (a
`Conflict`, 409 in the API) with that explanation instead of crashing later.

Every failure of a configured source is a `CatalogError` (an `Unavailable`, 503) naming the platform,
never a secret: `CatalogAuthError` (credentials refused), `CatalogQuotaExceeded`, `CatalogMalformed`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

from services.common.settings import Settings, get_settings
from services.domain.enrichment.models import Candidate, TrackQuery
from services.domain.errors import Conflict, Invalid, Unavailable

DEFAULT_LIMIT = 5


class SourceNotConfigured(Conflict):
    """The platform's credentials are not set (or unusable): the message says which setting."""

    code = "source_not_configured"


class CatalogError(Unavailable):
    """A configured platform failed for good (after retries). `detail` names the platform, never a secret."""

    code = "source_failed"

    def __init__(self, detail: str, *, source: str, status: int | None = None, code: str | None = None) -> None:
        super().__init__(detail, code=code)
        self.source = source
        self.status = status


class CatalogAuthError(CatalogError):
    """The platform refused our credentials (after one token refresh)."""

    code = "source_auth_failed"


class CatalogQuotaExceeded(CatalogError):
    """The platform's quota is used up (YouTube's daily units, a Retry-After beyond the cap)."""

    code = "source_quota_exceeded"


class CatalogMalformed(CatalogError):
    """The platform's answer was not the JSON shape we expected."""

    code = "source_malformed"


@dataclass(frozen=True, slots=True)
class SourceStatus:
    """For the settings page: is the source usable, and why (not)."""

    name: str
    label: str
    url_field: str
    configured: bool
    reason: str


class CatalogSource(ABC):
    name: ClassVar[str]  # registry name, also `Candidate.source`: "apple", "spotify", "youtube"
    label: ClassVar[str]  # for people: "Apple Music"
    url_field: ClassVar[str]  # the Track column an accepted candidate fills

    @classmethod
    @abstractmethod
    def configured(cls, settings: Settings) -> tuple[bool, str]:
        """(usable, explanation): what is missing when not usable, or how it will search when it is."""

    @classmethod
    @abstractmethod
    def from_settings(cls, settings: Settings) -> CatalogSource:
        """A client built from settings; only called when `configured` said yes."""

    @abstractmethod
    def search(self, query: TrackQuery, *, limit: int = DEFAULT_LIMIT) -> list[Candidate]:
        """Up to `limit` candidates, best-guess order (ISRC hits first). Raises CatalogError."""

    def close(self) -> None:  # pragma: no cover - trivial
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


_REGISTRY: dict[str, type[CatalogSource]] = {}


def register(cls: type[CatalogSource]) -> type[CatalogSource]:
    _REGISTRY[cls.name] = cls
    return cls


def _load() -> None:
    from services.domain.enrichment import sources  # noqa: F401  (imports register every source)


def names() -> list[str]:
    _load()
    return sorted(_REGISTRY)


def source_class(name: str) -> type[CatalogSource]:
    _load()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise Invalid(f"unknown source {name!r}; known: {', '.join(sorted(_REGISTRY))}",
                      code="unknown_source") from None


def source(name: str, *, settings: Settings | None = None) -> CatalogSource:
    """The named source's client, or SourceNotConfigured (409) saying what to set."""
    settings = settings or get_settings()
    cls = source_class(name)
    ok, reason = cls.configured(settings)
    if not ok:
        raise SourceNotConfigured(reason)
    return cls.from_settings(settings)


def statuses(*, settings: Settings | None = None) -> list[SourceStatus]:
    """Every source and whether it is configured, for the settings page and the API."""
    settings = settings or get_settings()
    out = []
    for name in names():
        cls = _REGISTRY[name]
        ok, reason = cls.configured(settings)
        out.append(SourceStatus(name=name, label=cls.label, url_field=cls.url_field, configured=ok, reason=reason))
    return out
