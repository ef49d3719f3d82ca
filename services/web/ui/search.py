"""Tracks browser (/tracks): search as you type, filters, clickable facets, sortable columns, pages.
The query lives in the URL, so a search can be bookmarked; `/` focuses the search box."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from pydantic import ValidationError

from services.domain.errors import Conflict
from services.domain.playlists.service import list_playlists
from services.domain.search.models import SORT_FIELDS, SearchQuery
from services.domain.search.service import search_tracks
from services.web.api.deps import CurrentUser, SessionDep
from services.web.ui.templates import templates

router = APIRouter(include_in_schema=False)
LIST_FIELDS = {"genre", "style", "moves", "library_id"}
COLUMNS = [("title", "Title"), ("artist", "Artist"), ("year", "Year"), ("bpm", "BPM"), ("key", "Key"),
           ("energy", "Energy"), ("rating", "Rating")]


def _params(request: Request) -> dict[str, str | list[str]]:
    """The search's parameters from the URL; empty form fields and unknown names are dropped."""
    params: dict[str, str | list[str]] = {}
    for key, value in request.query_params.multi_items():
        if value == "" or key not in SearchQuery.model_fields:
            continue
        if key in LIST_FIELDS:
            params.setdefault(key, []).append(value)  # type: ignore[union-attr]
        else:
            params[key] = value
    return params


def url_with(params: dict, *, drop: tuple[str, ...] = (), **changes) -> str:
    """/tracks with these parameters changed (a list value adds to the list); paging starts over."""
    merged = {k: v for k, v in params.items() if k not in drop and k != "offset"}
    for key, value in changes.items():
        if key in LIST_FIELDS:
            merged[key] = list(dict.fromkeys([*merged.get(key, []), str(value)]))
        elif value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return "/tracks?" + urlencode(merged, doseq=True)


def _without(params: dict, key: str, value: str | None = None) -> str:
    if value is not None and key in LIST_FIELDS:
        rest = [v for v in params.get(key, []) if v != value]
        return url_with({**params, key: rest})
    return url_with(params, drop=(key,))


def facet_url(params: dict, facet: str, value: str) -> str:
    if facet == "genres":
        return url_with(params, genre=value)
    if facet == "styles":
        return url_with(params, style=value)
    if facet == "camelot":
        return url_with(params, key=value)
    if facet == "bpm":
        low, high = value.split("-")
        return url_with(params, bpm_min=low, bpm_max=high, half_double=None)
    if facet == "energy":
        return url_with(params, energy_min=f"{int(value) - 0.5:g}", energy_max=f"{int(value) + 0.49:g}")
    return url_with(params, library_id=value)


def sort_url(params: dict, field: str) -> str:
    current = str(params.get("sort", "relevance"))
    return url_with(params, sort=f"-{field}" if current == field else field)


def page_url(params: dict, offset: int) -> str:
    return url_with(params) + f"&offset={max(0, offset)}"


@router.get("/tracks", response_class=HTMLResponse)
def tracks_page(request: Request, user: CurrentUser, session: SessionDep) -> HTMLResponse:
    params = _params(request)
    result, error, status = None, None, 422
    try:
        query = SearchQuery(**params)
    except ValidationError as exc:
        query = None
        error = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'filters'}: {e['msg']}" for e in exc.errors()[:3])
    if query is not None:
        try:
            result = search_tracks(session=session, user=user, query=query)
        except Conflict as exc:  # vibe search before the embeddings exist: say so in place of the results
            if query.mode == "text":
                raise
            error, status = exc.detail, 409
    context = {
        "user": user, "params": params, "query": query, "result": result, "error": error,
        "columns": COLUMNS, "sorts": SORT_FIELDS, "url_with": url_with, "facet_url": facet_url,
        "sort_url": sort_url, "page_url": page_url, "without": _without,
        "playlists": list_playlists(session=session, user=user),  # the "add to playlist" bar's choices
    }
    fragment = request.headers.get("hx-request") == "true" and request.headers.get("hx-target") == "results"
    return templates.TemplateResponse(request, "_track_results.html" if fragment else "tracks.html", context,
                                      status_code=status if error else 200)
