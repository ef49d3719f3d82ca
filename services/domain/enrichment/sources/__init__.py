"""Catalog sources register themselves on import (see base.register): look them up with
`base.source(name)`, list them with `base.names()` / `base.statuses()`."""

from services.domain.enrichment.sources import apple_music, spotify, youtube  # noqa: F401
