"""Discogs collection sync: resumable, incremental, batched, never overwriting what users edited.

Stages of one run (state in `sync_runs`, so a killed worker resumes where it stopped):
1. collection - every collection page (following `pagination.urls.next`); each page upserts its albums
   and advances `pages_done` in the same transaction. Albums seen get `last_seen_run_id = run.id`.
2. removals  - after a complete listing, Discogs albums not seen are soft-deleted with their tracks
   (re-adding the record restores them).
3. releases  - albums without tracks get their tracklist: from the stored raw JSON when present
   (`discogs_releases`), else `GET /releases/{id}`. Raw JSON, album update and track upsert commit
   together per batch, so nothing is fetched twice and no row is written twice.
A release whose body comes back malformed is fetched again (MALFORMED_RETRIES, short backoff) within
the same run before it is recorded as failed; the next run retries failed releases once more.
Incremental: a second run lists the collection again (one request per 100 releases) but fetches
only releases it has not stored. The mode "tracklists" (CSV imports) skips stages 1-2.
Writes are `INSERT ... ON CONFLICT DO UPDATE` whose update set holds only Discogs-owned columns:
ratings, notes, tags, platform URLs, analysis and audio paths are never in it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, and_, exists, func, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from services.common.contracts.discogs import ReleaseFailure, SyncMode, SyncProgress
from services.common.db import get_engine
from services.common.models import Album, DiscogsRelease, Library, SyncRun, Track
from services.domain.analysis.results import restyle_tempos
from services.domain.sources.base import (
    AlbumInfo,
    MalformedResponse,
    MetadataSource,
    SourceAuthError,
    SourceError,
    TrackInfo,
)

log = logging.getLogger(__name__)

ProgressCallback = Callable[[SyncProgress], None]
_LOCK_CLASS = 0x5359  # advisory lock namespace "SY" (two-key form: class, library id)
MAX_FAILURES_KEPT = 200
LISTING_WEIGHT = 10.0

albums_t = Album.__table__
tracks_t = Track.__table__
raw_t = DiscogsRelease.__table__
runs_t = SyncRun.__table__


class SyncError(RuntimeError):
    pass


class SyncAlreadyRunning(SyncError):
    pass


def _now() -> datetime:
    return datetime.now(UTC)


# --- album and track writes (shared with CSV import and manual albums) -----------------------------

# Discogs-owned album columns refreshed by every sync; rating/notes/condition are first-import only.
_ALBUM_LISTING_UPDATE = ("title", "artist", "year", "genres", "styles", "label", "catalog_number", "format",
                         "thumbnail", "date_added")
# A Discogs release's identity (title, artist, year) is refreshed by every sync that touches it (the listing's
# upsert above, the release details below, a refresh): it is Discogs', not the user's, as a Discogs tracklist's
# track titles are (tracks/service.py). Records made by hand (release id < 0) no sync ever writes: their
# identity is the user's to correct (collection/albums.py asks here).
ALBUM_IDENTITY = ("title", "artist", "year")


def sync_owns_album_identity(release_id: int) -> bool:
    """True when a sync keeps this album's title, artist and year up to date from Discogs."""
    return release_id > 0


_TRACK_UPDATE = ("album_id", "release_id", "title", "artist", "album", "year", "position", "duration_seconds")
# Genres and styles: Discogs' list first, then any the user added (an accepted suggestion) kept after it.
# A genre Discogs later drops stays too: keeping a user's value beats guessing whose it was.
_TRACK_MERGE = ("genres", "styles")


def album_row(library_id: int, album: AlbumInfo, *, run_id: int | None = None) -> dict[str, Any]:
    return {
        "library_id": library_id,
        "release_id": album.release_id,
        "title": album.title,
        "artist": album.artist,
        "year": album.year,
        "genres": album.genres,
        "styles": album.styles,
        "label": album.label,
        "catalog_number": album.catalog_number,
        "format": album.format,
        "thumbnail": album.thumbnail,
        "discogs_url": album.discogs_url,
        "date_added": album.date_added,
        "rating": album.rating,
        "notes": album.notes,
        "condition": album.condition,
        "last_seen_run_id": run_id,
        "deleted_at": None,
    }


