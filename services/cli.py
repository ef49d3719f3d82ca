"""`djp`: the command line. Imports run in this process with a progress bar (no worker needed).

    djp import discogs [--library ID] [--refresh]    sync the DISCOGS_USERNAME collection (or a library)
    djp import csv FILE [--library ID]              import a Discogs collection CSV export
    djp friends add NAME | remove NAME | list       follow a friend's public collection (read-only)
    djp search "QUERY" [--bpm 120-128] [--compatible-with 8A] ...   find tracks (a table)
    djp search reindex                              rebuild the MeiliSearch index (then swap it in)
    djp playlist export ID --format F [-o FILE]     a playlist as rekordbox, nml, m3u8, csv or json
    djp playlist import FILE [--name N]             a new playlist from an M3U8, Rekordbox XML, NML or JSON file
    djp backup create | list | restore NAME | delete NAME   database dumps (restore: checked, then swapped in)
    djp embeddings backfill [--library-id ID] [--sync]   embed every track (a job, or here with --sync)
    djp embeddings status [--library-id ID]              embeddings per kind and model vs tracks
    djp new-releases check [--library ID] | list     newer releases by your collection's artists (Discogs)
    djp audio import FOLDER [--library ID] [--dry-run]   your audio files, matched to tracks by tags and copied in
    djp analyze [--library ID] [--outdated]         queue the analysis of tracks with audio not analysed yet

It calls the same domain services as the web app; their errors are printed, never a traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

from services.common.contracts.discogs import SyncMode, SyncProgress
from services.common.db import session_scope
from services.common.embedded import ConfigurationError
from services.common.settings import get_settings
from services.domain.accounts.service import find_user
from services.domain.collection import service as collection
from services.domain.errors import DomainError
from services.domain.jobs import KINDS as job_kinds
from services.domain.libraries import service as libraries
from services.domain.startup import prepare

app = typer.Typer(help="DJ Playlist command line", no_args_is_help=True)
import_app = typer.Typer(help="Import your collection", no_args_is_help=True)
friends_app = typer.Typer(help="Friends' collections (read-only libraries)", no_args_is_help=True)
app.add_typer(import_app, name="import")
app.add_typer(friends_app, name="friends")
playlist_app = typer.Typer(help="Playlists as files (Rekordbox, Traktor, M3U8, CSV, JSON)", no_args_is_help=True)
app.add_typer(playlist_app, name="playlist")
backup_app = typer.Typer(help="Database backups (pg_dump files in BACKUP_DIR)", no_args_is_help=True)
app.add_typer(backup_app, name="backup")
console = Console(stderr=True)
T = TypeVar("T")


def _fail(message: str, code: int = 1):
    console.print(f"[red]error:[/red] {message}")
    raise typer.Exit(code)


def _run(action: Callable[[], T]) -> T:
    """Run a domain call; its errors become a one-line message and exit code 1."""
    try:
        return action()
    except DomainError as exc:
        _fail(exc.detail)


def _prepare() -> None:
    try:
        prepare()
    except ConfigurationError as exc:
        _fail(str(exc), 2)


def _sync(library_id: int, mode: SyncMode) -> None:
    columns = (TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), TextColumn("{task.fields[detail]}"),
               TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("starting", total=100, detail="")

        def report(p: SyncProgress) -> None:
            if p.stage == "collection":
                detail = f"pages {p.pages_done}/{p.pages_total or '?'}"
            else:
                detail = f"releases {p.releases_done}/{p.releases_total}"
            if p.releases_failed:
                detail += f", {p.releases_failed} failed"
            progress.update(task, completed=p.percent, description=p.stage, detail=detail)

        result = _run(lambda: collection.sync_now(library_id=library_id, mode=mode, progress=report))
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
    _prepare()
    if library is None:
        with session_scope() as session:
            lib = libraries.ensure_discogs_library(session=session, settings=get_settings())
            if lib is None:
                _fail("DISCOGS_USERNAME is not set: set it, or pass --library ID")
            library = lib.id
    _sync(library, "refresh" if refresh else "full")


@import_app.command("csv")
def import_csv(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="Discogs CSV export")],
    library: Annotated[int | None, typer.Option(help="Library id (default: the owner's first own library)")] = None,
    user: Annotated[str | None, typer.Option(help="Owner username (default: the first admin)")] = None,
    tracklists: Annotated[bool, typer.Option(help="Fetch tracklists from Discogs when a token is set")] = True,
) -> None:
    """Import a Discogs collection CSV export: albums at once, tracklists from the API when a token is set."""
    _prepare()

    def run():
        with session_scope() as session, file.open("rb") as stream:
            owner = find_user(session=session, username=user)
            library_id = library if library is not None else libraries.first_own_library(
                session=session, user=owner).id
            return collection.import_csv(session=session, user=owner, library_id=library_id, stream=stream,
                                         queue_tracklists=False)

    result = _run(run)
    console.print(f"[green]imported[/green] {result.rows} rows into library {result.library_id}: "
                  f"{result.albums_created} new albums, {result.albums_updated} updated")
    if tracklists and get_settings().discogs_user_token is not None:
        _sync(result.library_id, "tracklists")
    elif tracklists:
        console.print("no DISCOGS_USER_TOKEN: tracklists will be filled when one is set (`djp import discogs`)")


@friends_app.command("add")
def friends_add(
    name: Annotated[str, typer.Argument(help="Their Discogs username")],
    user: Annotated[str | None, typer.Option(help="Follower (default: the first admin)")] = None,
    sync: Annotated[bool, typer.Option(help="Import their collection now")] = True,
) -> None:
    """Follow a friend: their public collection becomes a read-only library."""
    _prepare()

    def run() -> int:
        with session_scope() as session:
            follower = find_user(session=session, username=user)
            return libraries.follow_friend(session=session, user=follower, username=name).id

    library_id = _run(run)
    console.print(f"following {name} (library {library_id})")
    if sync:
        _sync(library_id, "full")


@friends_app.command("remove")
def friends_remove(name: str, user: Annotated[str | None, typer.Option()] = None) -> None:
    """Unfollow: removes the friend library and its rows."""
    _prepare()

    def run() -> None:
        with session_scope() as session:
            libraries.unfollow_friend(session=session, user=find_user(session=session, username=user), username=name)

    _run(run)
    console.print(f"unfollowed {name}")


@friends_app.command("list")
def friends_list(user: Annotated[str | None, typer.Option()] = None) -> None:
    _prepare()
    with session_scope() as session:
        follower = _run(lambda: find_user(session=session, username=user))
        for lib in libraries.list_friends(session=session, user=follower):
            synced = lib.last_synced_at.strftime("%Y-%m-%d %H:%M") if lib.last_synced_at else "never"
            print(f"{lib.discogs_username}\tlibrary {lib.id}\tlast sync {synced}")


def _range(text: str | None, name: str) -> tuple[float | None, float | None]:
    if not text:
        return None, None
    low, sep, high = text.partition("-")
    try:
        return (float(low), float(high)) if sep else (float(low), float(low))
    except ValueError:
        _fail(f"--{name} takes a number or a range like 120-128, not {text!r}")


@app.command("search")
def search(
    query: Annotated[str, typer.Argument(help='Free text ("" to browse); `reindex` rebuilds the index')] = "",
    bpm: Annotated[str | None, typer.Option(help="BPM or range, e.g. 120-128")] = None,
    half_double: Annotated[bool, typer.Option(help="Also half and double time")] = False,
    key: Annotated[str | None, typer.Option(help="Camelot code, Open Key or musical key")] = None,
    compatible_with: Annotated[str | None, typer.Option(help="Keys that mix with this one")] = None,
    energy: Annotated[str | None, typer.Option(help="Energy 1-10 or range, e.g. 6-8")] = None,
    genre: Annotated[list[str] | None, typer.Option(help="Repeatable")] = None,
    style: Annotated[list[str] | None, typer.Option(help="Repeatable")] = None,
    sort: Annotated[str, typer.Option(help="relevance, bpm, key, energy, year, rating, added, title, artist; -desc")]
    = "relevance",
    limit: Annotated[int, typer.Option(min=1, max=200)] = 25,
    user: Annotated[str | None, typer.Option(help="Search as this user (default: the first admin)")] = None,
) -> None:
    """Find tracks: typo-tolerant text with DJ filters, as the web app's search."""
    from pydantic import ValidationError
    from rich.table import Table

    from services.domain.search.models import SearchQuery
    from services.domain.search.service import backend_name, search_tracks

    _prepare()
    if query == "reindex" and not any((bpm, key, compatible_with, energy, genre, style)):
        if backend_name() != "meilisearch":
            _fail("the postgres backend is indexed by the database on every write: nothing to rebuild")
        from services.domain.search.meili import MeiliBackend

        with session_scope() as session:
            written = _run(lambda: MeiliBackend().rebuild(session=session))
        console.print(f"[green]rebuilt[/green] the search index with {written} tracks")
        return
    bpm_min, bpm_max = _range(bpm, "bpm")
    energy_min, energy_max = _range(energy, "energy")
    try:
        parsed = SearchQuery(q=query, bpm_min=bpm_min, bpm_max=bpm_max, half_double=half_double, key=key,
                             compatible_with=compatible_with, energy_min=energy_min, energy_max=energy_max,
                             genre=genre or [], style=style or [], sort=sort, limit=limit)
    except ValidationError as exc:
        _fail("; ".join(f"{'.'.join(map(str, e['loc'])) or 'query'}: {e['msg']}" for e in exc.errors()))
    with session_scope() as session:
        result = _run(lambda: search_tracks(session=session, user=find_user(session=session, username=user),
                                            query=parsed))
    table = Table(title=f"{result.total} track(s) · {result.took_ms:.0f} ms · {result.backend}")
    for column in ("id", "artist", "title", "BPM", "key", "energy", "library"):
        table.add_column(column, justify="right" if column in ("id", "BPM", "energy") else "left")
    for item in result.items:
        table.add_row(str(item.id), item.artist or "", item.title, f"{item.bpm:.1f}" if item.bpm else "",
                      item.camelot or "", f"{item.energy:.0f}" if item.energy is not None else "", item.library)
    Console().print(table)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())


