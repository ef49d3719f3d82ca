"""The command palette (Ctrl/Cmd-K, static/palette.js): jump to any page, playlist, library or track.

Answers an HTML list of links for what was typed; the tracks come from the same search as /tracks.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from services.domain.libraries.service import list_libraries
from services.domain.playlists.service import list_playlists
from services.domain.search.models import SearchQuery
from services.domain.search.service import search_tracks
from services.web.api.deps import CurrentUser, SessionDep
from services.web.ui.templates import templates

router = APIRouter(include_in_schema=False)
PAGES = [("Dashboard", "/"), ("Tracks", "/tracks"), ("Playlists", "/playlists"), ("Libraries", "/libraries"),
         ("Jobs", "/jobs"), ("Spins", "/spins"), ("Review platform links", "/enrichment/review"),
         ("Metadata suggestions", "/suggestions"), ("Settings", "/settings"), ("API docs", "/docs")]
PER_KIND = 6


def _matches(text: str, words: list[str]) -> bool:
    low = text.lower()
    return all(word in low for word in words)


@router.get("/palette", response_class=HTMLResponse)
def palette(request: Request, user: CurrentUser, session: SessionDep, q: str = "") -> HTMLResponse:
    q = q.strip()[:200]
    words = q.lower().split()
    entries: list[tuple[str, str, str]] = [("page", name, url) for name, url in PAGES if _matches(name, words)]
    playlists = [p for p in list_playlists(session=session, user=user) if _matches(p.name, words)]
    entries += [("playlist", p.name, f"/playlists/{p.id}") for p in playlists[:PER_KIND]]
    libraries = [lib for lib in list_libraries(session=session, user=user) if _matches(lib.name, words)]
    entries += [("library", lib.name, f"/libraries/{lib.id}") for lib in libraries[:PER_KIND]]
    if q:
        found = search_tracks(session=session, user=user, query=SearchQuery(q=q, limit=PER_KIND))
        entries += [("track", f"{item.artist + ' – ' if item.artist else ''}{item.title}", f"/tracks/{item.id}")
                    for item in found.items]
    return templates.TemplateResponse(request, "_palette_results.html", {"entries": entries, "q": q})