def upsert_albums(conn: Connection, rows: list[dict[str, Any]], *, update_columns=_ALBUM_LISTING_UPDATE,
                  mark_seen: bool = True) -> dict[int, tuple[int, bool]]:
    """Insert or refresh albums; returns release_id -> (album id, inserted?). Restores removed ones."""
    if not rows:
        return {}
    rows = list({r["release_id"]: r for r in rows}.values())  # the same release twice in one batch
    library_id = rows[0]["library_id"]
    release_ids = [r["release_id"] for r in rows]
    # A record back in the collection: its tracks come back too (those removed with it, not by the user).
    conn.execute(
        text(
            "UPDATE tracks t SET deleted_at = NULL FROM albums a WHERE t.album_id = a.id "
            "AND a.library_id = :lib AND a.release_id = ANY(:rids) AND a.deleted_at IS NOT NULL "
            "AND t.deleted_at = a.deleted_at"
        ),
        {"lib": library_id, "rids": release_ids},
    )
    names = [name for name, _ in _ALBUM_ROW_COPY]
    cur = _copy_to_temp(conn, "_djp_album_rows_in", _ALBUM_ROW_COPY, ([r[n] for n in names] for r in rows))
    sets = [f"{c} = EXCLUDED.{c}" for c in update_columns]
    sets += ["deleted_at = NULL", "updated_at = now()",
             # a release's own page (its details' `uri`) is kept; a record without one gets its id's page
             "discogs_url = COALESCE(albums.discogs_url, EXCLUDED.discogs_url)"]
    if mark_seen:
        sets.append("last_seen_run_id = EXCLUDED.last_seen_run_id")
    cols = ", ".join(names)
    cur.execute(
        f"INSERT INTO albums ({cols}) SELECT {cols} FROM _djp_album_rows_in "
        f"ON CONFLICT ON CONSTRAINT uq_album_library_release DO UPDATE SET {', '.join(sets)} "
        "RETURNING release_id, id, (xmax = 0) AS inserted"
    )
    out = {release_id: (album_id, bool(inserted)) for release_id, album_id, inserted in cur.fetchall()}
    cur.close()
    return out


def track_rows(library_id: int, album_id: int, album: AlbumInfo, tracks: list[TrackInfo]) -> list[dict[str, Any]]:
    return [
        {
            "library_id": library_id,
            "album_id": album_id,
            "release_id": album.release_id,
            "track_id": t.track_id,
            "title": t.title,
            "artist": t.artist,
            "album": album.title,
            "year": album.year,
            "position": t.position,
            "duration_seconds": t.duration_seconds,
            "genres": album.genres,
            "styles": album.styles,
        }
        for t in tracks
    ]


_ALBUM_ROW_COPY = (("library_id", "int4"), ("release_id", "int8"), ("title", "text"), ("artist", "text"),
                   ("year", "int2"), ("genres", "text[]"), ("styles", "text[]"), ("label", "text"),
                   ("catalog_number", "text"), ("format", "text"), ("thumbnail", "text"),
                   ("date_added", "timestamptz"), ("rating", "int2"), ("notes", "text"), ("condition", "text"),
                   ("discogs_url", "text"), ("last_seen_run_id", "int4"))
_TRACK_COPY = (("library_id", "int4"), ("album_id", "int4"), ("release_id", "int8"), ("track_id", "varchar"),
               ("title", "text"), ("artist", "text"), ("album", "text"), ("year", "int2"), ("position", "varchar"),
               ("duration_seconds", "float8"), ("genres", "text[]"), ("styles", "text[]"))
_ALBUM_COPY = (("id", "int4"), ("title", "text"), ("artist", "text"), ("year", "int2"), ("genres", "text[]"),
               ("styles", "text[]"), ("label", "text"), ("catalog_number", "text"), ("country", "text"),
               ("format", "text"), ("thumbnail", "text"), ("discogs_url", "text"))


def _copy_to_temp(conn: Connection, table: str, columns: tuple[tuple[str, str], ...], rows) -> Any:
    """COPY rows into a per-session temp table (emptied first); returns the psycopg cursor to go on with.

    COPY + one INSERT ... SELECT beats multi-row VALUES (SQLAlchemy compiles those per size) and
    executemany (one statement per row) by an order of magnitude.
    """
    raw = conn.connection.driver_connection  # the psycopg connection, inside the same transaction
    cur = raw.cursor()
    defs = ", ".join(f"{name} {kind}" for name, kind in columns)
    cur.execute(f"CREATE TEMP TABLE IF NOT EXISTS {table} ({defs}) ON COMMIT DELETE ROWS")
    cur.execute(f"DELETE FROM {table}")
    names = ", ".join(name for name, _ in columns)
    with cur.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
        copy.set_types([kind for _, kind in columns])
        for row in rows:
            copy.write_row(row)
    return cur