@app.command("download")
def download(
    track: Annotated[int | None, typer.Argument(help="Track id (primary key)")] = None,
    url: Annotated[str | None, typer.Option(help="Download from this link instead of the track's own")] = None,
    missing: Annotated[int | None, typer.Option(help="Queue every track of this library id without audio")] = None,
    user: Annotated[str | None, typer.Option(help="Act as this user (default: the first admin)")] = None,
) -> None:
    """Queue audio downloads (a worker fetches, converts and analyses them); follow with `djp jobs`."""
    from services.domain.downloads import service as downloads

    if (track is None) == (missing is None):
        _fail("give a track id, or --missing LIBRARY_ID")
    _prepare()
    with session_scope() as session:
        who = _run(lambda: find_user(session=session, username=user))
        if track is not None:
            job = _run(lambda: downloads.request_download(session=session, user=who, track_pk=track, url=url))
            print(f"{job.id}\t{job.status}\t{job.description}")
        else:
            batch = _run(lambda: downloads.download_missing(session=session, user=who, library_id=missing))
            print(f"queued {batch.queued}, already queued {batch.already_queued}, left for later {batch.skipped}")


@app.command("jobs")
def jobs_list(
    kind: Annotated[str | None, typer.Option(help=", ".join(job_kinds))] = None,
    status: Annotated[str | None, typer.Option(help="queued, started, finished, failed, ...")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 30,
    user: Annotated[str | None, typer.Option(help="As this user (default: the first admin)")] = None,
) -> None:
    """Background jobs, newest first: status, stage, percent and why a job failed."""
    from pydantic import ValidationError

    from services.domain.jobcenter.models import JobFilter
    from services.domain.jobcenter.service import visible_jobs

    try:
        filters = JobFilter(kind=kind, status=status, limit=limit)
    except ValidationError as exc:
        _fail("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()))
    _prepare()
    with session_scope() as session:
        who = _run(lambda: find_user(session=session, username=user))
        for job in _run(lambda: visible_jobs(session=session, user=who, filters=filters)):
            reason = f"\t{job.error}" if job.error else ""
            print(f"{job.id}\t{job.kind}\t{job.status}\t{job.stage or ''}\t{job.percent}%\t{job.description or ''}"
                  f"{reason}")


@playlist_app.command("export")
def playlist_export(
    playlist: Annotated[int, typer.Argument(help="Playlist id")],
    format: Annotated[str, typer.Option("--format", "-f", help="rekordbox, nml, m3u8, csv or json")],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="File to write (default: standard output)")]
    = None,
    paths: Annotated[str, typer.Option(help="m3u8/csv/json: absolute, or relative to the audio folder")] = "absolute",
    root: Annotated[str | None, typer.Option(help="Where the audio folder is on the machine reading the file")]
    = None,
    phrase_cues: Annotated[bool, typer.Option(help="rekordbox/nml: a memory cue at each phrase start (at most 8)")]
    = False,
    user: Annotated[str | None, typer.Option(help="Owner username (default: the first admin)")] = None,
) -> None:
    """Write a playlist as a Rekordbox XML, Traktor NML, M3U8, CSV or JSON file."""
    from services.domain.playlists.exports import export_playlist

    _prepare()
    with session_scope() as session:
        owner = _run(lambda: find_user(session=session, username=user))
        result = _run(lambda: export_playlist(session=session, user=owner, playlist_id=playlist, fmt=format,
                                              paths=paths, root=root, phrase_cues=phrase_cues))
    if output is None:
        sys.stdout.buffer.write(result.content)
        sys.stdout.flush()
    else:
        output.write_bytes(result.content)
        console.print(f"wrote {output} ({len(result.content)} bytes)")
    if result.skipped:
        console.print(f"{result.skipped} track(s) without audio were left out or written as comments")
    if result.hidden:
        console.print(f"{result.hidden} track(s) hidden: their library is no longer shared with the owner (not "
                      "exported)")


