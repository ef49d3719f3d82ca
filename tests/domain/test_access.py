"""The one permission rule (services/domain/access.py) on a real database."""

from __future__ import annotations

import pytest

from services.common.models import Album, Library, LibraryShare, User
from services.domain.access import can_write, owned_library, readable_library, visible_row, writable_library
from services.domain.errors import Forbidden, NotFound


@pytest.fixture
def people(db_session):
    alice, bob, carol = (User(username=n, password_hash="x") for n in ("alice", "bob", "carol"))
    db_session.add_all([alice, bob, carol])
    db_session.flush()
    own = Library(owner_id=alice.id, name="own")
    friend = Library(owner_id=alice.id, name="pal (friend)", discogs_username="pal", is_friend=True)
    db_session.add_all([own, friend])
    db_session.flush()
    db_session.add(LibraryShare(library_id=own.id, user_id=bob.id))
    album = Album(library_id=own.id, release_id=1, title="T", artist="A")
    db_session.add(album)
    db_session.flush()
    return db_session, alice, bob, carol, own, friend, album


def test_owner_reads_writes_and_operates_own_library(people):
    session, alice, *_, own, friend, _album = people
    assert writable_library(session=session, user=alice, library_id=own.id) is own
    assert owned_library(session=session, user=alice, library_id=friend.id) is friend  # may sync a friend
    with pytest.raises(Forbidden, match="friend"):
        writable_library(session=session, user=alice, library_id=friend.id)
    assert can_write(alice, own) and not can_write(alice, friend)


def test_shared_is_read_only_and_strangers_see_nothing(people):
    session, _alice, bob, carol, own, _friend, album = people
    assert readable_library(session=session, user=bob, library_id=own.id) is own
    with pytest.raises(Forbidden, match="read-only"):
        owned_library(session=session, user=bob, library_id=own.id)
    assert visible_row(session=session, user=bob, model=Album, row_id=album.id, what="album") is album
    for call in (readable_library, owned_library, writable_library):
        with pytest.raises(NotFound):  # never reveals that the id exists
            call(session=session, user=carol, library_id=own.id)
    with pytest.raises(NotFound, match="album not found"):
        visible_row(session=session, user=carol, model=Album, row_id=album.id, what="album")