def upsert_tracks(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Batched upsert on (track_id, library_id); user-edited columns and deleted_at are never updated."""
    if not rows:
        return
    names = [name for name, _ in _TRACK_COPY]
    cur = _copy_to_temp(conn, "_djp_tracks_in", _TRACK_COPY, ([r[n] for n in names] for r in rows))
    cols = ", ".join(names)
    updates = ", ".join([f"{c} = EXCLUDED.{c}" for c in _TRACK_UPDATE] + [
        f"{c} = EXCLUDED.{c} || ARRAY(SELECT v FROM unnest(tracks.{c}) WITH ORDINALITY AS t(v, n) "
        f"WHERE v <> ALL(coalesce(EXCLUDED.{c}, '{{}}')) ORDER BY n)" for c in _TRACK_MERGE])
    cur.execute(
        f"INSERT INTO tracks ({cols}) SELECT {cols} FROM _djp_tracks_in "
        f"ON CONFLICT ON CONSTRAINT uq_track_trackid_library DO UPDATE SET {updates}, updated_at = now()"
    )
    cur.close()


def _update_album_details(conn: Connection, parsed: list[tuple[int, AlbumInfo, list[TrackInfo]]]) -> None:
    rows = ([album_id, a.title, a.artist, a.year, a.genres, a.styles, a.label, a.catalog_number, a.country,
             a.format, a.thumbnail, a.discogs_url] for album_id, a, _ in parsed)
    cur = _copy_to_temp(conn, "_djp_albums_in", _ALBUM_COPY, rows)
    sets = ", ".join(f"{name} = i.{name}" for name, _ in _ALBUM_COPY[1:] if name != "thumbnail")
    cur.execute(
        f"UPDATE albums a SET {sets}, thumbnail = coalesce(a.thumbnail, i.thumbnail), updated_at = now() "
        "FROM _djp_albums_in i WHERE a.id = i.id"
    )
    cur.close()


def apply_releases(conn: Connection, library_id: int, parsed: list[tuple[int, AlbumInfo, list[TrackInfo]]],
                   *, remove_stale: bool = False) -> int:
    """Album details and tracks for parsed releases [(album id, album, tracks)]; returns tracks written."""
    if not parsed:
        return 0
    _update_album_details(conn, parsed)
    rows: list[dict[str, Any]] = []
    for album_id, album, tracks in parsed:
        rows.extend(track_rows(library_id, album_id, album, tracks))
    upsert_tracks(conn, rows)
    if remove_stale:
        for album_id, _album, tracks in parsed:
            conn.execute(
                update(tracks_t)
                .where(tracks_t.c.album_id == album_id, tracks_t.c.deleted_at.is_(None),
                       tracks_t.c.track_id.not_in([t.track_id for t in tracks] or [""]))
                .values(deleted_at=func.now())
            )
    return len(rows)


# --- the run ---------------------------------------------------------------------------------------


class _Run:
    """Mutable view of a sync_runs row plus the progress reporting around it."""

    def __init__(self, row: dict[str, Any], progress: ProgressCallback | None) -> None:
        self.row = row
        self.progress_cb = progress

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["row"][name]
        except KeyError:
            raise AttributeError(name) from None

    def save(self, conn: Connection, **changes: Any) -> None:
        self.row.update(changes)
        changes["updated_at"] = _now()
        conn.execute(update(runs_t).where(runs_t.c.id == self.row["id"]).values(**changes))

    def snapshot(self) -> SyncProgress:
        r = self.row
        if r["stage"] == "finished":
            percent = 100.0
        else:
            if r["mode"] == "tracklists" or r["stage"] in ("removals", "releases"):
                listing = 1.0
            else:
                listing = (r["pages_done"] / r["pages_total"]) if r["pages_total"] else 0.0
            releases = (r["releases_done"] / r["releases_total"]) if r["releases_total"] else 0.0
            if r["stage"] == "collection":
                releases = 0.0
            percent = LISTING_WEIGHT * min(listing, 1.0) + (100 - LISTING_WEIGHT) * min(releases, 1.0)
        return SyncProgress(
            library_id=r["library_id"], run_id=r["id"], mode=r["mode"],
            status={"finished": "finished", "failed": "failed"}.get(r["status"], "running"),
            stage=r["stage"], percent=round(min(percent, 100.0), 1), pages_done=r["pages_done"],
            pages_total=r["pages_total"], releases_done=r["releases_done"], releases_total=r["releases_total"],
            releases_fetched=r["releases_fetched"], releases_failed=r["releases_failed"],
            releases_removed=r["releases_removed"],
            failures=[ReleaseFailure(**f) for f in (r["failures"] or [])[:50]],
            error=r["error"], started_at=r["started_at"], finished_at=r["finished_at"],
        )

    def report(self) -> SyncProgress:
        snap = self.snapshot()
        if self.progress_cb is not None:
            try:
                self.progress_cb(snap)
            except Exception:  # progress must never break the sync
                log.exception("progress callback failed")
        return snap


def run_to_progress(run: SyncRun) -> SyncProgress:
    row = {c.name: getattr(run, c.key) for c in runs_t.columns}
    return _Run(row, None).snapshot()


def _open_run(conn: Connection, library_id: int, mode: SyncMode, job_id: str | None) -> dict[str, Any]:
    """The unfinished run of this mode to resume, or a new one. Other unfinished runs are abandoned."""
    rows = conn.execute(
        select(runs_t).where(runs_t.c.library_id == library_id, runs_t.c.status.in_(("running", "failed")))
        .order_by(runs_t.c.id.desc())
    ).mappings().all()
    resume = next((dict(r) for r in rows if r["mode"] == mode), None)
    stale = [r["id"] for r in rows if resume is None or r["id"] != resume["id"]]
    if stale:
        conn.execute(update(runs_t).where(runs_t.c.id.in_(stale)).values(status="abandoned", finished_at=_now()))
    if resume is not None:
        conn.execute(update(runs_t).where(runs_t.c.id == resume["id"])
                     .values(status="running", error=None, job_id=job_id or resume["job_id"], updated_at=_now()))
        resume.update(status="running", error=None, job_id=job_id or resume["job_id"])
        log.info("library %s: resuming sync run %s at stage %s", library_id, resume["id"], resume["stage"])
        return resume
    stage = "releases" if mode == "tracklists" else "collection"
    return dict(conn.execute(
        runs_t.insert().values(library_id=library_id, mode=mode, status="running", stage=stage, job_id=job_id,
                               failures=[]).returning(*runs_t.c)
    ).mappings().one())


def run_sync(
    *,
    library_id: int,
    source: MetadataSource,
    mode: SyncMode = "full",
    job_id: str | None = None,
    progress: ProgressCallback | None = None,
    batch_size: int = 100,
    concurrency: int | None = None,
) -> SyncProgress:
    """Sync one library from the source; resumes an interrupted run of the same mode."""
    engine = get_engine()
    with engine.connect() as lock_conn:
        got = lock_conn.execute(text("SELECT pg_try_advisory_lock(:c, :l)"), {"c": _LOCK_CLASS, "l": library_id}).scalar()
        lock_conn.commit()
        if not got:
            raise SyncAlreadyRunning(f"a sync of library {library_id} is already running")
        try:
            return _run_locked(library_id=library_id, source=source, mode=mode, job_id=job_id, progress=progress,
                               batch_size=batch_size,
                               concurrency=concurrency or getattr(source, "concurrency", 1))
        finally:
            lock_conn.execute(text("SELECT pg_advisory_unlock(:c, :l)"), {"c": _LOCK_CLASS, "l": library_id})
            lock_conn.commit()


def sync_is_running(conn: Connection, library_id: int) -> bool:
    """True while some process holds the library's sync lock (a killed worker releases it at once)."""
    got = conn.execute(text("SELECT pg_try_advisory_xact_lock(:c, :l)"), {"c": _LOCK_CLASS, "l": library_id}).scalar()
    return not got


def _run_locked(*, library_id: int, source: MetadataSource, mode: SyncMode, job_id: str | None,
                progress: ProgressCallback | None, batch_size: int, concurrency: int) -> SyncProgress:
    engine = get_engine()
    with engine.begin() as conn:
        library = conn.execute(select(Library.__table__).where(Library.id == library_id)).mappings().first()
        if library is None:
            raise SyncError(f"library {library_id} does not exist")
        if mode in ("full", "refresh") and not library["discogs_username"]:
            raise SyncError(f"library {library_id} has no Discogs username: import a CSV export instead")
        run = _Run(_open_run(conn, library_id, mode, job_id), progress)
    run.report()
    try:
        if run.stage == "collection":
            _stage_collection(run, library["discogs_username"], source)
        if run.stage == "removals":
            _stage_removals(run)
        if run.stage == "releases":
            _stage_releases(run, source, batch_size=batch_size, concurrency=concurrency)
        with engine.begin() as conn:
            run.save(conn, stage="finished", status="finished", finished_at=_now())
            conn.execute(update(Library.__table__).where(Library.id == library_id).values(last_synced_at=_now()))
        # Styles may have changed: tempos the rule of analysis/style_tempo.py chose follow them (the sync job
        # re-embeds the library's changed tracks afterwards). Never fails the finished sync: the drift repair
        # applies the rule again.
        try:
            with engine.begin() as conn:
                restyle_tempos(conn=conn, library_id=library_id)
        except Exception:
            log.exception("could not re-apply the style tempo rule to library %s", library_id)
        return run.report()
    except BaseException as exc:
        reason = exc.reason if isinstance(exc, SourceError) else f"{type(exc).__name__}: {exc}"
        if isinstance(exc, SourceAuthError):
            reason = (f"Discogs refused access ({exc.status}): {exc.reason}. Check DISCOGS_USER_TOKEN, "
                      "or the collection is private.")
        try:
            with engine.begin() as conn:
                run.save(conn, status="failed", error=reason[:2000])
            run.report()
        except Exception:
            log.exception("could not record the sync failure")
        raise


LISTING_ATTEMPTS = 3


def _stage_collection(run: _Run, username: str, source: MetadataSource) -> None:
    """List every page. If the collection size changes mid-listing (a record added or removed on Discogs,
    or since an interrupted run), pages have shifted: list again from page 1 (upserts are idempotent), so
    the removal stage never acts on a listing that skipped a record."""
    engine = get_engine()
    for _attempt in range(LISTING_ATTEMPTS):
        shifted = False
        for page in source.collection_pages(username, start_page=run.pages_done + 1):
            if run.pages_done and page.items != run.releases_total:
                log.info("library %s: collection changed during listing (%s -> %s items): listing again",
                         run.library_id, run.releases_total, page.items)
                with engine.begin() as conn:
                    conn.execute(update(albums_t).where(albums_t.c.library_id == run.library_id,
                                                        albums_t.c.last_seen_run_id == run.id)
                                 .values(last_seen_run_id=None))  # what the stale listing saw does not count
                    run.save(conn, pages_done=0, releases_total=page.items)
                shifted = True
                break
            rows = [album_row(run.library_id, a, run_id=run.id) for a in page.albums]
            with engine.begin() as conn:
                upsert_albums(conn, rows)
                run.save(conn, pages_done=max(run.pages_done, page.page), pages_total=page.pages,
                         releases_total=page.items)
            run.report()
        if not shifted:
            with engine.begin() as conn:
                run.save(conn, stage="removals", pages_done=run.pages_total or run.pages_done)
            return
    log.warning("library %s: collection kept changing while listing; removals skipped this time", run.library_id)
    with engine.begin() as conn:
        run.save(conn, stage="releases", pages_done=run.pages_total or run.pages_done)


def _stage_removals(run: _Run) -> None:
    """Soft-delete Discogs albums (and their live tracks, same timestamp) not seen by this complete listing."""
    engine = get_engine()
    now = _now()
    with engine.begin() as conn:
        seen = conn.execute(select(func.count()).select_from(albums_t).where(
            albums_t.c.library_id == run.library_id, albums_t.c.last_seen_run_id == run.id)).scalar_one()
        if seen == 0:  # an empty listing is far likelier a glitch than a sold-off collection: keep everything
            log.warning("library %s: the collection listing came back empty; nothing soft-deleted", run.library_id)
            run.save(conn, stage="releases")
            return
        gone = conn.execute(
            update(albums_t)
            .where(albums_t.c.library_id == run.library_id, albums_t.c.release_id > 0,
                   albums_t.c.deleted_at.is_(None),
                   albums_t.c.last_seen_run_id.is_distinct_from(run.id))
            .values(deleted_at=now, updated_at=now)
            .returning(albums_t.c.id)
        ).scalars().all()
        if gone:
            conn.execute(
                update(tracks_t)
                .where(tracks_t.c.album_id.in_(gone), tracks_t.c.deleted_at.is_(None))
                .values(deleted_at=now)
            )
        run.save(conn, stage="releases", releases_removed=run.releases_removed + len(gone))
    run.report()


def _pending_albums(conn: Connection, run: _Run) -> list[tuple[int, int]]:
    """(album id, release id) still needing a tracklist, skipping releases that already failed in this run.

    In "refresh" mode every release is fetched again once per run (fetched_at before the run started).
    """
    a = albums_t
    failed_here = exists().where(raw_t.c.release_id == a.c.release_id, raw_t.c.error.is_not(None),
                                 raw_t.c.last_error_run_id == run.id)
    if run.mode == "refresh":
        todo = ~exists().where(raw_t.c.release_id == a.c.release_id, raw_t.c.data.is_not(None),
                               raw_t.c.fetched_at >= run.started_at)
    else:
        todo = ~exists().where(tracks_t.c.album_id == a.c.id)
    return [tuple(r) for r in conn.execute(
        select(a.c.id, a.c.release_id)
        .where(a.c.library_id == run.library_id, a.c.deleted_at.is_(None), a.c.release_id > 0,
               todo, ~failed_here)
        .order_by(a.c.id)
    )]


def _stage_releases(run: _Run, source: MetadataSource, *, batch_size: int, concurrency: int) -> None:
    engine = get_engine()
    with engine.begin() as conn:
        pending = _pending_albums(conn, run)
        total = conn.execute(
            select(func.count()).select_from(albums_t).where(
                albums_t.c.library_id == run.library_id, albums_t.c.deleted_at.is_(None), albums_t.c.release_id > 0)
        ).scalar_one()
        run.save(conn, releases_total=total, releases_done=max(0, total - len(pending)))
    run.report()
    pool = ThreadPoolExecutor(max_workers=concurrency) if concurrency > 1 else None
    try:
        for start in range(0, len(pending), batch_size):
            _process_batch(run, source, pending[start:start + batch_size], pool)
            run.report()
    finally:
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)


