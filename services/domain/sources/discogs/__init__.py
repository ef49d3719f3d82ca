"""Discogs as a metadata source: collection pages and releases through `DiscogsClient`, parsed offline."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from services.domain.sources.base import (
    AlbumInfo,
    CollectionPage,
    MalformedResponse,
    MetadataSource,
    TrackInfo,
)
from services.domain.sources.discogs.client import DiscogsClient, DiscogsTuning
from services.domain.sources.discogs.parse import album_from_basic_information, parse_release

__all__ = ["DiscogsClient", "DiscogsSource", "DiscogsTuning"]


class DiscogsSource(MetadataSource):
    name = "discogs"

    def __init__(self, client: DiscogsClient) -> None:
        self.client = client

    @classmethod
    def from_settings(cls, settings=None, **kwargs) -> DiscogsSource:
        from services.common.settings import get_settings

        return cls(DiscogsClient.from_settings(settings or get_settings(), **kwargs))

    def sleep(self, seconds: float) -> None:
        """The client's (injectable) sleep: the sync's backoff between fetches of a garbled release."""
        self.client.sleep(seconds)

    @property
    def concurrency(self) -> int:
        return self.client.tuning.concurrency

    def _page(self, fetch) -> dict[str, Any]:
        """A collection page is needed to go on at all: a garbled one is retried like a 5xx."""
        for attempt in range(1, max(1, self.client.tuning.max_attempts) + 1):
            try:
                data = fetch()
                if not isinstance(data.get("pagination"), dict) or not isinstance(data.get("releases"), list):
                    raise MalformedResponse("collection page without pagination/releases")
                return data
            except MalformedResponse:
                if attempt >= self.client.tuning.max_attempts:
                    raise
                self.client.sleep(min(self.client.tuning.backoff_base_seconds * 2 ** attempt,
                                      self.client.tuning.backoff_max_seconds))
        raise AssertionError("unreachable")

    def collection_pages(self, username: str, *, start_page: int = 1) -> Iterator[CollectionPage]:
        data = self._page(lambda: self.client.collection_page(username, start_page))
        while True:
            pagination = data["pagination"]
            releases = data["releases"]
            albums = []
            for item in releases:
                try:
                    albums.append(album_from_basic_information(item))
                except (KeyError, TypeError, ValueError):
                    continue  # an item without a release id cannot be stored
            next_url = (pagination.get("urls") or {}).get("next")
            yield CollectionPage(
                page=int(pagination.get("page") or start_page),
                pages=int(pagination.get("pages") or 1),
                items=int(pagination.get("items") or len(albums)),
                albums=albums,
                next_url=next_url,
            )
            if not next_url:
                return
            data = self._page(lambda url=next_url: self.client.get_json(url))

    def fetch_release(self, release_id: int) -> dict[str, Any]:
        return self.client.release(release_id)

    @staticmethod
    def parse_release(raw: dict[str, Any]) -> tuple[AlbumInfo, list[TrackInfo]]:
        return parse_release(raw)

    def close(self) -> None:
        self.client.close()
