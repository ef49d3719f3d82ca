"""Playlist editing in the browser (services/web/ui/playlist_edit.py): the pages and forms, through the app."""

from __future__ import annotations

import html
import json
import re

from services.common import db
from services.common.models import Library, Track

HX = {"HX-Request": "true"}


def _tracks(owner_id: int, count: int = 4) -> list[int]:
    with db.session_scope() as s:
        lib = Library(owner_id=owner_id, name="Crates")
        s.add(lib)
        s.flush()
        rows = [Track(track_id=f"1-A{i}", library_id=lib.id, title=f"Song {i}", artist=f"Artist {i}", bpm=120.0 + i,
                      camelot="8A", duration_seconds=300.0) for i in range(count)]
        s.add_all(rows)
        s.flush()
        return [r.id for r in rows]


def _playlist(client, name: str = "Warm-up", track_pks: list[int] = ()) -> int:
    r = client.post("/api/playlists", json={"name": name, "track_pks": list(track_pks)})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def _order(client, pid: int) -> list[int]:
    return [i["track_pk"] for i in client.get(f"/api/playlists/{pid}").json()["items"]]


def _rev(client, pid: int) -> str:
    page = client.get(f"/playlists/{pid}").text
    match = re.search(r"hx-vals='([^']*)'", page[page.index('id="playlist-edit"'):])
    return json.loads(html.unescape(match.group(1)))["rev"]


def test_playlists_page_lists_counts_length_and_forms(make_user):
    alice, bob = make_user("alice"), make_user("bob")
    ids = _tracks(alice.user_id)
    _playlist(alice, "Warm-up", ids[:2])
    _playlist(alice, "Empty set")
    _playlist(bob, "Bob's secret")
    r = alice.get("/playlists")
    assert r.status_code == 200
    page = r.text
    assert "Warm-up" in page and "Empty set" in page and "Bob's secret" not in page
    row = page[page.index("Warm-up"):page.index("</tr>", page.index("Warm-up"))]
    assert "<td>2</td>" in row and "10:00" in row  # two 5-minute tracks
    assert 'id="create-playlist"' in page and 'action="/playlists"' in page
    form = page[page.index('id="import-playlist"') - 200:page.index('id="import-playlist"') + 400]
    assert 'action="/api/playlists/import"' in form and 'enctype="multipart/form-data"' in form
    assert 'type="file" name="file"' in page
    assert bob.get("/playlists").text.count("<tr data-playlist=") == 1


def test_create_rename_duplicate_delete(make_user):
    alice = make_user("alice")
    ids = _tracks(alice.user_id)
    r = alice.post("/playlists", data={"name": "Warm-up", "description": "early"}, follow_redirects=False)
    assert r.status_code == 303
    pid = int(r.headers["location"].rsplit("/", 1)[1])
    assert alice.get(r.headers["location"]).status_code == 200
    assert alice.post("/playlists", data={"name": "  "}).status_code == 422

    alice.post(f"/api/playlists/{pid}/tracks", json={"track_pks": ids[:3]})
    r = alice.post(f"/playlists/{pid}/edit", data={"name": "Peak time", "description": "late"}, follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, f"/playlists/{pid}")
    detail = alice.get(f"/api/playlists/{pid}").json()
    assert (detail["name"], detail["description"]) == ("Peak time", "late")
    r = alice.post(f"/playlists/{pid}/edit", data={"name": ""})
    assert r.status_code == 422 and "name" in r.json()["detail"]

    r = alice.post(f"/playlists/{pid}/duplicate", follow_redirects=False)
    assert r.status_code == 303
    copy = int(r.headers["location"].rsplit("/", 1)[1])
    assert copy != pid and _order(alice, copy) == ids[:3]
    assert alice.get(f"/api/playlists/{copy}").json()["name"] == "Peak time (copy)"

    r = alice.post(f"/playlists/{pid}/delete", follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, "/playlists")
    assert alice.get(f"/playlists/{pid}").status_code == 404
    assert "Peak time (copy)" in alice.get("/playlists").text


def test_reorder_saves_the_order_and_a_version_restore_puts_it_back(make_user):
    alice = make_user("alice")
    ids = _tracks(alice.user_id)
    pid = _playlist(alice, "Set", ids)
    new = [ids[2], ids[0], ids[3], ids[1]]
    r = alice.put(f"/playlists/{pid}/order", data={"track_pk": new, "rev": _rev(alice, pid)}, headers=HX)
    assert r.status_code == 200
    # The answer is the page: the editor (swapped) with the new order, the set panel and the versions.
    assert 'id="playlist-edit"' in r.text and 'id="set-panel"' in r.text and "Order saved." in r.text
    editor = r.text[r.text.index('id="playlist-editor"'):]
    assert re.findall(r'name="track_pk" value="(\d+)"', editor) == [str(i) for i in new]
    assert _order(alice, pid) == new
    versions = alice.get(f"/api/playlists/{pid}/versions").json()
    assert [v["track_pks"] for v in versions] == [ids]
    assert f'data-restore-version="{versions[0]["id"]}"' in r.text

    # A second drag in the same burst: saved, no second version.
    r = alice.put(f"/playlists/{pid}/order", data={"track_pk": list(reversed(new)), "rev": _rev(alice, pid)},
                  headers=HX)
    assert r.status_code == 200 and len(alice.get(f"/api/playlists/{pid}/versions").json()) == 1

    r = alice.post(f"/playlists/{pid}/versions/{versions[0]['id']}/restore", headers=HX)
    assert r.status_code == 200 and "Version restored" in r.text
    assert _order(alice, pid) == ids
    # Without htmx the forms redirect to the page.
    r = alice.post(f"/playlists/{pid}/versions/{versions[0]['id']}/restore", follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, f"/playlists/{pid}")