MALFORMED_RETRIES = 2  # a garbled release body is fetched again this many times in the same run
MALFORMED_BACKOFF_SECONDS = 0.5  # then 1.0 s: a truncated body is usually a one-off
_PARSE_ERRORS = (SourceError, KeyError, TypeError, ValueError, AttributeError)
Parsed = tuple[AlbumInfo, list[TrackInfo]]


def _parse(source: MetadataSource, release_id: int, data: dict[str, Any]) -> Parsed:
    album, tracks = source.parse_release(data)
    if album.release_id != release_id:
        raise MalformedResponse(f"release JSON is for release {album.release_id}")
    return album, tracks


def _fetch(source: MetadataSource, release_id: int) -> tuple[int, dict[str, Any] | None, Parsed | None, str | None]:
    """Fetch and parse one release. A malformed body (bad JSON, or JSON that does not parse as this release)
    is fetched again up to MALFORMED_RETRIES times with a short backoff before it counts as failed; other
    errors (404, retries exhausted in the client) fail at once; auth errors stop the sync."""
    sleep = getattr(source, "sleep", None) or time.sleep
    for attempt in range(MALFORMED_RETRIES + 1):
        try:
            data = source.fetch_release(release_id)
        except SourceAuthError:
            raise
        except MalformedResponse as exc:
            reason = exc.reason
        except SourceError as exc:
            return release_id, None, None, exc.reason
        else:
            try:
                return release_id, data, _parse(source, release_id, data), None
            except _PARSE_ERRORS as exc:
                reason = f"cannot parse release: {getattr(exc, 'reason', None) or exc}"
        if attempt < MALFORMED_RETRIES:
            log.warning("release %s: %s; fetching it again (%d of %d)", release_id, reason, attempt + 1,
                        MALFORMED_RETRIES)
            sleep(MALFORMED_BACKOFF_SECONDS * 2 ** attempt)
    return release_id, None, None, reason