@playlist_app.command("import")
def playlist_import(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="M3U8, XML, NML or JSON")],
    format: Annotated[str | None, typer.Option("--format", "-f", help="m3u8, rekordbox, nml or json (default: "
                                                                      "from the file)")] = None,
    name: Annotated[str | None, typer.Option(help="Playlist name (default: the file's)")] = None,
    playlist: Annotated[str | None, typer.Option(help="Which playlist of a file with several")] = None,
    user: Annotated[str | None, typer.Option(help="Owner username (default: the first admin)")] = None,
) -> None:
    """Create a playlist from a file, matching your tracks by path, then artist + title (+ duration)."""
    from services.domain.playlists.imports import MAX_IMPORT_BYTES, import_playlist

    _prepare()

    def run():
        with session_scope() as session, file.open("rb") as stream:
            owner = find_user(session=session, username=user)
            return import_playlist(session=session, user=owner, filename=file.name,
                                   chunks=iter(lambda: stream.read(1 << 16), b""), fmt=format, name=name,
                                   playlist=playlist, max_bytes=MAX_IMPORT_BYTES)

    report = _run(run)
    console.print(f"[green]created[/green] playlist {report.playlist_id} \"{report.name}\": "
                  f"{report.matched}/{report.total} tracks matched")
    for miss in report.unmatched[:50]:
        where = f"line {miss.line}" if miss.line else f"entry {miss.entry}"
        who = " - ".join(x for x in (miss.artist, miss.title) if x) or miss.path or "?"
        console.print(f"  {where}: {who}: {miss.reason}")
    if len(report.unmatched) > 50:
        console.print(f"  ... and {len(report.unmatched) - 50} more")