def test_reorder_refuses_a_stale_page_or_other_tracks(make_user):
    alice = make_user("alice")
    ids = _tracks(alice.user_id)
    pid = _playlist(alice, "Set", ids[:3])
    stale = _rev(alice, pid)
    alice.put(f"/api/playlists/{pid}/tracks", json={"track_pks": [ids[1], ids[0], ids[2]]})  # another tab
    r = alice.put(f"/playlists/{pid}/order", data={"track_pk": ids[:3], "rev": stale}, headers=HX)
    assert r.status_code == 409 and "reload" in r.json()["detail"]
    r = alice.put(f"/playlists/{pid}/order", data={"track_pk": [ids[0], ids[1]], "rev": _rev(alice, pid)},
                  headers=HX)
    assert r.status_code == 409
    r = alice.put(f"/playlists/{pid}/order", data={"track_pk": ["x"]}, headers=HX)
    assert r.status_code == 422
    assert _order(alice, pid) == [ids[1], ids[0], ids[2]]


def test_remove_and_move_items(make_user):
    alice = make_user("alice")
    ids = _tracks(alice.user_id)
    pid = _playlist(alice, "Set", ids)
    r = alice.post(f"/playlists/{pid}/items/1/remove", data={"rev": _rev(alice, pid)}, headers=HX)
    assert r.status_code == 200 and "Removed “Song 1”" in r.text
    assert _order(alice, pid) == [ids[0], ids[2], ids[3]]
    assert alice.post(f"/playlists/{pid}/items/7/remove", headers=HX).status_code == 404

    r = alice.post(f"/playlists/{pid}/items/2/move", data={"to": 1, "rev": _rev(alice, pid)}, headers=HX)
    assert r.status_code == 200 and "Moved “Song 3” to #2." in r.text
    assert _order(alice, pid) == [ids[0], ids[3], ids[2]]
    # Keyboard users keep their place: the moved track's "up" button is focused after the swap.
    assert re.search(r'id="up-1"[^>]*autofocus', r.text.replace("\n", " "))
    assert alice.post(f"/playlists/{pid}/items/0/move", data={"to": -1}, headers=HX).status_code == 422
    assert len(alice.get(f"/api/playlists/{pid}/versions").json()) == 1  # one editing burst


def test_add_selected_tracks_appends_allows_duplicates_or_starts_a_playlist(make_user):
    alice, bob = make_user("alice"), make_user("bob")
    ids = _tracks(alice.user_id)
    pid = _playlist(alice, "Warm-up", ids[:1])
    r = alice.post("/playlists/add", data={"playlist_id": str(pid), "track_pk": ids[1:4]}, headers=HX)
    assert r.status_code == 200
    assert "Added 3 tracks to Warm-up" in r.text and f'href="/playlists/{pid}"' in r.text
    assert "data-add-to-playlist" in r.text and f'<option value="{pid}" selected>' in r.text
    assert _order(alice, pid) == ids

    r = alice.post("/playlists/add", data={"playlist_id": str(pid), "track_pk": [ids[0]]}, headers=HX)
    assert "Added 1 track to Warm-up (1 was already in it)" in r.text
    assert _order(alice, pid) == [*ids, ids[0]]

    r = alice.post("/playlists/add", data={"playlist_id": "new", "new_name": "Closing", "track_pk": ids[2:]},
                   headers=HX)
    assert r.status_code == 200 and "Created Closing with 2 tracks" in r.text
    closing = next(p for p in alice.get("/api/playlists").json() if p["name"] == "Closing")
    assert _order(alice, closing["id"]) == ids[2:]

    assert alice.post("/playlists/add", data={"playlist_id": str(pid)}).status_code == 422
    assert alice.post("/playlists/add", data={"playlist_id": "new", "track_pk": ids[:1]}).status_code == 422
    assert alice.post("/playlists/add", data={"playlist_id": "", "track_pk": ids[:1]}).status_code == 422
    # Not your playlist, not your track.
    bobs = _playlist(bob, "Bob's")
    assert alice.post("/playlists/add", data={"playlist_id": str(bobs), "track_pk": ids[:1]}).status_code == 404
    assert bob.post("/playlists/add", data={"playlist_id": str(bobs), "track_pk": ids[:1]}).status_code == 404
    assert _order(bob, bobs) == []


