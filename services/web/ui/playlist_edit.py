"""Playlist editing in the browser: the /playlists list, create, rename, duplicate, delete, add tracks from
any track list (multi-select), remove, move, drag to reorder, restore a version.

Navigation actions (create, rename, duplicate, delete) are plain forms answered with a redirect (htmx's
hx-boost follows it). In-page edits come from htmx (`HX-Request`) and are answered with the whole
playlist page, from which the page picks the parts it swaps (hx-select / hx-select-oob); without htmx
they redirect to the page. Errors are domain exceptions: the app answers them as `{"detail", "code"}`
and the global htmx handler (static/app.js) shows them next to the form.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from services.common.models import User
from services.domain.errors import Invalid
from services.domain.playlists import service as playlists
from services.web.api.deps import CurrentUser, SessionDep
from services.web.ui.playlists import playlist_context
from services.web.ui.templates import templates

router = APIRouter(include_in_schema=False)


def hms(seconds: float | None) -> str:
    """A length as m:ss, or h:mm:ss from an hour."""
    if seconds is None:
        return ""
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


templates.env.filters.setdefault("hms", hms)
templates.env.filters.setdefault("playlist_revision", playlists.revision)


def _see_other(session: Session, url: str) -> RedirectResponse:
    # Commit before answering: the browser follows the redirect at once, possibly before the request's
    # session would be committed (dependencies with yield finish after the response is sent).
    session.commit()
    return RedirectResponse(url, status_code=303)


def _in_page(request: Request) -> bool:
    return request.headers.get("hx-request") == "true" and request.headers.get("hx-boosted") != "true"


def _edited(
    request: Request, session: Session, user: User, playlist_id: int, notice: str, focus: str | None = None
) -> Response:
    """After an in-page edit: the playlist page (htmx picks its parts) or a redirect to it. `focus` names
    the control to focus after the swap (the moved track's button, for keyboard users)."""
    if not _in_page(request):
        return _see_other(session, f"/playlists/{playlist_id}")
    session.commit()
    return templates.TemplateResponse(request, "playlist.html", {
        **playlist_context(session, user, playlist_id),
        "versions": playlists.describe_versions(session=session, user=user, playlist_id=playlist_id),
        "notice": notice,
        "focus": focus,
    })


def _title(playlist, position: int) -> str:
    return playlist.items[position].track.title if 0 <= position < len(playlist.items) else "the track"


# --- the list -------------------------------------------------------------------------------------


@router.get("/playlists", response_class=HTMLResponse)
def playlists_page(request: Request, user: CurrentUser, session: SessionDep) -> HTMLResponse:
    return templates.TemplateResponse(request, "playlists.html", {
        "user": user, "playlists": playlists.playlist_summaries(session=session, user=user),
    })


@router.post("/playlists")
def create_playlist_form(
    user: CurrentUser, session: SessionDep, name: Annotated[str, Form()] = "",
    description: Annotated[str, Form()] = "",
) -> RedirectResponse:
    playlist = playlists.create_playlist(session=session, user=user, name=name, description=description)
    return _see_other(session, f"/playlists/{playlist.id}")


@router.get("/playlists/options", response_class=HTMLResponse)
def playlist_options(request: Request, user: CurrentUser, session: SessionDep) -> HTMLResponse:
    """The <option>s of the "add to playlist" bar, for pages that do not pass the playlists themselves."""
    return templates.TemplateResponse(request, "_add_to_playlist_options.html", {
        "playlists": playlists.list_playlists(session=session, user=user), "selected": None,
    })


@router.post("/playlists/add", response_class=HTMLResponse)
def add_to_playlist_form(
    request: Request,
    user: CurrentUser,
    session: SessionDep,
    playlist_id: Annotated[str, Form()] = "",
    new_name: Annotated[str, Form()] = "",
    track_pk: Annotated[list[int], Form()] = [],  # noqa: B006 (FastAPI copies defaults)
    table: Annotated[str, Form()] = "",
) -> HTMLResponse:
    """The "add to playlist" bar: append the selected tracks (or start a new playlist with them) and
    answer the bar again with a message. A track already in the playlist is added again, as Rekordbox does."""
    if not track_pk:
        raise Invalid("select at least one track to add")
    if playlist_id == "new":
        playlist = playlists.create_playlist(session=session, user=user, name=new_name, track_pks=track_pk)
        already = 0
        message = f"Created {playlist.name} with {_tracks(len(track_pk))}"
    else:
        if not playlist_id.isdigit():
            raise Invalid("choose a playlist, or “New playlist…”")
        before = playlists.get_playlist(session=session, user=user, playlist_id=int(playlist_id))
        present = {item.track_pk for item in before.items}
        already = sum(1 for pk in track_pk if pk in present)
        playlist = playlists.append_tracks(session=session, user=user, playlist_id=before.id, track_pks=track_pk)
        message = f"Added {_tracks(len(track_pk))} to {playlist.name}"
    if already:
        message += f" ({already} {'was' if already == 1 else 'were'} already in it)"
    session.commit()
    return templates.TemplateResponse(request, "_add_to_playlist_result.html", {
        "playlists": playlists.list_playlists(session=session, user=user), "selected": playlist.id,
        "message": message, "link": f"/playlists/{playlist.id}", "table": table or None,
    })


def _tracks(count: int) -> str:
    return f"{count} track{'' if count == 1 else 's'}"


# --- one playlist ---------------------------------------------------------------------------------


@router.post("/playlists/{playlist_id}/edit")
def rename_playlist_form(
    playlist_id: int, user: CurrentUser, session: SessionDep, name: Annotated[str, Form()] = "",
    description: Annotated[str, Form()] = "",
) -> RedirectResponse:
    playlists.update_playlist(session=session, user=user, playlist_id=playlist_id,
                              changes={"name": name, "description": description})
    return _see_other(session, f"/playlists/{playlist_id}")


@router.post("/playlists/{playlist_id}/duplicate")
def duplicate_playlist_form(playlist_id: int, user: CurrentUser, session: SessionDep) -> RedirectResponse:
    copy = playlists.duplicate_playlist(session=session, user=user, playlist_id=playlist_id)
    return _see_other(session, f"/playlists/{copy.id}")


@router.post("/playlists/{playlist_id}/delete")
def delete_playlist_form(playlist_id: int, user: CurrentUser, session: SessionDep) -> RedirectResponse:
    playlists.delete_playlist(session=session, user=user, playlist_id=playlist_id)
    return _see_other(session, "/playlists")


@router.put("/playlists/{playlist_id}/order")
def reorder_form(
    playlist_id: int, request: Request, user: CurrentUser, session: SessionDep,
    track_pk: Annotated[list[int], Form()] = [],  # noqa: B006
    rev: Annotated[str | None, Form()] = None,
) -> Response:
    """A drag and drop: the playlist's tracks in their new order (one `track_pk` per row)."""
    playlists.reorder_playlist(session=session, user=user, playlist_id=playlist_id, track_pks=track_pk,
                               expected_revision=rev)
    return _edited(request, session, user, playlist_id, "Order saved.")


@router.post("/playlists/{playlist_id}/items/{position}/move")
def move_form(
    playlist_id: int, position: int, request: Request, user: CurrentUser, session: SessionDep,
    to: Annotated[int, Form()], rev: Annotated[str | None, Form()] = None,
) -> Response:
    """The keyboard way to reorder: move the track at `position` to `to` (0-based)."""
    playlist = playlists.move_item(session=session, user=user, playlist_id=playlist_id, position=position,
                                   to_position=to, expected_revision=rev)
    # Focus the moved track's button of the same direction, or the other one at either end.
    direction = "up" if to < position else "down"
    if to in (0, len(playlist.items) - 1):
        direction = "down" if to == 0 else "up"
    return _edited(request, session, user, playlist_id, f"Moved “{_title(playlist, to)}” to #{to + 1}.",
                   focus=f"{direction}-{to}")


@router.post("/playlists/{playlist_id}/items/{position}/remove")
def remove_form(
    playlist_id: int, position: int, request: Request, user: CurrentUser, session: SessionDep,
    rev: Annotated[str | None, Form()] = None,
) -> Response:
    title = _title(playlists.get_playlist(session=session, user=user, playlist_id=playlist_id), position)
    playlists.remove_item(session=session, user=user, playlist_id=playlist_id, position=position,
                          expected_revision=rev)
    return _edited(request, session, user, playlist_id,
                   f"Removed “{title}”. The order before is in Versions below.")


@router.get("/playlists/{playlist_id}/versions", response_class=HTMLResponse)
def versions_panel(playlist_id: int, request: Request, user: CurrentUser, session: SessionDep) -> HTMLResponse:
    """The versions panel of the playlist page (loaded after the page)."""
    playlist = playlists.get_playlist(session=session, user=user, playlist_id=playlist_id)
    return templates.TemplateResponse(request, "_versions.html", {
        "user": user, "playlist": playlist,
        "versions": playlists.describe_versions(session=session, user=user, playlist_id=playlist_id),
    })


@router.post("/playlists/{playlist_id}/versions/{version_id}/restore")
def restore_form(
    playlist_id: int, version_id: int, request: Request, user: CurrentUser, session: SessionDep
) -> Response:
    playlists.restore_version(session=session, user=user, playlist_id=playlist_id, version_id=version_id)
    return _edited(request, session, user, playlist_id,
                   "Version restored. The order before it is kept as a version too.")
