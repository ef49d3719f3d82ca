"""Vinyl spin logging: a session of sides or tracks played, history and top tracks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from services.common.models import Album, Spin, SpinSession, Track, User
from services.domain.access import visible_library_ids
from services.domain.errors import Invalid, NotFound

EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
FUTURE_SLACK = timedelta(days=1)  # clocks and time zones differ; a spin is never logged further ahead


def play_time(value: datetime | None, *, field: str, now: datetime | None = None) -> datetime | None:
    """A spin's time in UTC (naive = UTC); Invalid, naming the field, before 1900 or more than a day ahead."""
    if value is None:
        return None
    now = now or datetime.now(UTC)
    try:
        utc = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    except (OverflowError, ValueError):
        utc = None
    if utc is None or not EARLIEST <= utc <= now + FUTURE_SLACK:
        raise Invalid(f"{field} {value.isoformat()} is out of range: not before 1900, at most a day from now",
                      code="invalid_date")
    return utc


def side_of(position: str | None) -> str:
    """The side a position is on: its leading letters, upper case ("a2" -> "A", "AA1" -> "AA", "3" -> "")."""
    prefix = ""
    for ch in (position or "").upper():
        if not ch.isalpha():
            break
        prefix += ch
    return prefix


def sides(tracks: list[Track]) -> list[str]:
    """The sides of a record, in tracklist order (none when positions are plain numbers)."""
    return list(dict.fromkeys(s for t in tracks if t.deleted_at is None and (s := side_of(t.position))))


def _side_tracks(session: Session, album: Album, side: str) -> list[Track]:
    """Tracks of one side: positions starting with the side letter(s), e.g. "A" -> A1, A2 (not AA)."""
    side = side.strip().upper()
    tracks = session.scalars(
        select(Track).where(Track.album_id == album.id, Track.deleted_at.is_(None)).order_by(Track.id)
    ).all()
    return [t for t in tracks if side_of(t.position) == side]


def log_session(*, session: Session, user: User, items: list[dict[str, Any]], started_at: datetime | None,
                notes: str | None) -> SpinSession:
    """items: {"album_id", "side"} (every track of that side) or {"track_pk"} (one track), in play order."""
    now = datetime.now(UTC)
    started_at = play_time(started_at, field="started_at", now=now)
    played = [play_time(item.get("played_at"), field=f"items[{n}].played_at", now=now)
              for n, item in enumerate(items)]
    visible = visible_library_ids(user)
    spin_session = SpinSession(user_id=user.id, started_at=started_at or now, notes=notes)
    session.add(spin_session)
    played_at = spin_session.started_at
    for n, item in enumerate(items, start=1):
        item = {**item, "played_at": played[n - 1]}
        if item.get("track_pk") is not None:
            track = session.scalar(select(Track).where(Track.id == item["track_pk"], Track.library_id.in_(visible),
                                                       Track.deleted_at.is_(None)))
            if track is None:
                raise NotFound(f"item {n}: track {item['track_pk']} not found")
            spin_session.spins.append(Spin(user_id=user.id, album_id=track.album_id, track_pk=track.id,
                                           side=None, played_at=item.get("played_at") or played_at))
            continue
        album = session.scalar(select(Album).where(Album.id == item["album_id"], Album.library_id.in_(visible)))
        if album is None:
            raise NotFound(f"item {n}: album {item['album_id']} not found")
        side = (item.get("side") or "").strip().upper()
        tracks = _side_tracks(session, album, side)
        if not tracks:
            raise Invalid(f"item {n}: album {album.id} has no tracks on side {side!r}")
        for t in tracks:
            spin_session.spins.append(Spin(user_id=user.id, album_id=album.id, track_pk=t.id, side=side,
                                           played_at=item.get("played_at") or played_at))
    session.flush()
    return spin_session


def history(*, session: Session, user: User, limit: int, offset: int) -> tuple[list[SpinSession], int]:
    total = session.scalar(select(func.count()).select_from(SpinSession).where(SpinSession.user_id == user.id)) or 0
    rows = session.scalars(
        select(SpinSession).where(SpinSession.user_id == user.id)
        .options(selectinload(SpinSession.spins))
        .order_by(SpinSession.started_at.desc(), SpinSession.id.desc()).limit(limit).offset(offset)
    ).all()
    return list(rows), total


def track_plays(*, session: Session, user: User, track_pk: int) -> tuple[int, datetime | None]:
    """How often the user logged this track, and when last."""
    count, last = session.execute(select(func.count(Spin.id), func.max(Spin.played_at))
                                  .where(Spin.user_id == user.id, Spin.track_pk == track_pk)).one()
    return int(count or 0), last


def history_tracks(*, session: Session, user: User, sessions: list[SpinSession]) -> dict[int, Track]:
    """The tracks the spins of these sessions point at, by primary key (those still visible)."""
    pks = {s.track_pk for ss in sessions for s in ss.spins if s.track_pk is not None}
    if not pks:
        return {}
    rows = session.scalars(select(Track).where(Track.id.in_(pks), Track.library_id.in_(visible_library_ids(user))))
    return {t.id: t for t in rows}


def top_tracks(*, session: Session, user: User, limit: int, since: datetime | None = None) -> list[tuple[Track, int]]:
    count = func.count(Spin.id).label("plays")
    stmt = (select(Track, count).join(Spin, Spin.track_pk == Track.id)
            .where(Spin.user_id == user.id, Track.library_id.in_(visible_library_ids(user))))
    if since is not None:
        stmt = stmt.where(Spin.played_at >= since)
    rows = session.execute(stmt.group_by(Track.id).order_by(count.desc(), Track.id).limit(limit)).all()
    return [(t, n) for t, n in rows]


def delete_session(*, session: Session, user: User, session_id: int) -> None:
    spin_session = session.scalar(select(SpinSession).where(SpinSession.id == session_id,
                                                            SpinSession.user_id == user.id))
    if spin_session is None:
        raise NotFound("spin session not found")
    session.delete(spin_session)