def test_tracks_browser_offers_multi_select_add(make_user):
    alice = make_user("alice")
    ids = _tracks(alice.user_id, 2)
    _playlist(alice, "Warm-up")
    page = alice.get("/tracks").text
    assert "data-add-to-playlist" in page and 'hx-post="/playlists/add"' in page
    assert "data-track-select-all" in page and ">Warm-up</option>" in page and 'value="new"' in page
    for pk in ids:
        assert f'name="track_pk" value="{pk}" data-track-select' in page
    options = alice.get("/playlists/options").text
    assert ">Warm-up</option>" in options and "New playlist…" in options


def test_empty_playlist_page_shows_how_to_add(make_user):
    alice = make_user("alice")
    pid = _playlist(alice, "Nothing yet")
    r = alice.get(f"/playlists/{pid}")
    assert r.status_code == 200
    assert "This playlist is empty" in r.text and "Add tracks from the" in r.text and 'href="/tracks"' in r.text
    assert "0 tracks" in r.text


def test_playlist_page_has_editor_export_menu_and_versions(make_user):
    alice = make_user("alice")
    ids = _tracks(alice.user_id, 3)
    pid = _playlist(alice, "Set", ids)
    page = alice.get(f"/playlists/{pid}").text
    assert "data-sortable" in page and 'class="drag-handle"' in page
    assert f'hx-put="/playlists/{pid}/order"' in page and 'hx-trigger="reordered"' in page
    assert page.count('class="drag-handle"') == 3 and "3 tracks · 15:00" in page
    for fmt in ("rekordbox", "nml", "m3u8", "csv", "json"):
        assert f'href="/api/playlists/{pid}/export?format={fmt}' in page
    assert f'hx-get="/playlists/{pid}/versions"' in page  # the versions load after the page
    assert "No versions yet" in alice.get(f"/playlists/{pid}/versions").text
    alice.delete(f"/api/playlists/{pid}/tracks/0")
    panel = alice.get(f"/playlists/{pid}/versions").text
    assert "data-restore-version=" in panel and "Artist 0 – Song 0" in panel
    assert alice.get("/static/playlists.js").status_code == 200
    assert alice.get("/static/vendor/Sortable.min.js").status_code == 200


def test_api_duplicate_and_remove_by_position(make_user):
    alice = make_user("alice")
    ids = _tracks(alice.user_id, 3)
    pid = _playlist(alice, "Set", ids)
    r = alice.post(f"/api/playlists/{pid}/duplicate", json={"name": "Copy"})
    assert r.status_code == 201 and r.json()["name"] == "Copy"
    assert [i["track_pk"] for i in r.json()["items"]] == ids
    assert alice.post(f"/api/playlists/{pid}/duplicate").json()["name"] == "Set (copy)"
    r = alice.delete(f"/api/playlists/{pid}/tracks/1")
    assert r.status_code == 200 and [i["track_pk"] for i in r.json()["items"]] == [ids[0], ids[2]]
    r = alice.delete(f"/api/playlists/{pid}/tracks/5")
    assert r.status_code == 404 and r.json()["code"] == "not_found"


def test_another_users_playlist_answers_404(make_user):
    alice, bob = make_user("alice"), make_user("bob")
    ids = _tracks(alice.user_id, 2)
    pid = _playlist(alice, "Mine", ids)
    alice.delete(f"/api/playlists/{pid}/tracks/0")
    vid = alice.get(f"/api/playlists/{pid}/versions").json()[0]["id"]
    attempts = [
        bob.get(f"/playlists/{pid}"),
        bob.get(f"/playlists/{pid}/versions"),
        bob.post(f"/playlists/{pid}/edit", data={"name": "x"}),
        bob.post(f"/playlists/{pid}/duplicate"),
        bob.post(f"/playlists/{pid}/delete"),
        bob.put(f"/playlists/{pid}/order", data={"track_pk": ids[1:]}, headers=HX),
        bob.post(f"/playlists/{pid}/items/0/remove", headers=HX),
        bob.post(f"/playlists/{pid}/items/0/move", data={"to": 0}, headers=HX),
        bob.post(f"/playlists/{pid}/versions/{vid}/restore", headers=HX),
        bob.post(f"/api/playlists/{pid}/duplicate"),
        bob.delete(f"/api/playlists/{pid}/tracks/0"),
    ]
    assert [r.status_code for r in attempts] == [404] * len(attempts)
    assert _order(alice, pid) == ids[1:] and alice.get(f"/api/playlists/{pid}").json()["name"] == "Mine"


def test_pages_need_a_sign_in(client):
    assert client.get("/playlists", headers={"accept": "text/html"}, follow_redirects=False).status_code == 303
    assert client.post("/playlists", data={"name": "x"}).status_code == 401
    assert client.post("/playlists/add", data={"playlist_id": "new", "track_pk": [1]}).status_code == 401
