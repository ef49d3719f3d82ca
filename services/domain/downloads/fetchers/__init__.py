"""Fetchers register themselves on import (see base.register)."""

from services.domain.downloads.fetchers import gamdl, ytdlp  # noqa: F401
