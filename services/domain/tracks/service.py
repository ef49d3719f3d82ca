"""Tracks: look-up by primary key, edits of the user's own fields, soft delete and restore."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from services.common.models import Album, DiscogsRelease, Track, User
from services.domain.access import visible_library_ids, visible_row, writable_library
from services.domain.errors import Conflict, Invalid, NotFound, Refused
from services.domain.sources.discogs.parse import parse_duration

# Which sites each platform link may point to.
URL_HOSTS = {
    "apple_music_url": ("apple.com",),
    "spotify_url": ("spotify.com",),
    "youtube_url": ("youtube.com", "youtu.be"),
    "soundcloud_url": ("soundcloud.com",),
}
URL_LABELS = {"apple_music_url": "Apple Music", "spotify_url": "Spotify", "youtube_url": "YouTube",
              "soundcloud_url": "SoundCloud"}
# The track's identity: from Discogs when the release has a tracklist there, else the user's to edit.
IDENTITY_FIELDS = ("title", "artist", "position", "duration_seconds")
USER_FIELDS = ("notes", "tags", "star_rating", *URL_HOSTS)
DURATION_PATTERN = re.compile(r"^\d{1,2}(:\d{1,2}){1,2}$")
TITLE_MAX, ARTIST_MAX, POSITION_MAX, NOTES_MAX, TAG_MAX, TAGS_MAX, URL_MAX = 500, 500, 32, 10000, 64, 50, 2000


def get_track(*, session: Session, user: User, track_pk: int) -> Track:
    return visible_row(session=session, user=user, model=Track, row_id=track_pk, what="track")


def writable_track(*, session: Session, user: User, track_pk: int, live: bool = True) -> Track:
    """A track the user may change; `live`: refuse a soft-deleted one."""
    track = get_track(session=session, user=user, track_pk=track_pk)
    writable_library(session=session, user=user, library_id=track.library_id)
    if live and track.deleted_at is not None:
        raise Conflict("track is deleted: restore it first", code="track_deleted")
    return track


def clean_tags(tags: list[str] | None) -> list[str]:
    """Tags as stored: trimmed, blanks dropped, duplicates removed (first spelling kept), at most 50 of 64 chars."""
    cleaned = list(dict.fromkeys(t.strip() for t in (tags or []) if t and t.strip()))
    if len(cleaned) > TAGS_MAX:
        raise Invalid(f"tags: at most {TAGS_MAX}", code="bad_tags")
    too_long = next((t for t in cleaned if len(t) > TAG_MAX), None)
    if too_long is not None:
        raise Invalid(f"tags: {too_long[:20]!r}... is longer than {TAG_MAX} characters", code="bad_tags")
    return cleaned


def clean_platform_url(field: str, value: str | None) -> str | None:
    """A platform link: empty clears it; else an http(s) URL on that platform's site."""
    value = (value or "").strip()
    if not value:
        return None
    label = URL_LABELS[field]
    if len(value) > URL_MAX:
        raise Invalid(f"{label} link: at most {URL_MAX} characters", code="bad_url")
    parts = urlsplit(value)
    host = (parts.hostname or "").lower() if parts.scheme in ("http", "https") else ""
    if not host:
        raise Invalid(f"{label} link: must be an http(s) URL", code="bad_url")
    allowed = URL_HOSTS[field]
    if not any(host == h or host.endswith("." + h) for h in allowed):
        raise Invalid(f"{label} link: must be a link to {' or '.join(allowed)}", code="bad_url")
    return value


def parse_typed_duration(value: str | float | None, *, what: str = "duration") -> float | None:
    """A length typed by a person: "m:ss" or "h:mm:ss" (or seconds); empty is unknown. Invalid otherwise."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, str):
        text = value.strip()
        seconds = parse_duration(text) if DURATION_PATTERN.match(text) else None
        if seconds is None:
            raise Invalid(f"{what} {text!r} is not m:ss (or h:mm:ss)", code="bad_duration")
        return seconds
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 86400:
        raise Invalid(f"{what} must be m:ss or a number of seconds", code="bad_duration")
    return float(value)


def _text(value: Any, key: str, limit: int, *, required: bool = False) -> str | None:
    value = value.strip() if isinstance(value, str) else value
    if value is not None and not isinstance(value, str):
        raise Invalid(f"{key}: must be text", code="bad_value")
    if not value:
        if required:
            raise Invalid(f"{key}: cannot be empty", code="bad_value")
        return None
    if len(value) > limit:
        raise Invalid(f"{key}: at most {limit} characters", code="bad_value")
    return value


def clean_track_changes(changes: dict[str, Any]) -> dict[str, Any]:
    """Validate and normalise edits (the API, the UI and the CLI share this); Invalid names the field."""
    unknown = sorted(set(changes) - set(IDENTITY_FIELDS) - set(USER_FIELDS))
    if unknown:
        raise Invalid(f"cannot edit {', '.join(unknown)}", code="bad_field")
    out: dict[str, Any] = {}
    for key, value in changes.items():
        if key == "title":
            out[key] = _text(value, key, TITLE_MAX, required=True)
        elif key == "position":
            out[key] = _text(value, key, POSITION_MAX, required=True)
        elif key == "artist":
            out[key] = _text(value, key, ARTIST_MAX)
        elif key == "notes":
            out[key] = _text(value, key, NOTES_MAX)
        elif key == "duration_seconds":
            out[key] = parse_typed_duration(value)
        elif key == "tags":
            out[key] = clean_tags(value)
        elif key == "star_rating":
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 5):
                raise Invalid("rating: a whole number from 0 to 5", code="bad_rating")
            out[key] = value
        else:
            out[key] = clean_platform_url(key, value)
    return out


def identity_from_discogs(*, session: Session, track: Track) -> bool:
    """True when the track's release has a Discogs tracklist: a sync owns its title, artist and position."""
    if not track.release_id or track.release_id <= 0:
        return False
    return bool(session.scalar(select(exists().where(DiscogsRelease.release_id == track.release_id,
                                                     DiscogsRelease.data.is_not(None)))))


