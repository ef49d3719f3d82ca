"""New releases from the artists of a library: an optional Discogs check (off by default).

The artists are the Discogs artist ids of the library's releases, read from the stored raw release JSON
(`discogs_releases`, so no extra request); "Various" and unknown artists are left out. For each artist,
`GET /artists/{id}/releases?sort=year&sort_order=desc` (through `DiscogsClient`: pacing, 429 and 5xx
retries) is read newest first until the year reaches the newest year the library holds of that artist.
Recorded (table `new_releases`) are the artist's own releases and masters ("Main" role) of a later year
that the library does not hold: not the same release, not a pressing of a master it holds, not a title
it already has of that artist. A finding the library gets later (a sync) is dropped by the next check.

A check uses the owner's Discogs token, or the server's for an admin: the rule of the syncs
(`accounts/discogs_tokens.discogs_token_for`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import delete, func, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from services.common.models import Album, DiscogsRelease, Library, NewRelease, User
from services.domain.access import owned_library, readable_library
from services.domain.accounts.discogs_tokens import discogs_token_for
from services.domain.errors import Refused
from services.domain.sources.base import SourceAuthError, SourceError, SourceNotFound
from services.domain.sources.discogs.client import DiscogsClient
from services.domain.sources.discogs.parse import clean_name, parse_year

log = logging.getLogger(__name__)

NOT_ARTISTS = {0, 194, 355}  # no id, "Various", "Unknown Artist"
PER_PAGE = 100
MAX_PAGES = 3  # per artist: newest first, so the first page is nearly always enough
LAST_CHECK_SETTING = "new_releases_last_check"  # the library's settings: the last check's summary
NEEDS_TOKEN = ("checking Discogs for new releases needs your own Discogs token (Settings → Discogs token); only "
               "an admin may use the server's DISCOGS_USER_TOKEN")


@dataclass
class LibraryArtist:
    """What the library holds of one Discogs artist."""

    id: int
    name: str
    latest_year: int | None = None
    titles: set[str] = field(default_factory=set)


@dataclass
class Holdings:
    """The releases, masters and artists of a library (live albums with stored release JSON)."""

    release_ids: set[int]
    master_ids: set[int]
    artists: dict[int, LibraryArtist]


class NewReleaseOut(BaseModel):
    id: int
    artist_id: int
    artist: str
    kind: str = Field(description='"release" or "master"')
    discogs_id: int
    title: str
    year: int | None
    format: str | None = None
    label: str | None = None
    thumbnail: str | None = None
    url: str
    found_at: datetime


class CheckSummary(BaseModel):
    checked_at: datetime
    artists: int = Field(0, description="artists looked up on Discogs")
    skipped: int = Field(0, description="artists without a year in the library (nothing to compare with)")
    found: int = Field(0, description="new findings recorded by this check")
    removed: int = Field(0, description="findings dropped because the library has them now")
    failed: list[dict[str, Any]] = Field(default_factory=list, description="artists whose lookup failed, why")


class NewReleases(BaseModel):
    library_id: int
    items: list[NewReleaseOut]
    last_check: CheckSummary | None = None
    job_id: str | None = Field(None, description="the check queued or running for this library, if any")


def _fold(title: str | None) -> str:
    return " ".join((title or "").casefold().split())


def library_holdings(*, session: Session, library_id: int) -> Holdings:
    """The library's release ids, master ids and artists (ids from the stored raw release JSON)."""
    rows = session.execute(
        select(Album.release_id, Album.year, Album.title, DiscogsRelease.data["artists"],
               DiscogsRelease.data["master_id"], DiscogsRelease.data["year"])
        .join(DiscogsRelease, DiscogsRelease.release_id == Album.release_id, isouter=True)
        .where(Album.library_id == library_id, Album.deleted_at.is_(None)))
    holdings = Holdings(release_ids=set(), master_ids=set(), artists={})
    for release_id, album_year, title, artists, master_id, raw_year in rows:
        holdings.release_ids.add(int(release_id))
        if isinstance(master_id, int) and master_id > 0:
            holdings.master_ids.add(master_id)
        year = album_year or parse_year(raw_year)
        for credit in artists if isinstance(artists, list) else []:
            artist_id = credit.get("id") if isinstance(credit, dict) else None
            if not isinstance(artist_id, int) or artist_id in NOT_ARTISTS:
                continue
            artist = holdings.artists.setdefault(artist_id, LibraryArtist(id=artist_id,
                                                                          name=clean_name(credit.get("name"))))
            if year and (artist.latest_year is None or year > artist.latest_year):
                artist.latest_year = year
            artist.titles.add(_fold(title))
    return holdings


