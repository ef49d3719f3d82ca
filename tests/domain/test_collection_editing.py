"""Editing a collection by hand (domain): rename a library, follow a friend only with a token, type in a
tracklist, edit a track's fields (identity only off Discogs tracklists), sides of a record for spins."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from services.common.models import Album, DiscogsRelease, Library, LibraryShare, Track, User
from services.common.settings import get_settings
from services.domain.collection.albums import add_album_tracks, create_manual_album, has_discogs_tracklist
from services.domain.errors import Conflict, Forbidden, Invalid, NotFound, Refused
from services.domain.libraries.service import follow_friend, rename_library
from services.domain.spins.service import side_of, sides
from services.domain.tracks.service import clean_track_changes, update_track


@pytest.fixture
def no_token(monkeypatch):
    monkeypatch.delenv("DISCOGS_USER_TOKEN", raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def crate(owner_library):
    user, library = owner_library
    return user, library


def _album(session, user, library, **kw) -> Album:
    return create_manual_album(session=session, user=user, library_id=library.id, title=kw.get("title", "T"),
                               artist=kw.get("artist", "Artist"), year=None, label=None, catalog_number=None,
                               format=None, genres=[], styles=[], notes=None, tracks=kw.get("tracks", []))


def test_rename_library_trims_checks_and_needs_ownership(db_session, crate):
    user, library = crate
    assert rename_library(session=db_session, user=user, library_id=library.id, name="  Dub  ").name == "Dub"
    with pytest.raises(Invalid, match="needs a name"):
        rename_library(session=db_session, user=user, library_id=library.id, name=" ")
    with pytest.raises(Invalid, match="at most 200"):
        rename_library(session=db_session, user=user, library_id=library.id, name="x" * 201)
    bob, carol = User(username="bob", password_hash="x"), User(username="carol", password_hash="x")
    db_session.add_all([bob, carol])
    db_session.flush()
    db_session.add(LibraryShare(library_id=library.id, user_id=bob.id))
    db_session.flush()
    with pytest.raises(Forbidden):
        rename_library(session=db_session, user=bob, library_id=library.id, name="Mine now")
    with pytest.raises(NotFound):
        rename_library(session=db_session, user=carol, library_id=library.id, name="Mine now")


def test_follow_friend_needs_a_token_and_is_named_once(db_session, crate, no_token, monkeypatch):
    user, _ = crate
    user.is_admin = True  # the server's DISCOGS_USER_TOKEN is the admin's (others set their own)
    with pytest.raises(Refused, match="needs a Discogs token: set DISCOGS_USER_TOKEN") as refused:
        follow_friend(session=db_session, user=user, username="pal")
    assert refused.value.code == "discogs_token_missing"
    assert db_session.scalar(select(Library).where(Library.is_friend.is_(True))) is None
    monkeypatch.setenv("DISCOGS_USER_TOKEN", "t0ken")
    get_settings.cache_clear()
    friend = follow_friend(session=db_session, user=user, username=" pal ")
    assert (friend.name, friend.discogs_username, friend.is_friend) == ("pal's collection", "pal", True)


def test_typed_in_tracklist_defaults_refusals_and_revival(db_session, crate):
    user, library = crate
    album = _album(db_session, user, library, artist="Moodymann")
    added = add_album_tracks(session=db_session, user=user, album_id=album.id, rows=True, tracks=[
        {"position": "A1", "title": " Untitled ", "artist": "", "duration": "6:12"},
        {"position": "", "title": "", "artist": "", "duration": ""},  # an empty row: skipped
        {"position": "", "title": "Second", "artist": "Guest", "duration": "1:02:03"},
    ])
    assert [(t.position, t.title, t.artist, t.duration_seconds) for t in added] == [
        ("A1", "Untitled", "Moodymann", 372.0), ("2", "Second", "Guest", 3723.0)]
    assert added[0].track_id == f"{album.release_id}-A1" and added[0].album == album.title
    with pytest.raises(Invalid, match=r"^row 1: position A1 is already on this record$"):
        add_album_tracks(session=db_session, user=user, album_id=album.id, rows=True,
                         tracks=[{"position": "A1", "title": "Again"}])
    with pytest.raises(Invalid, match=r"^track 1: duration '61' is not m:ss"):
        add_album_tracks(session=db_session, user=user, album_id=album.id, tracks=[{"title": "X", "duration": "61"}])
    with pytest.raises(Invalid, match="at least one track"):
        add_album_tracks(session=db_session, user=user, album_id=album.id, tracks=[], rows=True)
    # A deleted track's position can be typed again: the same row comes back, with the new values.
    update_track(session=db_session, user=user, track_pk=added[0].id, changes={"notes": "kept"})
    added[0].deleted_at = added[0].created_at
    db_session.flush()
    again = add_album_tracks(session=db_session, user=user, album_id=album.id,
                             tracks=[{"position": "A1", "title": "New"}])
    assert again[0].id == added[0].id and again[0].deleted_at is None and again[0].title == "New"
    assert again[0].notes == "kept"
    # A friend's library is read-only.
    friend = Library(owner_id=user.id, name="pal's collection", discogs_username="pal", is_friend=True)
    db_session.add(friend)
    db_session.flush()
    friend_album = Album(library_id=friend.id, release_id=5, title="F", artist="F")
    db_session.add(friend_album)
    db_session.flush()
    with pytest.raises(Forbidden):
        add_album_tracks(session=db_session, user=user, album_id=friend_album.id, tracks=[{"title": "x"}])


def test_track_identity_is_editable_off_discogs_only(db_session, crate):
    user, library = crate
    csv_album = Album(library_id=library.id, release_id=77, title="From CSV", artist="A")
    db_session.add(csv_album)
    db_session.flush()
    a1, a2 = add_album_tracks(session=db_session, user=user, album_id=csv_album.id,
                              tracks=[{"position": "A1", "title": "One"}, {"position": "A2", "title": "Two"}])
    track = update_track(session=db_session, user=user, track_pk=a1.id,
                         changes={"title": "Uno", "position": "B1", "duration_seconds": "4:00"})
    assert (track.title, track.position, track.track_id, track.duration_seconds) == ("Uno", "B1", "77-B1", 240.0)
    with pytest.raises(Conflict, match="position A2 is already used"):
        update_track(session=db_session, user=user, track_pk=a1.id, changes={"position": "A2"})
    # Once Discogs has the release's tracklist, a sync owns title/artist/position: refused, notes still fine.
    db_session.add(DiscogsRelease(release_id=77, data={"id": 77, "tracklist": []}))
    db_session.flush()
    assert has_discogs_tracklist(session=db_session, album=csv_album)
    with pytest.raises(Refused, match="title of this track come from its Discogs tracklist"):
        update_track(session=db_session, user=user, track_pk=a2.id, changes={"title": "Dos"})
    same = update_track(session=db_session, user=user, track_pk=a2.id, changes={"title": "Two", "notes": "ok"})
    assert same.notes == "ok"
    assert db_session.scalar(select(Track.title).where(Track.id == a2.id)) == "Two"


@pytest.mark.parametrize(("changes", "message"), [
    ({"bpm": 120}, "cannot edit bpm"),
    ({"star_rating": 6}, "rating: a whole number from 0 to 5"),
    ({"star_rating": True}, "rating: a whole number from 0 to 5"),
    ({"tags": ["x" * 65]}, "longer than 64"),
    ({"tags": [f"t{n}" for n in range(51)]}, "tags: at most 50"),
    ({"youtube_url": "https://youtube.com.evil.example/x"}, "YouTube link: must be a link to youtube.com"),
    ({"apple_music_url": "javascript:alert(1)"}, "Apple Music link: must be an http(s) URL"),
    ({"title": "  "}, "title: cannot be empty"),
    ({"position": "x" * 33}, "position: at most 32"),
    ({"duration_seconds": "soon"}, "duration 'soon' is not m:ss"),
])
def test_clean_track_changes_names_the_field(changes, message):
    with pytest.raises(Invalid, match=re.escape(message)):
        clean_track_changes(changes)


def test_clean_track_changes_normalises():
    assert clean_track_changes({"tags": [" peak ", "peak", "", "warm-up"], "notes": "  ", "artist": "",
                                "spotify_url": " https://open.spotify.com/track/x ", "youtube_url": "",
                                "star_rating": 0}) == {
        "tags": ["peak", "warm-up"], "notes": None, "artist": None,
        "spotify_url": "https://open.spotify.com/track/x", "youtube_url": None, "star_rating": 0}


def test_sides_of_a_record():
    assert [side_of(p) for p in ("A1", "b2", "AA1", "3", None)] == ["A", "B", "AA", "", ""]
    tracks = [Track(position=p, title=p or "", deleted_at=None) for p in ("A1", "A2", "B1", "AA1", "4")]
    assert sides(tracks) == ["A", "B", "AA"]
