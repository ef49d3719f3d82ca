"""A playlist shows only tracks its viewer may read: after an unshare, the other user's tracks are hidden
(not deleted) in the API, the page, exports, the set builder's input and the playlist list's counts; edits
keep them in place, and sharing the library again shows them where they were."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from services.cli import app
from services.common import db
from services.common.models import Library, Track, User
from services.domain.playlists import service as playlists


def _library(owner_id: int, name: str, titles: list[str]) -> tuple[int, list[int]]:
    with db.session_scope() as s:
        lib = Library(owner_id=owner_id, name=name)
        s.add(lib)
        s.flush()
        pks = []
        for i, title in enumerate(titles):
            t = Track(track_id=f"{lib.id}-A{i}", library_id=lib.id, title=title, artist="Someone", bpm=120.0,
                      duration_seconds=200.0)
            s.add(t)
            s.flush()
            pks.append(t.id)
        return lib.id, pks


@pytest.fixture
def shared(make_user):
    """alice shares a library with bob, who puts two of its tracks into his playlist among his own."""
    alice, bob = make_user("alice"), make_user("bob")
    alice_lib, (a1, a2) = _library(alice.user_id, "alice's", ["Alice One", "Alice Two"])
    _, (b1, b2, b3) = _library(bob.user_id, "bob's", ["Bob One", "Bob Two", "Bob Three"])
    assert alice.post(f"/api/libraries/{alice_lib}/shares", json={"username": "bob"}).status_code == 204
    assert bob.post(f"/api/users/me/invitations/{alice_lib}/accept").status_code == 200
    order = [b1, a1, b2, a2, b3]
    created = bob.post("/api/playlists", json={"name": "Mixed", "track_pks": order})
    assert created.status_code == 201, created.text
    return alice, bob, alice_lib, created.json()["id"], order


def _shown(client, playlist_id):
    body = client.get(f"/api/playlists/{playlist_id}").json()
    return [i["track_pk"] for i in body["items"]], body["hidden_tracks"]


def test_unshared_tracks_are_hidden_everywhere_and_shown_again_on_reshare(shared):
    alice, bob, alice_lib, playlist_id, (b1, a1, b2, a2, b3) = shared
    assert _shown(bob, playlist_id) == ([b1, a1, b2, a2, b3], 0)

    assert alice.delete(f"/api/libraries/{alice_lib}/shares/bob").status_code == 204
    body = bob.get(f"/api/playlists/{playlist_id}").json()
    assert [i["track_pk"] for i in body["items"]] == [b1, b2, b3]
    assert [i["position"] for i in body["items"]] == [0, 1, 2]  # positions of what is shown
    assert body["hidden_tracks"] == 2

    page = bob.get(f"/playlists/{playlist_id}")
    assert page.status_code == 200 and "Bob Two" in page.text and "Alice One" not in page.text
    assert "2 tracks hidden: their library is no longer shared with you" in page.text
    for fmt in ("m3u8", "csv", "json", "rekordbox"):
        exported = bob.get(f"/api/playlists/{playlist_id}/export", params={"format": fmt})
        assert exported.status_code == 200, (fmt, exported.text)
        assert "Bob Three" in exported.text and "Alice" not in exported.text, fmt
    listed = {p["id"]: p for p in bob.get("/api/playlists").json()}
    assert playlist_id in listed
    with db.session_scope() as s:

        user = s.get(User, bob.user_id)
        summary = {p.id: p for p in playlists.playlist_summaries(session=s, user=user)}[playlist_id]
        assert summary.track_count == 3 and summary.duration_seconds == 600.0
        # What the set builder (and downloads, recommendations) read: the same function, the same rule.
        loaded = playlists.get_playlist(session=s, user=user, playlist_id=playlist_id)
        assert [i.track_pk for i in loaded.items] == [b1, b2, b3]

    # Edits address shown positions and keep the hidden items in place.
    assert bob.delete(f"/api/playlists/{playlist_id}/tracks/1").status_code == 200  # Bob Two
    assert _shown(bob, playlist_id) == ([b1, b3], 2)
    # Hidden tracks cannot be put back by their primary key while unshared.
    assert bob.put(f"/api/playlists/{playlist_id}/tracks", json={"track_pks": [b1, a1, b3]}).status_code == 404

    assert alice.post(f"/api/libraries/{alice_lib}/shares", json={"username": "bob"}).status_code == 204
    assert _shown(bob, playlist_id) == ([b1, b3], 2)  # an invitation is not a share yet
    assert bob.post(f"/api/users/me/invitations/{alice_lib}/accept").status_code == 200
    assert _shown(bob, playlist_id) == ([b1, a1, b3, a2], 0)  # back at their positions (1 and 3)


def test_a_playlist_shorter_than_its_hidden_positions_keeps_them_at_the_end(shared):
    alice, bob, alice_lib, playlist_id, (b1, a1, b2, a2, b3) = shared
    assert alice.delete(f"/api/libraries/{alice_lib}/shares/bob").status_code == 204
    r = bob.put(f"/api/playlists/{playlist_id}/tracks", json={"track_pks": [b3]})
    assert r.status_code == 200, r.text
    assert r.json()["hidden_tracks"] == 2 and [i["track_pk"] for i in r.json()["items"]] == [b3]
    assert alice.post(f"/api/libraries/{alice_lib}/shares", json={"username": "bob"}).status_code == 204
    assert bob.post(f"/api/users/me/invitations/{alice_lib}/accept").status_code == 200
    assert _shown(bob, playlist_id) == ([b3, a1, a2], 0)


def test_restoring_a_version_does_not_duplicate_hidden_tracks(shared):
    alice, bob, alice_lib, playlist_id, (b1, a1, b2, a2, b3) = shared
    r = bob.put(f"/api/playlists/{playlist_id}/tracks", json={"track_pks": [b3, a1, b2, a2, b1]})
    assert r.status_code == 200, r.text
    with db.session_scope() as s:

        user = s.get(User, bob.user_id)
        before = playlists.list_versions(session=s, user=user, playlist_id=playlist_id)[0]
        assert before.track_pks == [b1, a1, b2, a2, b3]
        version_id = before.id
    assert alice.delete(f"/api/libraries/{alice_lib}/shares/bob").status_code == 204
    with db.session_scope() as s:
        user = s.get(User, bob.user_id)
        playlists.restore_version(session=s, user=user, playlist_id=playlist_id, version_id=version_id)
    assert _shown(bob, playlist_id) == ([b1, b2, b3], 2)
    assert alice.post(f"/api/libraries/{alice_lib}/shares", json={"username": "bob"}).status_code == 204
    assert bob.post(f"/api/users/me/invitations/{alice_lib}/accept").status_code == 200
    shown, hidden = _shown(bob, playlist_id)
    assert hidden == 0 and sorted(shown) == sorted([b1, a1, b2, a2, b3])  # each once


def test_exports_say_how_many_tracks_are_hidden_and_never_include_them(shared):
    """Every format leaves the hidden tracks out; `X-Hidden-Tracks` counts them, and the file says so where
    its format has room (XML comment, M3U comment line, JSON field; CSV stays plain rows)."""
    import csv
    import io
    import json

    from lxml import etree

    from services.domain.playlists import exports, imports

    alice, bob, alice_lib, playlist_id, (b1, a1, b2, a2, b3) = shared
    before = bob.get(f"/api/playlists/{playlist_id}/export", params={"format": "m3u8"})
    assert before.headers["X-Hidden-Tracks"] == "0" and "hidden" not in before.text

    assert alice.delete(f"/api/libraries/{alice_lib}/shares/bob").status_code == 204
    note = "2 tracks hidden: their library is no longer shared with you (not exported)"
    files = {}
    for fmt in ("m3u8", "csv", "json", "rekordbox", "nml"):
        r = bob.get(f"/api/playlists/{playlist_id}/export", params={"format": fmt})
        assert r.status_code == 200, (fmt, r.text)
        assert r.headers["X-Hidden-Tracks"] == "2", fmt
        assert "Alice" not in r.text, fmt
        files[fmt] = r

    m3u = files["m3u8"].text.splitlines()
    assert f"# {note}" in m3u
    assert [e.label for e in imports.parse_m3u(files["m3u8"].text).entries] == \
        ["Someone - Bob One", "Someone - Bob Two", "Someone - Bob Three"]  # the note is not an entry

    document = json.loads(files["json"].content)
    assert document["playlist"]["hidden_tracks"] == 2 and document["playlist"]["track_count"] == 3
    assert [i["track_pk"] for i in document["items"]] == [b1, b2, b3]

    rows = list(csv.DictReader(io.StringIO(files["csv"].content.decode("utf-8-sig"))))
    assert [int(r["track_pk"]) for r in rows] == [b1, b2, b3]

    for fmt in ("rekordbox", "nml"):
        tree = etree.fromstring(files[fmt].content)
        comments = [c.text.strip() for c in tree.iter(etree.Comment)]
        assert note in comments, (fmt, comments)

    with db.session_scope() as s:
        user = s.get(User, bob.user_id)
        result = exports.export_playlist(session=s, user=user, playlist_id=playlist_id, fmt="rekordbox")
        assert result.hidden == 2 and result.skipped == 3  # none of Bob's tracks has audio here

    with db.session_scope() as s:
        username = s.get(User, bob.user_id).username
    cli = CliRunner().invoke(app, ["playlist", "export", str(playlist_id), "--format", "json", "--user", username])
    assert cli.exit_code == 0, cli.output
    assert "2 track(s) hidden: their library is no longer shared with the owner" in cli.output