def _finding(library_id: int, artist: LibraryArtist, item: dict[str, Any]) -> dict[str, Any]:
    kind = "master" if item.get("type") == "master" else "release"
    discogs_id = int(item["id"])
    return {"library_id": library_id, "artist_id": artist.id,
            "artist_name": clean_name(item.get("artist")) or artist.name, "kind": kind, "discogs_id": discogs_id,
            "title": str(item.get("title") or "")[:500], "year": parse_year(item.get("year")),
            "format": item.get("format") or None, "label": item.get("label") or None,
            "thumbnail": item.get("thumb") or None, "url": f"https://www.discogs.com/{kind}/{discogs_id}"}


def _is_held(item: dict[str, Any], artist: LibraryArtist, holdings: Holdings) -> bool:
    item_id = int(item["id"])
    if item.get("type") == "master":
        main = item.get("main_release")
        if item_id in holdings.master_ids or (isinstance(main, int) and main in holdings.release_ids):
            return True
    elif item_id in holdings.release_ids:
        return True
    return _fold(item.get("title")) in artist.titles


def artist_findings(*, client: DiscogsClient, library_id: int, artist: LibraryArtist,
                    holdings: Holdings) -> list[dict[str, Any]]:
    """The artist's releases newer than `artist.latest_year` that the library does not hold (rows to store)."""
    assert artist.latest_year is not None
    found: dict[tuple[str, int], dict[str, Any]] = {}
    for page in range(1, MAX_PAGES + 1):
        data = client.artist_releases(artist.id, page=page, per_page=PER_PAGE)
        items = data.get("releases") if isinstance(data.get("releases"), list) else []
        reached_held_years = False
        for item in items:
            if not isinstance(item, dict) or not isinstance(item.get("id"), int):
                continue
            year = parse_year(item.get("year"))
            if year is None:
                continue  # undated: cannot be said to be newer
            if year <= artist.latest_year:
                reached_held_years = True
                break
            if (item.get("role") or "Main") != "Main" or _is_held(item, artist, holdings):
                continue
            row = _finding(library_id, artist, item)
            found.setdefault((row["kind"], row["discogs_id"]), row)
        pagination = data.get("pagination") if isinstance(data.get("pagination"), dict) else {}
        if reached_held_years or not items or page >= int(pagination.get("pages") or 1):
            break
    return list(found.values())


def _store(session: Session, rows: list[dict[str, Any]]) -> int:
    if not rows:
        return 0
    stmt = insert(NewRelease).values(rows).on_conflict_do_nothing(constraint="uq_new_release_library_kind_id")
    return len(session.execute(stmt.returning(NewRelease.id)).all())


def _drop_held(session: Session, *, library_id: int, holdings: Holdings) -> int:
    """Findings the library holds now (bought and synced since)."""
    held = or_(
        (NewRelease.kind == "release") & NewRelease.discogs_id.in_(holdings.release_ids or {-1}),
        (NewRelease.kind == "master") & NewRelease.discogs_id.in_(holdings.master_ids or {-1}),
    )
    return session.execute(delete(NewRelease).where(NewRelease.library_id == library_id, held)).rowcount or 0


def check_library(*, session: Session, library_id: int, client: DiscogsClient,
                  progress: Callable[[int, int], None] | None = None) -> CheckSummary:
    """Look up every artist of the library on Discogs and record what is new (committed per artist, so a
    killed check keeps its findings). A refused token (401/403) stops the check; other lookups that fail
    are listed in `failed` and the check goes on."""
    holdings = library_holdings(session=session, library_id=library_id)
    summary = CheckSummary(checked_at=datetime.now(UTC))
    summary.removed = _drop_held(session, library_id=library_id, holdings=holdings)
    session.commit()
    artists = sorted(holdings.artists.values(), key=lambda a: a.id)
    for done, artist in enumerate(artists, 1):
        if artist.latest_year is None:
            summary.skipped += 1
        else:
            try:
                rows = artist_findings(client=client, library_id=library_id, artist=artist, holdings=holdings)
            except SourceAuthError:
                raise
            except SourceNotFound:
                rows = []  # an artist merged or removed on Discogs
            except SourceError as exc:
                log.warning("new releases: artist %s: %s", artist.id, exc)
                summary.failed.append({"artist_id": artist.id, "artist": artist.name, "reason": str(exc)[:300]})
                rows = []
            summary.artists += 1
            summary.found += _store(session, rows)
            session.commit()
        if progress:
            progress(done, len(artists))
    return summary


