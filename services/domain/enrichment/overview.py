"""Every outside service the app talks to, configured or not (and why), with its last error: the settings
page and `GET /api/settings/sources` show this list."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from services.common.settings import Settings, get_settings
from services.domain.enrichment import openai_assist
from services.domain.enrichment import service as enrichment_service
from services.domain.enrichment.sources import base

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SourceOverview:
    name: str
    label: str
    purpose: str
    configured: bool
    reason: str
    last_error: str | None = None
    last_error_at: datetime | None = None


PURPOSES = {
    "discogs": "Collection sync and tracklists",
    "apple": "Apple Music links (and gamdl downloads)",
    "spotify": "Spotify links",
    "youtube": "YouTube links (and yt-dlp downloads)",
    "openai": "Metadata suggestions and natural-language search",
}
ORDER = ("apple", "spotify", "youtube", "openai", "discogs")


def discogs_status(settings: Settings) -> tuple[bool, str]:
    token = settings.discogs_user_token.get_secret_value().strip() if settings.discogs_user_token else ""
    if token:
        return True, "Collection syncs and tracklists with DISCOGS_USER_TOKEN."
    return False, ("Discogs is not configured: set DISCOGS_USER_TOKEN (https://www.discogs.com/settings/developers) "
                   "to sync collections and fetch tracklists; CSV imports work without it.")


def _last_errors(session: Session) -> dict[str, tuple[str | None, datetime | None]]:
    """{source: (message, when)} from the enrichment service's record of each source's last error."""
    found: dict[str, Any] = enrichment_service.last_errors(session=session)
    return {name: (row.get("last_error"), row.get("last_error_at") if row.get("last_error") else None)
            for name, row in found.items() if isinstance(row, dict)}


def source_overview(*, session: Session, settings: Settings | None = None) -> list[SourceOverview]:
    settings = settings or get_settings()
    rows: dict[str, tuple[str, bool, str]] = {}
    for st in base.statuses(settings=settings):
        rows[st.name] = (st.label, st.configured, st.reason)
    st = openai_assist.status(settings)
    rows[st.name] = (st.label, st.configured, st.reason)
    ok, reason = discogs_status(settings)
    rows["discogs"] = ("Discogs", ok, reason)
    errors = _last_errors(session)
    names = [n for n in ORDER if n in rows] + sorted(set(rows) - set(ORDER))
    return [SourceOverview(name=n, label=rows[n][0], purpose=PURPOSES.get(n, ""), configured=rows[n][1],
                           reason=rows[n][2], last_error=errors.get(n, (None, None))[0],
                           last_error_at=errors.get(n, (None, None))[1]) for n in names]