def discogs_page(*, session: Session, track: Track) -> str | None:
    """The Discogs page of the record the track is on (None for records made by hand)."""
    if track.album_id is None:
        return None
    return session.scalar(select(Album.discogs_url).where(Album.id == track.album_id))


def update_track(*, session: Session, user: User, track_pk: int, changes: dict[str, Any]) -> Track:
    """Apply edits: the user's own fields (notes, tags, rating, links; `tags: None` clears the tags), and
    title/artist/position of tracks not from a Discogs tracklist (records made by hand, CSV imports)."""
    track = writable_track(session=session, user=user, track_pk=track_pk)
    changes = clean_track_changes(changes)
    identity = {k: v for k, v in changes.items() if k in IDENTITY_FIELDS and v != getattr(track, k)}
    if identity and identity_from_discogs(session=session, track=track):
        raise Refused(f"{', '.join(identity)} of this track come from its Discogs tracklist and a sync would "
                      "overwrite them; edit notes, tags, rating and links instead", code="from_discogs")
    if "position" in identity:
        _move_position(session, track, identity["position"])
    for key, value in changes.items():
        if key in URL_HOSTS and value != getattr(track, key):  # set (or cleared) by hand: enrichment keeps off
            track.link_origins = {**(track.link_origins or {}), key: "manual"}
        setattr(track, key, value)
    session.flush()
    from services.domain.embeddings.jobs import embed_soon

    embed_soon(track_pks=[track.id])  # re-embedded in the background when its text changed
    return track


def _move_position(session: Session, track: Track, position: str) -> None:
    """A new position renames the track's "<releaseId>-<position>" id (unique per library)."""
    if track.release_id is None:
        return
    track_id = f"{track.release_id}-{position}"
    taken = session.scalar(select(Track).where(Track.library_id == track.library_id, Track.track_id == track_id,
                                               Track.id != track.id))
    if taken is not None:
        hint = " by a deleted track (restore it, or pick another position)" if taken.deleted_at else ""
        raise Conflict(f"position {position} is already used on this record{hint}", code="position_taken")
    track.track_id = track_id


def set_track_deleted(*, session: Session, user: User, track_pk: int, deleted: bool) -> Track:
    track = writable_track(session=session, user=user, track_pk=track_pk, live=False)
    track.deleted_at = datetime.now(UTC) if deleted else None
    session.flush()
    return track


def tracks_by_ids(*, session: Session, user: User, ids: list[int], include_deleted: bool = False) -> list[Track]:
    """Visible tracks in the order asked; ids not visible (or unknown) are left out."""
    found = _visible(session, user, ids, include_deleted=include_deleted)
    return [found[i] for i in dict.fromkeys(ids) if i in found]


def require_tracks(*, session: Session, user: User, track_pks: list[int]) -> dict[int, Track]:
    """Live tracks by primary key that the user may see; NotFound naming the first one that is not."""
    found = _visible(session, user, track_pks, include_deleted=False)
    missing = [pk for pk in track_pks if pk not in found]
    if missing:
        raise NotFound(f"track {missing[0]} not found")
    return found


def _visible(session: Session, user: User, ids: list[int], *, include_deleted: bool) -> dict[int, Track]:
    if not ids:
        return {}
    stmt = select(Track).where(Track.id.in_(set(ids)), Track.library_id.in_(visible_library_ids(user)))
    if not include_deleted:
        stmt = stmt.where(Track.deleted_at.is_(None))
    return {t.id: t for t in session.scalars(stmt)}