def record_check(*, session: Session, library_id: int, summary: CheckSummary) -> None:
    """Keep the summary of the library's last check in its settings (shown with the findings)."""
    from services.domain.libraries.service import update_settings

    library = session.get(Library, library_id)
    if library is not None:
        update_settings(library=library, changes={LAST_CHECK_SETTING: summary.model_dump(mode="json")})
        session.commit()


def token_for_library(*, session: Session, library: Library) -> str | None:
    """The token a check of this library runs with (the syncs' rule): the owner's, or the server's for an admin."""
    owner = session.get(User, library.owner_id)
    return discogs_token_for(owner) if owner is not None else None


def can_check(*, user: User, library: Library) -> bool:
    """Whether the user may start a check of the library (the owner, with a Discogs token to use)."""
    from services.domain.access import owns

    return owns(user, library) and discogs_token_for(user) is not None


def require_checkable(*, session: Session, user: User, library_id: int) -> Library:
    """The library if the user may start a check of it: they own it, and a Discogs token is available."""
    library = owned_library(session=session, user=user, library_id=library_id)
    if discogs_token_for(user) is None:
        raise Refused(NEEDS_TOKEN, code="discogs_token_missing")
    return library


def list_new_releases(*, session: Session, user: User, library_id: int, limit: int = 200,
                      job_id: str | None = None) -> NewReleases:
    """The library's findings, newest year first (readers of the library may see them)."""
    library = readable_library(session=session, user=user, library_id=library_id)
    rows = session.scalars(select(NewRelease).where(NewRelease.library_id == library.id)
                           .order_by(NewRelease.year.desc().nulls_last(), NewRelease.artist_name, NewRelease.id)
                           .limit(limit))
    items = [NewReleaseOut(id=r.id, artist_id=r.artist_id, artist=r.artist_name, kind=r.kind, discogs_id=r.discogs_id,
                           title=r.title, year=r.year, format=r.format, label=r.label, thumbnail=r.thumbnail,
                           url=r.url, found_at=r.found_at) for r in rows]
    raw = (library.settings or {}).get(LAST_CHECK_SETTING)
    last = CheckSummary.model_validate(raw) if isinstance(raw, dict) else None
    return NewReleases(library_id=library.id, items=items, last_check=last, job_id=job_id)


def count_new_releases(*, session: Session, library_id: int) -> int:
    return session.scalar(select(func.count()).select_from(NewRelease).where(NewRelease.library_id == library_id)) or 0


def checkable_library_ids(*, session: Session) -> list[int]:
    """Own libraries (not friends' imports) holding Discogs releases: what the scheduled check goes through."""
    held = select(Album.library_id).where(Album.deleted_at.is_(None))
    return list(session.scalars(select(Library.id).where(Library.is_friend.is_(False), Library.id.in_(held))
                                .order_by(Library.id)))


# --- the entry points of the API, the browser and the CLI ----------------------------------------------


def _live_job_id(library_id: int) -> str | None:
    from redis.exceptions import RedisError

    from services.domain.new_releases.jobs import current_job_id

    try:
        return current_job_id(library_id)
    except RedisError:
        return None  # the findings are in Postgres: a Redis outage only hides the running check


def new_releases(*, session: Session, user: User, library_id: int, limit: int = 200) -> NewReleases:
    """The library's findings, its last check, and the check running now (if any)."""
    result = list_new_releases(session=session, user=user, library_id=library_id, limit=limit)
    result.job_id = _live_job_id(library_id)
    return result


def start_check(*, session: Session, user: User, library_id: int) -> NewReleases:
    """Queue a check of the library (or find the one queued or running). Owners only, with a Discogs token."""
    from services.domain import jobs as queue
    from services.domain.new_releases.jobs import enqueue_check

    library = require_checkable(session=session, user=user, library_id=library_id)
    with queue.queue_errors():
        job, _ = enqueue_check(library_id=library.id, user_id=user.id)
    result = list_new_releases(session=session, user=user, library_id=library.id)
    result.job_id = job.id
    return result


def check_now(*, session: Session, user: User, library_id: int,
              progress: Callable[[int, int], None] | None = None) -> CheckSummary:
    """Run a check here, without the queue (the CLI): same rule, same token, same findings."""
    from services.common.settings import get_settings

    library = require_checkable(session=session, user=user, library_id=library_id)
    client = DiscogsClient.from_settings(get_settings(), token=discogs_token_for(user))
    try:
        summary = check_library(session=session, library_id=library.id, client=client, progress=progress)
    except SourceAuthError as exc:
        raise Refused(f"Discogs refused the token: {exc}", code="discogs_token_refused") from None
    finally:
        client.close()
    record_check(session=session, library_id=library.id, summary=summary)
    return summary