# --- embeddings (services/domain/embeddings) ------------------------------------------------------------
embeddings_app = typer.Typer(help="Track embeddings for similar tracks and vibe search", no_args_is_help=True)
app.add_typer(embeddings_app, name="embeddings")


def _embeddings_library(session, library_id: int | None) -> None:
    from services.common.models import Library

    if library_id is not None and session.get(Library, library_id) is None:
        _fail(f"library {library_id} does not exist")


@embeddings_app.command("backfill")
def embeddings_backfill(
    library_id: Annotated[int | None, typer.Option("--library-id", help="Only this library (default: all)")] = None,
    sync: Annotated[bool, typer.Option("--sync", help="Run here with a progress bar instead of queueing a job")]
    = False,
) -> None:
    """Embed every track (text and audio features); unchanged tracks are skipped."""
    from services.domain.embeddings import jobs as embedding_jobs
    from services.domain.embeddings import service as embeddings

    _prepare()
    with session_scope() as session:
        _embeddings_library(session, library_id)
    if not sync:
        job = _run(lambda: embedding_jobs.enqueue_backfill(library_id=library_id))
        console.print(f"[green]queued[/green] embeddings backfill job {job.id} (see `djp jobs --kind "
                      "embeddings_backfill`)")
        return
    provider = _run(embeddings.active_provider)
    columns = (TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), TextColumn("{task.fields[detail]}"),
               TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task(f"loading {provider.model}", total=100, detail="")
        _run(embeddings.warm_up)

        def report(done: int, total: int) -> None:
            progress.update(task, completed=100 * done / total if total else 100, description="embedding",
                            detail=f"tracks {done}/{total}")

        def run():
            with session_scope() as session:
                return embeddings.backfill(session, library_id=library_id, progress=report, provider=provider)

        result = _run(run)
    console.print(f"[green]done[/green]: {result['tracks']} tracks; text ({result['model']}): "
                  f"{result['text']['embedded']} embedded, {result['text']['unchanged']} unchanged; audio "
                  f"({result['audio_model']}): {result['audio']['embedded']} embedded, "
                  f"{result['audio']['unchanged']} unchanged, {result['audio']['unanalysed']} not analysed")