def _process_batch(run: _Run, source: MetadataSource, batch: list[tuple[int, int]],
                   pool: ThreadPoolExecutor | None) -> None:
    engine = get_engine()
    release_ids = [rid for _, rid in batch]
    with engine.connect() as conn:
        cached = {} if run.mode == "refresh" else dict(conn.execute(
            select(raw_t.c.release_id, raw_t.c.data).where(raw_t.c.release_id.in_(release_ids),
                                                           raw_t.c.data.is_not(None))
        ).all())
    to_fetch = [rid for rid in dict.fromkeys(release_ids) if rid not in cached]
    if pool is not None and len(to_fetch) > 1:
        fetched = list(pool.map(lambda rid: _fetch(source, rid), to_fetch))
    else:
        fetched = [_fetch(source, rid) for rid in to_fetch]

    raw_ok: dict[int, dict[str, Any]] = dict(cached)
    fresh: dict[int, Parsed] = {}
    failures: dict[int, str] = {}
    new_raw: list[dict[str, Any]] = []
    for rid, data, parsed_release, reason in fetched:
        if data is None or parsed_release is None:
            failures[rid] = reason or "unknown error"
        else:
            raw_ok[rid] = data
            fresh[rid] = parsed_release
            new_raw.append({"release_id": rid, "data": data})
    parsed: list[tuple[int, AlbumInfo, list[TrackInfo]]] = []
    for album_id, rid in batch:
        if rid not in raw_ok:
            continue
        if rid in fresh:
            album, tracks = fresh[rid]
        else:
            try:
                album, tracks = _parse(source, rid, raw_ok[rid])
            except _PARSE_ERRORS as exc:
                failures[rid] = f"cannot parse release: {getattr(exc, 'reason', None) or exc}"
                continue
        parsed.append((album_id, album, tracks))

    with engine.begin() as conn:
        if new_raw:
            stmt = pg_insert(raw_t)
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=[raw_t.c.release_id],
                    set_={"data": stmt.excluded.data, "error": None, "fetched_at": func.now(),
                          "attempts": raw_t.c.attempts + 1},
                ),
                [{**r, "error": None, "attempts": 1, "fetched_at": _now()} for r in new_raw],
            )
        if failures:
            stmt = pg_insert(raw_t)
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=[raw_t.c.release_id],
                    set_={"error": stmt.excluded.error, "last_error_run_id": stmt.excluded.last_error_run_id,
                          "attempts": raw_t.c.attempts + 1},
                ),
                [{"release_id": rid, "error": reason[:2000], "last_error_run_id": run.id,
                  "attempts": 1} for rid, reason in failures.items()],
            )
        apply_releases(conn, run.library_id, parsed, remove_stale=run.mode == "refresh")
        kept = list(run.failures or [])
        for rid, reason in failures.items():
            if len(kept) < MAX_FAILURES_KEPT:
                kept.append({"release_id": rid, "reason": reason[:500]})
        run.save(
            conn,
            releases_done=run.releases_done + len(batch),
            releases_fetched=run.releases_fetched + len(to_fetch),
            releases_failed=run.releases_failed + len(failures),
            failures=kept,
        )


def reparse_library(*, library_id: int, source: MetadataSource | None = None, batch_size: int = 200) -> int:
    """Rebuild every album's tracks from stored raw JSON (no network). Returns tracks written."""
    from services.domain.sources.discogs import parse_release

    parse = source.parse_release if source is not None else parse_release
    engine = get_engine()
    with engine.connect() as conn:
        pairs = conn.execute(
            select(albums_t.c.id, raw_t.c.data)
            .join(raw_t, and_(raw_t.c.release_id == albums_t.c.release_id, raw_t.c.data.is_not(None)))
            .where(albums_t.c.library_id == library_id, albums_t.c.deleted_at.is_(None))
            .order_by(albums_t.c.id)
        ).all()
    written = 0
    for start in range(0, len(pairs), batch_size):
        parsed = []
        for album_id, data in pairs[start:start + batch_size]:
            try:
                album, tracks = parse(data)
            except (SourceError, KeyError, TypeError, ValueError, AttributeError) as exc:
                log.warning("library %s: album %s: cannot re-parse stored release: %s", library_id, album_id, exc)
                continue
            parsed.append((album_id, album, tracks))
        with engine.begin() as conn:
            written += apply_releases(conn, library_id, parsed, remove_stale=True)
    return written
