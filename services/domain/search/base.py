"""Search backends (beets-style): one base class, registered by name, chosen by configuration."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

from sqlalchemy.orm import Session

from services.domain.search.models import Facets, SearchQuery


@dataclass
class Scope:
    """What the user may search: readable libraries (id -> name), and an optional playlist filter."""

    libraries: dict[int, str]
    playlist_id: int | None = None
    in_playlist: bool = True


@dataclass
class Hits:
    """A backend's answer: matching track ids in order (one page), the total, and facet counts."""

    ids: list[int]
    total: int
    facets: Facets = field(default_factory=Facets)
    rows: dict[int, Any] | None = None  # the page's tracks (id -> row with search item fields), when already read


class SearchBackend(ABC):
    name: ClassVar[str]

    @abstractmethod
    def search(self, *, session: Session, query: SearchQuery, scope: Scope) -> Hits:
        """The page of track ids matching the query within the scope, with total and facets."""


_BACKENDS: dict[str, type[SearchBackend]] = {}


def register(cls: type[SearchBackend]) -> type[SearchBackend]:
    _BACKENDS[cls.name] = cls
    return cls


def backend_class(name: str) -> type[SearchBackend]:
    try:
        return _BACKENDS[name]
    except KeyError:
        raise ValueError(f"unknown search backend {name!r}: {', '.join(sorted(_BACKENDS))}") from None