@embeddings_app.command("status")
def embeddings_status(
    library_id: Annotated[int | None, typer.Option("--library-id", help="Only this library (default: all)")] = None,
) -> None:
    """How many tracks have embeddings of the active models, and every model stored."""
    from services.domain.embeddings import service as embeddings

    _prepare()
    with session_scope() as session:
        _embeddings_library(session, library_id)
        status = _run(lambda: embeddings.embedding_status(session, library_id=library_id))
    print(f"tracks\t{status['tracks']}\t(analysed {status['analysed']})")
    print(f"text\t{status['text_model']}\t{status['text']['embedded']} embedded\t{status['text']['missing']} missing")
    print(f"audio\t{status['audio_model']}\t{status['audio']['embedded']} embedded\t"
          f"{status['audio']['missing']} missing")
    for row in status["stored"]:
        print(f"stored\t{row['kind']}\t{row['model']}\t{row['count']}")


@app.command("analyze")
def analyze_library(
    library: Annotated[int | None, typer.Option(help="Library id (default: the user's first own library)")] = None,
    outdated: Annotated[bool, typer.Option(help="Also tracks analysed by an older analyzer")] = False,
    user: Annotated[str | None, typer.Option(help="Owner username (default: the first admin)")] = None,
) -> None:
    """Queue the analysis of the library's tracks with audio that were never analysed (a worker runs them;
    follow with `djp jobs --kind analysis`)."""
    from services.domain.analysis import service as analysis

    _prepare()
    with session_scope() as session:
        owner, library_id = _run(lambda: _own_library_id(session, user, library))
        batch = _run(lambda: analysis.analyse_library(session=session, user=owner, library_id=library_id,
                                                      which="outdated" if outdated else "missing"))
    left = f", left for later {batch.skipped} ({batch.skipped_reason})" if batch.skipped else ""
    print(f"queued {batch.queued}, already queued {batch.already_queued}{left}")


# --- a DJ's own audio files (services/domain/local_audio): matched and copied in this process ------------------
audio_app = typer.Typer(help="Your own audio files, matched to your tracks by their tags", no_args_is_help=True)
app.add_typer(audio_app, name="audio")


def _audio_files(folder: Path) -> list[Path]:
    """Audio files under `folder` (recursively, hidden ones skipped), in name order."""
    from services.common.audio_files import AUDIO_EXTENSIONS

    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS
                  and not any(part.startswith(".") for part in p.relative_to(folder).parts))


def _read_chunks(path: Path):
    with path.open("rb") as source:
        while chunk := source.read(1024 * 1024):
            yield chunk


