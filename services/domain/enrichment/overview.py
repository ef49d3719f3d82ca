"""Every outside service the app talks to, configured or not (and why), with its last error: the settings
page and `GET /api/settings/sources` show this list."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from services.common.settings import Settings, get_settings
from services.domain.enrichment import openai_assist
from services.domain.enrichment import service as enrichment_service

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


def source_overview(*, session: Session, settings: Settings | None = None) -> list[SourceOverview]:
    """The catalog sources as the enrichment service sees them (its `source_health`), plus OpenAI and Discogs."""
    settings = settings or get_settings()
    found = enrichment_service.last_errors(session=session)
    rows = {h.name: (h.label, h.configured, h.reason, h.last_error, h.last_error_at)
            for h in enrichment_service.source_health(session=session, settings=settings)}
    st = openai_assist.status(settings)
    openai_row = found.get(st.name) or {}
    rows[st.name] = (st.label, st.configured, st.reason, openai_row.get("last_error"), openai_row.get("last_error_at"))
    ok, reason = discogs_status(settings)
    discogs_row = found.get("discogs") or {}
    rows["discogs"] = ("Discogs", ok, reason, discogs_row.get("last_error"), discogs_row.get("last_error_at"))
    names = [n for n in ORDER if n in rows] + sorted(set(rows) - set(ORDER))
    return [SourceOverview(name=n, label=rows[n][0], purpose=PURPOSES.get(n, ""), configured=rows[n][1],
                           reason=rows[n][2], last_error=rows[n][3], last_error_at=rows[n][4] if rows[n][3] else None)
            for n in names]
