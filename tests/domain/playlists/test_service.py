"""Playlist editing rules (services/domain/playlists/service.py) on a real database."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from services.common.models import Library, Playlist, PlaylistVersion, Track, User
from services.domain.errors import Conflict, Invalid, NotFound
from services.domain.playlists import service as playlists


@pytest.fixture
def crate(db_session):
    """(session, alice, bob, five of alice's tracks' primary keys)."""
    alice, bob = User(username="alice", password_hash="x"), User(username="bob", password_hash="x")
    db_session.add_all([alice, bob])
    db_session.flush()
    library = Library(owner_id=alice.id, name="crate")
    db_session.add(library)
    db_session.flush()
    tracks = [Track(track_id=f"1-A{i}", library_id=library.id, title=f"T{i}", artist="A",
                    duration_seconds=60.0 * (i + 1) if i < 4 else None) for i in range(5)]
    db_session.add_all(tracks)
    db_session.flush()
    return db_session, alice, bob, [t.id for t in tracks]


def _order(session, user, playlist_id):
    return [i.track_pk for i in playlists.get_playlist(session=session, user=user, playlist_id=playlist_id).items]


def _versions(session, user, playlist_id):
    return playlists.list_versions(session=session, user=user, playlist_id=playlist_id)


def test_duplicate_copies_name_description_and_order_not_versions(crate):
    session, alice, bob, ids = crate
    source = playlists.create_playlist(session=session, user=alice, name="Warm-up", description="early",
                                       track_pks=[ids[2], ids[0], ids[2]])
    playlists.remove_item(session=session, user=alice, playlist_id=source.id, position=1)  # one version
    copy = playlists.duplicate_playlist(session=session, user=alice, playlist_id=source.id)
    assert copy.id != source.id and copy.name == "Warm-up (copy)" and copy.description == "early"
    assert _order(session, alice, copy.id) == [ids[2], ids[2]]
    assert _versions(session, alice, copy.id) == []
    named = playlists.duplicate_playlist(session=session, user=alice, playlist_id=source.id, name="  B-side ")
    assert named.name == "B-side" and named.owner_id == alice.id
    with pytest.raises(NotFound):
        playlists.duplicate_playlist(session=session, user=bob, playlist_id=source.id)


def test_reorder_needs_the_same_tracks_and_keeps_one_version_per_burst(crate):
    session, alice, _bob, ids = crate
    p = playlists.create_playlist(session=session, user=alice, name="Set", track_pks=ids[:3])
    rev = playlists.revision(p)
    playlists.reorder_playlist(session=session, user=alice, playlist_id=p.id, track_pks=[ids[2], ids[0], ids[1]],
                               expected_revision=rev)
    assert _order(session, alice, p.id) == [ids[2], ids[0], ids[1]]
    versions = _versions(session, alice, p.id)
    assert [(v.reason, v.track_pks) for v in versions] == [(playlists.EDIT_REASON, ids[:3])]
    # A second edit in the same burst keeps the one version (it holds the order before the burst).
    playlists.move_item(session=session, user=alice, playlist_id=p.id, position=0, to_position=2)
    assert _order(session, alice, p.id) == [ids[0], ids[1], ids[2]]
    assert len(_versions(session, alice, p.id)) == 1
    # Not the same tracks (one missing, one added, one doubled): refused, nothing changes.
    for wrong in ([ids[0], ids[1]], [ids[0], ids[1], ids[3]], [ids[0], ids[1], ids[1]]):
        with pytest.raises(Conflict):
            playlists.reorder_playlist(session=session, user=alice, playlist_id=p.id, track_pks=wrong)
    assert _order(session, alice, p.id) == [ids[0], ids[1], ids[2]]


def test_an_edit_after_the_burst_or_another_change_keeps_a_new_version(crate):
    session, alice, _bob, ids = crate
    p = playlists.create_playlist(session=session, user=alice, name="Set", track_pks=ids[:3])
    playlists.move_item(session=session, user=alice, playlist_id=p.id, position=0, to_position=1)
    # The burst is over when its version is older than EDIT_BURST.
    session.execute(update(PlaylistVersion).values(created_at=PlaylistVersion.created_at
                                                   - playlists.EDIT_BURST - timedelta(seconds=1)))
    playlists.move_item(session=session, user=alice, playlist_id=p.id, position=0, to_position=1)
    assert len(_versions(session, alice, p.id)) == 2
    # Another kind of version (here a restore) ends the burst too.
    playlists.restore_version(session=session, user=alice, playlist_id=p.id,
                              version_id=_versions(session, alice, p.id)[-1].id)
    assert _order(session, alice, p.id) == ids[:3]
    playlists.remove_item(session=session, user=alice, playlist_id=p.id, position=2)
    reasons = [v.reason for v in _versions(session, alice, p.id)]
    assert reasons[0] == playlists.EDIT_REASON and reasons[1].startswith("before restoring") and len(reasons) == 4


def test_stale_revision_is_refused(crate):
    session, alice, _bob, ids = crate
    p = playlists.create_playlist(session=session, user=alice, name="Set", track_pks=ids[:3])
    stale = playlists.revision(p)
    session.execute(update(Playlist).where(Playlist.id == p.id).values(updated_at=Playlist.updated_at
                                                                      + timedelta(seconds=5)))
    session.expire_all()
    with pytest.raises(Conflict, match="reload"):
        playlists.remove_item(session=session, user=alice, playlist_id=p.id, position=0, expected_revision=stale)
    with pytest.raises(Conflict):
        playlists.move_item(session=session, user=alice, playlist_id=p.id, position=0, to_position=1,
                            expected_revision=stale)
    assert _order(session, alice, p.id) == ids[:3]
    fresh = playlists.revision(playlists.get_playlist(session=session, user=alice, playlist_id=p.id))
    playlists.remove_item(session=session, user=alice, playlist_id=p.id, position=0, expected_revision=fresh)
    assert _order(session, alice, p.id) == ids[1:3]


def test_remove_and_move_by_position(crate):
    session, alice, bob, ids = crate
    p = playlists.create_playlist(session=session, user=alice, name="Set", track_pks=[ids[0], ids[1], ids[0]])
    playlists.remove_item(session=session, user=alice, playlist_id=p.id, position=2)  # the second ids[0]
    assert _order(session, alice, p.id) == [ids[0], ids[1]]
    with pytest.raises(NotFound, match="position 2"):
        playlists.remove_item(session=session, user=alice, playlist_id=p.id, position=2)
    with pytest.raises(NotFound):
        playlists.remove_item(session=session, user=alice, playlist_id=p.id, position=-1)
    with pytest.raises(Invalid):
        playlists.move_item(session=session, user=alice, playlist_id=p.id, position=0, to_position=2)
    playlists.move_item(session=session, user=alice, playlist_id=p.id, position=1, to_position=0)
    assert _order(session, alice, p.id) == [ids[1], ids[0]]
    with pytest.raises(NotFound):
        playlists.remove_item(session=session, user=bob, playlist_id=p.id, position=0)


def test_append_allows_duplicates_and_snapshots_a_non_empty_playlist(crate):
    session, alice, _bob, ids = crate
    p = playlists.create_playlist(session=session, user=alice, name="Set")
    playlists.append_tracks(session=session, user=alice, playlist_id=p.id, track_pks=[ids[0], ids[1]])
    assert _versions(session, alice, p.id) == []  # nothing to go back to
    playlists.append_tracks(session=session, user=alice, playlist_id=p.id, track_pks=[ids[1]])
    assert _order(session, alice, p.id) == [ids[0], ids[1], ids[1]]
    assert [v.track_pks for v in _versions(session, alice, p.id)] == [[ids[0], ids[1]]]
    with pytest.raises(NotFound, match="track"):
        playlists.append_tracks(session=session, user=alice, playlist_id=p.id, track_pks=[ids[0], 10**9])
    assert _order(session, alice, p.id) == [ids[0], ids[1], ids[1]]


def test_a_deleted_track_can_still_be_moved_and_removed(crate):
    session, alice, _bob, ids = crate
    p = playlists.create_playlist(session=session, user=alice, name="Set", track_pks=ids[:2])
    session.execute(update(Track).where(Track.id == ids[0]).values(deleted_at=Track.created_at))
    playlists.move_item(session=session, user=alice, playlist_id=p.id, position=0, to_position=1)
    assert _order(session, alice, p.id) == [ids[1], ids[0]]
    playlists.remove_item(session=session, user=alice, playlist_id=p.id, position=1)
    assert _order(session, alice, p.id) == [ids[1]]
    with pytest.raises(NotFound):  # but it cannot be added again
        playlists.append_tracks(session=session, user=alice, playlist_id=p.id, track_pks=[ids[0]])


def test_versions_are_capped(crate, monkeypatch):
    session, alice, _bob, ids = crate
    monkeypatch.setattr(playlists, "KEEP_VERSIONS", 3)
    p = playlists.create_playlist(session=session, user=alice, name="Set", track_pks=ids[:2])
    for i in range(5):
        playlists.snapshot(session=session, playlist=p, reason=f"v{i}")
    assert [v.reason for v in _versions(session, alice, p.id)] == ["v4", "v3", "v2"]
    assert session.scalar(select(PlaylistVersion.id).where(PlaylistVersion.reason == "v0")) is None


def test_describe_versions_names_the_tracks(crate):
    session, alice, _bob, ids = crate
    p = playlists.create_playlist(session=session, user=alice, name="Set", track_pks=ids[:2])
    playlists.remove_item(session=session, user=alice, playlist_id=p.id, position=0)
    [view] = playlists.describe_versions(session=session, user=alice, playlist_id=p.id)
    assert view.track_pks == ids[:2] and view.titles == ["A – T0", "A – T1"]


def test_summaries_count_tracks_and_length(crate):
    session, alice, bob, ids = crate
    playlists.create_playlist(session=session, user=alice, name="Empty")
    full = playlists.create_playlist(session=session, user=alice, name="Full", track_pks=[ids[0], ids[1], ids[4]])
    playlists.create_playlist(session=session, user=bob, name="Bob's")
    rows = {s.name: s for s in playlists.playlist_summaries(session=session, user=alice)}
    assert set(rows) == {"Empty", "Full"}
    assert (rows["Empty"].track_count, rows["Empty"].duration_seconds, rows["Empty"].unknown_durations) == (0, 0, 0)
    assert rows["Full"].id == full.id
    assert (rows["Full"].track_count, rows["Full"].duration_seconds, rows["Full"].unknown_durations) == (3, 180.0, 1)


def test_names_are_checked(crate):
    session, alice, _bob, _ids = crate
    with pytest.raises(Invalid, match="name"):
        playlists.create_playlist(session=session, user=alice, name="   ")
    p = playlists.create_playlist(session=session, user=alice, name=" Warm-up ")
    assert p.name == "Warm-up"
    with pytest.raises(Invalid):
        playlists.update_playlist(session=session, user=alice, playlist_id=p.id, changes={"name": ""})
    with pytest.raises(Invalid):
        playlists.update_playlist(session=session, user=alice, playlist_id=p.id, changes={"owner_id": 1})
    renamed = playlists.update_playlist(session=session, user=alice, playlist_id=p.id,
                                        changes={"name": "Peak time", "description": "  "})
    assert (renamed.name, renamed.description) == ("Peak time", None)