@audio_app.command("import")
def audio_import(
    folder: Annotated[Path, typer.Argument(help="A folder of audio files (searched recursively)")],
    library: Annotated[int | None, typer.Option(help="Library id (default: the user's first own library)")] = None,
    user: Annotated[str | None, typer.Option(help="Owner username (default: the first admin)")] = None,
    replace: Annotated[bool, typer.Option(help="Replace the audio a matched track already has")] = False,
    add_unmatched: Annotated[bool, typer.Option(help="A file that matches no track becomes a new track (on a record "
                                                     "named by its album tag, else 'Loose files')")] = False,
    analyze: Annotated[bool | None, typer.Option("--analyze/--no-analyze",
                                                 help="Queue each new file's analysis (default: ANALYZE_UPLOADS)")]
    = None,
    dry_run: Annotated[bool, typer.Option(help="Only say what would be attached (tags and names: nothing is "
                                                   "decoded or copied)")] = False,
) -> None:
    """Match each audio file to a track of the library by its tags (else its name, "03 - Artist - Title.mp3")
    and copy it in as the track's audio; the folder is left as it is. Close calls and files without a match
    are listed at the end for you to choose (the track page's upload)."""
    from rich.table import Table

    from services.common.models import User
    from services.domain.access import writable_library
    from services.domain.local_audio import service as local_audio

    if not folder.is_dir():
        _fail(f"{folder} is not a folder")
    files = _audio_files(folder)
    if not files:
        _fail(f"no audio files under {folder}")
    _prepare()
    with session_scope() as session:
        owner, library_id = _run(lambda: _own_library_id(session, user, library))
        _run(lambda: writable_library(session=session, user=owner, library_id=library_id))
        owner_id = owner.id
    counts: dict[str, int] = {}
    left: list[tuple[str, str, str]] = []  # (file, outcome, best candidate or reason)
    with Progress(TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), TimeElapsedColumn(),
                  console=console) as bar:
        task = bar.add_task("matching" if dry_run else "importing", total=len(files))
        for path in files:
            shown = str(path.relative_to(folder))
            try:
                with session_scope() as session:  # one transaction per file: what is attached stays attached
                    who = session.get(User, owner_id)
                    if dry_run:
                        done = local_audio.preview_file(session=session, user=who, library_id=library_id, path=path)
                    else:
                        done = local_audio.import_file(session=session, user=who, library_id=library_id,
                                                       filename=path.name, chunks=_read_chunks(path),
                                                       replace=replace, analyze=analyze,
                                                       add_unmatched=add_unmatched)
            except DomainError as exc:
                counts["refused"] = counts.get("refused", 0) + 1
                left.append((shown, "refused", exc.detail))
            except OSError as exc:
                counts["unreadable"] = counts.get("unreadable", 0) + 1
                left.append((shown, "unreadable", exc.strerror or type(exc).__name__))
            else:
                counts[done.status] = counts.get(done.status, 0) + 1
                if done.status in ("ambiguous", "unmatched"):
                    best = done.match.candidates[0] if done.match.candidates else None
                    left.append((shown, done.status, f"#{best.track_pk} {best.artist or ''} - {best.title} "
                                 f"({best.score:.2f})" if best else f"{done.match.tags.artist or '?'} - "
                                 f"{done.match.tags.title or '?'}"))
                elif done.analysis_error:
                    left.append((shown, "attached, not analysed", done.analysis_error))
            bar.advance(task)
    if left:
        table = Table(title="to look at")
        for column in ("file", "outcome", "best candidate / read as / why"):
            table.add_column(column)
        for row in left:
            table.add_row(*row)
        Console().print(table)
    words = {"attached": "attached", "created": "added as new tracks", "matched": "would be attached",
             "has_audio": "already had audio",
             "ambiguous": "ambiguous", "unmatched": "unmatched", "refused": "refused", "unreadable": "unreadable"}
    print(", ".join(f"{words[k]} {counts[k]}" for k in words if k in counts) + f" (of {len(files)} files)")


# --- new releases (services/domain/new_releases): run in this process, no worker needed -----------------
new_releases_app = typer.Typer(help="New releases by the artists of your collection (Discogs)", no_args_is_help=True)
app.add_typer(new_releases_app, name="new-releases")


