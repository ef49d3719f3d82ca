"""Per-user Discogs tokens (only an admin may use the server's) and share invitations that reveal no
usernames, accepted, declined or left by the recipient."""

from __future__ import annotations

import pytest

from services.common import db
from services.common.models import Library

SAME_SITE = {"origin": "http://testserver"}


def _library(user_id: int, username: str | None = "digger", name: str = "crate") -> int:
    with db.session_scope() as s:
        library = Library(owner_id=user_id, name=name, discogs_username=username, settings={})
        s.add(library)
        s.flush()
        return library.id


# --- 5. Discogs tokens -----------------------------------------------------------------------------------


def test_only_an_admin_may_sync_with_the_server_token(make_user, discogs_env):
    bob = make_user("bob")  # not an admin
    lib = _library(bob.user_id)
    r = bob.post(f"/api/libraries/{lib}/sync", headers=SAME_SITE)
    assert r.status_code == 400 and r.json()["code"] == "discogs_token_missing"
    assert "your own Discogs token" in r.json()["detail"]
    assert bob.get("/api/users/me/discogs").json() == {"token": None, "can_sync": False, "uses": None}
    admin = make_user("root", is_admin=True)
    assert admin.get("/api/users/me/discogs").json() == {"token": None, "can_sync": True, "uses": "server"}


def test_own_discogs_token_is_masked_and_lets_a_user_sync(make_user, discogs_env):
    bob = make_user("bob")
    lib = _library(bob.user_id)
    r = bob.put("/api/users/me/discogs", json={"token": "bobs-own-token-9876"}, headers=SAME_SITE)
    assert r.status_code == 200
    assert r.json() == {"token": "••••••••9876", "can_sync": True, "uses": "own"}
    assert "bobs-own" not in bob.get("/api/users/me/discogs").text
    assert bob.post(f"/api/libraries/{lib}/sync", headers=SAME_SITE).status_code == 202
    r = bob.put("/api/users/me/discogs", json={"token": "has space"}, headers=SAME_SITE)
    assert r.status_code == 422 and r.json()["code"] == "bad_discogs_token"
    r = bob.put("/api/users/me/discogs", json={"token": None}, headers=SAME_SITE)
    assert r.json()["uses"] is None


def test_the_sync_job_uses_the_owners_own_token(make_user, discogs_env):
    from services.domain.collection.jobs import sync_library_job
    from services.domain.collection.sync import SyncError

    bob = make_user("bob")
    lib = _library(bob.user_id)
    discogs_env.set_collection("digger", [1, 2])
    with pytest.raises(SyncError, match="your own Discogs token"):  # no token bob may use: nothing fetched
        sync_library_job(lib, "full")
    assert sum(discogs_env.requests.values()) == 0
    assert bob.put("/api/users/me/discogs", json={"token": "bobs-token"}, headers=SAME_SITE).status_code == 200
    result = sync_library_job(lib, "full")
    assert result["status"] == "finished" and result["releases_total"] == 2, result
    seen = {k for k, v in discogs_env.authorization.items() if v}
    assert seen == {"Discogs token=bobs-token"}  # never the server's token


def test_settings_page_sets_the_token(make_user, discogs_env):
    bob = make_user("bob")
    page = bob.get("/settings").text
    assert 'id="discogs-token"' in page and "No token" in page
    r = bob.post("/settings/discogs", data={"token": "form-token-abcd"}, headers=SAME_SITE)
    assert r.status_code == 200 and "••••••••abcd" in r.text and "form-token" not in r.text
    assert bob.get("/api/users/me/discogs").json()["uses"] == "own"
    r = bob.post("/settings/discogs", data={"token": ""}, headers=SAME_SITE)
    assert r.status_code == 422 and "enter a token" in r.json()["detail"]
    r = bob.post("/settings/discogs", data={"clear": "1"}, headers=SAME_SITE)
    assert r.status_code == 200 and "Removed." in r.text
    assert bob.get("/api/users/me/discogs").json()["uses"] is None


def test_following_a_friend_needs_a_token_the_user_may_use(make_user, discogs_env):
    bob = make_user("bob")
    r = bob.post("/api/friends", json={"username": "digger"}, headers=SAME_SITE)
    assert r.status_code == 400 and "your own" in r.json()["detail"]


# --- 6. share invitations ------------------------------------------------------------------------------------


def test_sharing_reveals_no_usernames(make_user):
    alice = make_user("alice")
    make_user("bob")
    lib = _library(alice.user_id, None)
    known = alice.post(f"/api/libraries/{lib}/shares", json={"username": "bob"}, headers=SAME_SITE)
    unknown = alice.post(f"/api/libraries/{lib}/shares", json={"username": "nobody"}, headers=SAME_SITE)
    myself = alice.post(f"/api/libraries/{lib}/shares", json={"username": "alice"}, headers=SAME_SITE)
    assert known.status_code == unknown.status_code == myself.status_code == 204
    assert known.content == unknown.content == b""
    gone_known = alice.delete(f"/api/libraries/{lib}/shares/bob", headers=SAME_SITE)
    gone_unknown = alice.delete(f"/api/libraries/{lib}/shares/nobody", headers=SAME_SITE)
    assert gone_known.status_code == gone_unknown.status_code == 204


def test_invitation_accepted_then_left(make_user):
    alice, bob = make_user("alice"), make_user("bob")
    lib = _library(alice.user_id, None, name="Alice's crate")
    assert alice.post(f"/api/libraries/{lib}/shares", json={"username": "bob"}, headers=SAME_SITE).status_code == 204
    assert bob.get(f"/api/libraries/{lib}").status_code == 404  # nothing shared before consent
    assert [x["id"] for x in bob.get("/api/libraries").json()] == []
    assert bob.get("/api/users/me/invitations").json() == [
        {"library_id": lib, "name": "Alice's crate", "owner": "alice"}]
    r = bob.post(f"/api/users/me/invitations/{lib}/accept", headers=SAME_SITE)
    assert r.status_code == 200 and r.json()["owner"] == "alice"
    assert bob.get("/api/users/me/invitations").json() == []
    assert bob.get(f"/api/libraries/{lib}").json()["read_only"] is True
    assert bob.post(f"/api/users/me/invitations/{lib}/accept", headers=SAME_SITE).status_code == 404
    assert bob.delete(f"/api/users/me/shares/{lib}", headers=SAME_SITE).status_code == 204
    assert bob.get(f"/api/libraries/{lib}").status_code == 404
    assert bob.delete(f"/api/users/me/shares/{lib}", headers=SAME_SITE).status_code == 404


def test_invitation_declined(make_user):
    alice, bob, carol = make_user("alice"), make_user("bob"), make_user("carol")
    lib = _library(alice.user_id, None)
    alice.post(f"/api/libraries/{lib}/shares", json={"username": "bob"}, headers=SAME_SITE)
    assert carol.post(f"/api/users/me/invitations/{lib}/accept", headers=SAME_SITE).status_code == 404
    assert bob.post(f"/api/users/me/invitations/{lib}/decline", headers=SAME_SITE).status_code == 204
    assert bob.get("/api/users/me/invitations").json() == []
    assert bob.post(f"/api/users/me/invitations/{lib}/accept", headers=SAME_SITE).status_code == 404
    assert bob.get(f"/api/libraries/{lib}").status_code == 404
