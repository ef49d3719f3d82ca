"""Resources carry an owner: another user gets 404, shared libraries are read-only."""

from __future__ import annotations

from services.common import db
from services.common.models import Album, Library, Track


def _library_with_track(owner_id: int, name: str = "Crates") -> tuple[int, int]:
    with db.session_scope() as s:
        lib = Library(owner_id=owner_id, name=name, discogs_username=name.lower())
        s.add(lib)
        s.flush()
        album = Album(library_id=lib.id, release_id=123, title="Homework", artist="Daft Punk")
        s.add(album)
        s.flush()
        track = Track(track_id="123-A1", library_id=lib.id, album_id=album.id, title="Da Funk", artist="Daft Punk",
                      bpm=111.96)
        s.add(track)
        s.flush()
        return lib.id, track.id


def test_other_users_playlist_is_404(make_user):
    alice, bob = make_user("alice"), make_user("bob")
    _, track_pk = _library_with_track(alice.user_id)
    r = alice.post("/api/playlists", json={"name": "Warm-up", "track_pks": [track_pk]})
    assert r.status_code == 201
    pid = r.json()["id"]
    assert r.json()["items"][0]["bpm"] == 111.96
    assert bob.get(f"/api/playlists/{pid}").status_code == 404
    assert bob.delete(f"/api/playlists/{pid}").status_code == 404
    assert bob.get("/api/playlists").json() == []
    # Bob cannot put Alice's track into his own playlist either.
    r = bob.post("/api/playlists", json={"name": "Mine", "track_pks": [track_pk]})
    assert r.status_code == 404


def test_library_visibility_and_shares(make_user):
    alice, bob = make_user("alice"), make_user("bob")
    lib_id, track_pk = _library_with_track(alice.user_id)
    assert bob.get(f"/api/libraries/{lib_id}").status_code == 404
    # The same answer for an unknown username (sharing reveals no accounts); bob must accept the invitation.
    assert alice.post(f"/api/libraries/{lib_id}/shares", json={"username": "nobody"}).status_code == 204
    assert alice.post(f"/api/libraries/{lib_id}/shares", json={"username": "bob"}).status_code == 204
    assert bob.get(f"/api/libraries/{lib_id}").status_code == 404
    assert bob.post(f"/api/users/me/invitations/{lib_id}/accept").status_code == 200
    shared = bob.get(f"/api/libraries/{lib_id}")
    assert shared.status_code == 200
    assert shared.json()["read_only"] is True
    assert bob.delete(f"/api/libraries/{lib_id}").status_code == 403
    # A shared track can go into Bob's own playlist.
    assert bob.post("/api/playlists", json={"name": "Mine", "track_pks": [track_pk]}).status_code == 201
    assert alice.delete(f"/api/libraries/{lib_id}/shares/bob").status_code == 204
    assert bob.get(f"/api/libraries/{lib_id}").status_code == 404


def test_playlist_reorder_and_append(make_user):
    alice = make_user("alice")
    lib_id, t1 = _library_with_track(alice.user_id)
    with db.session_scope() as s:
        t2 = Track(track_id="123-A2", library_id=lib_id, title="Revolution 909", artist="Daft Punk")
        s.add(t2)
        s.flush()
        t2 = t2.id
    pid = alice.post("/api/playlists", json={"name": "Set", "track_pks": [t1, t2]}).json()["id"]
    r = alice.put(f"/api/playlists/{pid}/tracks", json={"track_pks": [t2, t1]})
    assert [i["track_pk"] for i in r.json()["items"]] == [t2, t1]
    r = alice.post(f"/api/playlists/{pid}/tracks", json={"track_pks": [t2]})
    assert [i["track_pk"] for i in r.json()["items"]] == [t2, t1, t2]
    assert [i["position"] for i in r.json()["items"]] == [0, 1, 2]
    assert alice.patch(f"/api/playlists/{pid}", json={"name": ""}).status_code == 422
    assert alice.patch(f"/api/playlists/{pid}", json={"name": "Peak"}).json()["name"] == "Peak"


def test_duplicate_library_is_409(make_user):
    alice = make_user("alice")
    assert alice.post("/api/libraries", json={"name": "Mine", "discogs_username": "alice_dj"}).status_code == 201
    assert alice.post("/api/libraries", json={"name": "Again", "discogs_username": "alice_dj"}).status_code == 409
    assert alice.post("/api/libraries", json={"name": "Bad", "discogs_username": "a/../b"}).status_code == 422