def _own_library_id(session, user: str | None, library: int | None) -> tuple[object, int]:
    owner = find_user(session=session, username=user)
    return owner, library if library is not None else libraries.first_own_library(session=session, user=owner).id


@new_releases_app.command("check")
def new_releases_check(
    library: Annotated[int | None, typer.Option(help="Library id (default: the user's first own library)")] = None,
    user: Annotated[str | None, typer.Option(help="Owner username (default: the first admin)")] = None,
) -> None:
    """Look up the library's artists on Discogs and record releases newer than the library holds."""
    from services.domain.new_releases import service as new_releases

    _prepare()
    columns = (TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), TextColumn("{task.fields[detail]}"),
               TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("artists", total=100, detail="")

        def report(done: int, total: int) -> None:
            progress.update(task, completed=100 * done / total if total else 100, detail=f"{done}/{total}")

        def run():
            with session_scope() as session:
                owner, library_id = _own_library_id(session, user, library)
                return library_id, new_releases.check_now(session=session, user=owner, library_id=library_id,
                                                          progress=report)

        library_id, summary = _run(run)
    console.print(f"[green]checked[/green] {summary.artists} artists of library {library_id}: {summary.found} new "
                  f"release(s) found, {summary.removed} now in the library, {len(summary.failed)} lookup(s) failed")
    _print_new_releases(user, library_id)


def _print_new_releases(user: str | None, library_id: int) -> None:
    from services.domain.new_releases import service as new_releases

    with session_scope() as session:
        owner = _run(lambda: find_user(session=session, username=user))
        found = _run(lambda: new_releases.list_new_releases(session=session, user=owner, library_id=library_id))
    for item in found.items:
        print(f"{item.year or '?'}	{item.artist}	{item.title}	{item.kind}	{item.url}")


@new_releases_app.command("list")
def new_releases_list(
    library: Annotated[int | None, typer.Option(help="Library id (default: the user's first own library)")] = None,
    user: Annotated[str | None, typer.Option(help="Username (default: the first admin)")] = None,
) -> None:
    """The recorded new releases of a library, newest year first (tab-separated)."""
    _prepare()
    with session_scope() as session:
        library_id = _run(lambda: _own_library_id(session, user, library))[1]
    _print_new_releases(user, library_id)


# --- backups (services/domain/backups): run in this process, no worker needed ---------------------------


def _backup_progress(label: str):
    columns = (TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), TimeElapsedColumn())
    progress = Progress(*columns, console=console, transient=True)
    task = progress.add_task(label, total=100)
    return progress, lambda stage, percent: progress.update(task, completed=percent, description=stage)


@backup_app.command("create")
def backup_create() -> None:
    """Dump the database (pg_dump --format=custom) into BACKUP_DIR."""
    from services.domain.backups import service as backups

    progress, report = _backup_progress("backup")
    with progress:
        info = _run(lambda: backups.create_backup(progress=report))
    console.print(f"[green]created[/green] {info.name} ({info.size} bytes)")


@backup_app.command("list")
def backup_list() -> None:
    """The backups in BACKUP_DIR, newest first."""
    from services.domain.backups import service as backups

    for b in _run(backups.list_backups):
        print(f"{b.name}\t{b.size}\t{b.created.isoformat()}{chr(9) + 'scheduled' if b.scheduled else ''}")


@backup_app.command("restore")
def backup_restore(
    name: str,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation")] = False,
) -> None:
    """Replace the database with backup NAME: checked, restored into a scratch database, then swapped in."""
    from services.domain.backups import service as backups

    check = _run(lambda: backups.check_backup(name=name))
    if not yes:
        typer.confirm(f"Replace ALL data with {name} (schema revision {check.revision})? The current database "
                      f"is kept aside until the next restore", abort=True)
    progress, report = _backup_progress("restore")
    with progress:
        result = _run(lambda: backups.restore_backup(name=name, progress=report))
    console.print(f"[green]restored[/green] {name}; the previous database is kept as {result.previous_database}")


@backup_app.command("delete")
def backup_delete(name: str) -> None:
    """Delete backup NAME from BACKUP_DIR."""
    from services.domain.backups import service as backups

    _run(lambda: backups.delete_backup(name=name))
    console.print(f"deleted {name}")
