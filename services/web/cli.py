"""`djp`: the command line. Imports run in this process with a progress bar (no worker needed).

    djp import discogs [--library ID] [--refresh]    sync the DISCOGS_USERNAME collection (or a library)
    djp import csv FILE [--library ID]              import a Discogs collection CSV export
    djp friends add NAME | remove NAME | list       follow a friend's public collection (read-only)
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from sqlalchemy import select

app = typer.Typer(help="DJ Playlist command line", no_args_is_help=True)
import_app = typer.Typer(help="Import your collection", no_args_is_help=True)
friends_app = typer.Typer(help="Friends' collections (read-only libraries)", no_args_is_help=True)
app.add_typer(import_app, name="import")
app.add_typer(friends_app, name="friends")
console = Console(stderr=True)


def _fail(message: str, code: int = 1):
    console.print(f"[red]error:[/red] {message}")
    raise typer.Exit(code)


def _prepare() -> None:
    from services.common.embedded import ConfigurationError
    from services.web.__main__ import prepare

    try:
        prepare()
    except ConfigurationError as exc:
        _fail(str(exc), 2)


def _user(session, username: str | None):
    from services.common.models import User

    stmt = select(User).where(User.username == username) if username else \
        select(User).where(User.is_admin.is_(True)).order_by(User.id).limit(1)
    user = session.scalar(stmt)
    if user is None:
        _fail(f"user {username!r} not found" if username else "no admin user yet")
    return user


def _run_sync(library_id: int, mode: str) -> None:
    from services.common.settings import get_settings
    from services.web.collection.sync import SyncAlreadyRunning, run_sync
    from services.web.sources.base import SourceError
    from services.web.sources.discogs import DiscogsSource

    if get_settings().discogs_user_token is None:
        _fail("DISCOGS_USER_TOKEN is not set: set it to sync from Discogs (or use `djp import csv FILE`)")
    columns = (TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), TextColumn("{task.fields[detail]}"),
               TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("starting", total=100, detail="")

        def report(p) -> None:
            if p.stage == "collection":
                detail = f"pages {p.pages_done}/{p.pages_total or '?'}"
            else:
                detail = f"releases {p.releases_done}/{p.releases_total}"
            if p.releases_failed:
                detail += f", {p.releases_failed} failed"
            progress.update(task, completed=p.percent, description=p.stage, detail=detail)

        try:
            with DiscogsSource.from_settings() as source:
                result = run_sync(library_id=library_id, source=source, mode=mode, progress=report)
        except SyncAlreadyRunning as exc:
            _fail(str(exc))
        except SourceError as exc:
            _fail(f"Discogs: {exc.reason}")
    console.print(f"[green]done[/green]: {result.releases_done}/{result.releases_total} releases, "
                  f"{result.releases_fetched} fetched, {result.releases_removed} removed, "
                  f"{result.releases_failed} failed")
    for failure in result.failures[:20]:
        console.print(f"  release {failure.release_id}: {failure.reason}")


@import_app.command("discogs")
def import_discogs(
    library: Annotated[int | None, typer.Option(help="Library id (default: the DISCOGS_USERNAME library)")] = None,
    refresh: Annotated[bool, typer.Option(help="Fetch every release again")] = False,
) -> None:
    """Sync a Discogs collection (resumes an interrupted sync; only new releases are fetched)."""
    from services.common.db import session_scope
    from services.common.settings import get_settings
    from services.web.collection.libraries import ensure_discogs_library

    _prepare()
    with session_scope() as session:
        if library is None:
            lib = ensure_discogs_library(session, get_settings())
            if lib is None:
                _fail("DISCOGS_USERNAME is not set: set it, or pass --library ID")
            library = lib.id
    _run_sync(library, "refresh" if refresh else "full")


@import_app.command("csv")
def import_csv(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="Discogs CSV export")],
    library: Annotated[int | None, typer.Option(help="Library id (default: the admin's first own library)")] = None,
    user: Annotated[str | None, typer.Option(help="Owner username (default: the first admin)")] = None,
    tracklists: Annotated[bool, typer.Option(help="Fetch tracklists from Discogs when a token is set")] = True,
) -> None:
    """Import a Discogs collection CSV export: albums at once, tracklists from the API when a token is set."""
    from services.common.db import session_scope
    from services.common.models import Library
    from services.common.settings import get_settings
    from services.web.collection.csv_import import CsvImportError, import_albums, parse_collection_csv

    _prepare()
    try:
        albums = parse_collection_csv(file.read_bytes())
    except CsvImportError as exc:
        _fail(f"{file}: {exc}")
    with session_scope() as session:
        owner = _user(session, user)
        if library is None:
            lib = session.scalar(select(Library).where(Library.owner_id == owner.id, Library.is_friend.is_(False))
                                 .order_by(Library.id).limit(1))
            if lib is None:
                lib = Library(owner_id=owner.id, name=f"{owner.username}'s records", settings={})
                session.add(lib)
                session.flush()
        else:
            lib = session.get(Library, library)
            if lib is None or lib.owner_id != owner.id or lib.is_friend:
                _fail(f"library {library} not found, or not writable by {owner.username}")
        created, updated = import_albums(session.connection(), lib.id, albums)
        library_id = lib.id
    console.print(f"[green]imported[/green] {len(albums)} rows into library {library_id}: "
                  f"{created} new albums, {updated} updated")
    if tracklists and get_settings().discogs_user_token is not None:
        _run_sync(library_id, "tracklists")
    elif tracklists:
        console.print("no DISCOGS_USER_TOKEN: tracklists will be filled when one is set (`djp import discogs`)")


@friends_app.command("add")
def friends_add(
    name: Annotated[str, typer.Argument(help="Their Discogs username")],
    user: Annotated[str | None, typer.Option(help="Follower (default: the first admin)")] = None,
    sync: Annotated[bool, typer.Option(help="Import their collection now")] = True,
) -> None:
    """Follow a friend: their public collection becomes a read-only library."""
    from fastapi import HTTPException

    from services.common.db import session_scope
    from services.web.collection.libraries import follow_friend

    _prepare()
    with session_scope() as session:
        try:
            library = follow_friend(session=session, user=_user(session, user), username=name)
        except HTTPException as exc:
            _fail(str(exc.detail))
        library_id = library.id
    console.print(f"following {name} (library {library_id})")
    if sync:
        _run_sync(library_id, "full")


@friends_app.command("remove")
def friends_remove(name: str, user: Annotated[str | None, typer.Option()] = None) -> None:
    """Unfollow: removes the friend library and its rows."""
    from fastapi import HTTPException

    from services.common.db import session_scope
    from services.web.collection.libraries import unfollow_friend

    _prepare()
    with session_scope() as session:
        try:
            unfollow_friend(session=session, user=_user(session, user), username=name)
        except HTTPException as exc:
            _fail(str(exc.detail))
    console.print(f"unfollowed {name}")


@friends_app.command("list")
def friends_list(user: Annotated[str | None, typer.Option()] = None) -> None:
    from services.common.db import session_scope
    from services.web.collection.libraries import list_friends

    _prepare()
    with session_scope() as session:
        for lib in list_friends(session=session, user=_user(session, user)):
            synced = lib.last_synced_at.strftime("%Y-%m-%d %H:%M") if lib.last_synced_at else "never"
            print(f"{lib.discogs_username}\tlibrary {lib.id}\tlast sync {synced}")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
