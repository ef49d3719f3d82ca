"""The share invitations page (/shares): accept, decline and leave from the browser, with and without htmx,
through the same rules as the API (only the invited user may answer; nothing shared before accepting)."""

from __future__ import annotations

from services.common import db
from services.common.models import Library

HTMX = {"HX-Request": "true"}


def _library(owner_id: int, name: str) -> int:
    with db.session_scope() as s:
        lib = Library(owner_id=owner_id, name=name)
        s.add(lib)
        s.flush()
        return lib.id


def test_accept_decline_and_leave_from_the_page(make_user):
    alice, bob, carol = make_user("alice"), make_user("bob"), make_user("carol")
    crates, dubs = _library(alice.user_id, "Alice crates"), _library(alice.user_id, "Alice dubs")
    for lib in (crates, dubs):
        assert alice.post(f"/api/libraries/{lib}/shares", json={"username": "bob"}).status_code == 204

    page = bob.get("/shares")
    assert page.status_code == 200
    assert "Alice crates" in page.text and "Alice dubs" in page.text and "from alice" in page.text
    assert f'hx-post="/shares/{crates}/accept"' in page.text
    assert "<script>" not in page.text and "hx-on" not in page.text  # CSP: no inline script
    assert 'href="/shares"' in bob.get("/").text  # linked from the navigation
    assert bob.get(f"/libraries/{crates}").status_code == 404  # not shared before accepting

    # Someone else cannot answer bob's invitation.
    assert carol.post(f"/shares/{crates}/accept", headers=HTMX).status_code == 404

    accepted = bob.post(f"/shares/{crates}/accept", headers=HTMX)
    assert accepted.status_code == 200, accepted.text
    assert "Accepted: Alice crates" in accepted.text and f'hx-post="/shares/{crates}/leave"' in accepted.text
    assert bob.get(f"/libraries/{crates}").status_code == 200

    declined = bob.post(f"/shares/{dubs}/decline", headers=HTMX)
    assert declined.status_code == 200 and "Declined." in declined.text and "No invitations waiting." in declined.text
    assert bob.get("/api/users/me/invitations").json() == []
    assert bob.post(f"/shares/{dubs}/accept", headers=HTMX).status_code == 404  # declined: nothing to accept

    # Without htmx: a redirect back to the page.
    left = bob.post(f"/shares/{crates}/leave", follow_redirects=False)
    assert left.status_code == 303 and left.headers["location"] == "/shares"
    assert 'data-shares="none-followed"' in bob.get("/shares").text
    assert bob.get(f"/libraries/{crates}").status_code == 404
    assert bob.post(f"/shares/{crates}/leave", headers=HTMX).status_code == 404


def test_the_page_needs_a_signed_in_user(client):
    r = client.get("/shares", headers={"Accept": "text/html"}, follow_redirects=False)
    assert r.status_code in (302, 303, 307) and "/login" in r.headers["location"]
    assert client.post("/shares/1/accept", headers=HTMX).status_code == 401
