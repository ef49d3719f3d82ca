"""The web app's set building, against the real set builder service running as a process."""

from __future__ import annotations

from pathlib import Path

from services.common import db
from services.common.models import Library, Track
from services.common.settings import get_settings
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]


# (title, artist, bpm, camelot, energy 1-10)
TRACKS = [
    ("Opener", "A", 120.0, "8A", 3.0),
    ("Clash", "B", 128.0, "3B", 8.0),
    ("Next", "C", 121.0, "9A", 4.0),
    ("Relative", "D", 122.0, "9B", 5.0),
    ("Peak", "E", 124.0, "10B", 7.0),
    ("Halftime", "F", 62.0, "10B", 6.0),
]


def _tracks(owner_id: int) -> list[int]:
    with db.session_scope() as s:
        lib = Library(owner_id=owner_id, name="Crates", discogs_username="crates")
        s.add(lib)
        s.flush()
        rows = [Track(track_id=f"1-A{i}", library_id=lib.id, title=t, artist=a, bpm=b, camelot=c, energy=e,
                      duration_seconds=300.0) for i, (t, a, b, c, e) in enumerate(TRACKS)]
        s.add_all(rows)
        s.flush()
        return [r.id for r in rows]


def _transition_scores(result: dict) -> list[float]:
    return [t["score"] for t in result["transitions"]]


def test_reorder_saves_version_and_restores(make_user, ga_env):
    alice = make_user("alice")
    ids = _tracks(alice.user_id)
    pid = alice.post("/api/playlists", json={"name": "Set", "track_pks": ids}).json()["id"]
    r = alice.post(f"/api/playlists/{pid}/generate",
                   json={"mode": "order", "options": {"seed": 1, "time_budget_s": 3, "first_track_pk": ids[0]}})
    assert r.status_code == 200, r.text
    body = r.json()
    order = [int(i) for i in body["result"]["order"]]
    assert sorted(order) == sorted(ids) and order[0] == ids[0]
    stored = [i["track_pk"] for i in alice.get(f"/api/playlists/{pid}").json()["items"]]
    assert stored == order
    # The clashing 3B track is not mixed straight out of the 8A opener, and 8A -> 9A comes early.
    assert order[1] != ids[1]
    labels = [t["key_label"] for t in body["result"]["transitions"]]
    assert any(label and label.startswith("8A → 9A") for label in labels)
    versions = alice.get(f"/api/playlists/{pid}/versions").json()
    assert versions[0]["track_pks"] == ids
    assert alice.post(f"/api/playlists/{pid}/versions/{versions[0]['id']}/restore").status_code == 204
    assert [i["track_pk"] for i in alice.get(f"/api/playlists/{pid}").json()["items"]] == ids


def test_preview_does_not_change_playlist(make_user, ga_env):
    alice = make_user("alice")
    ids = _tracks(alice.user_id)
    pid = alice.post("/api/playlists", json={"name": "Set", "track_pks": ids}).json()["id"]
    r = alice.post(f"/api/playlists/{pid}/generate", json={"mode": "greedy", "save": False})
    assert r.status_code == 200
    assert r.json()["version_id"] is None
    assert r.json()["result"]["search"]["algorithm"].startswith("greedy")
    assert [i["track_pk"] for i in alice.get(f"/api/playlists/{pid}").json()["items"]] == ids


def test_extend_adds_tracks_after_the_last(make_user, ga_env):
    alice = make_user("alice")
    ids = _tracks(alice.user_id)
    pid = alice.post("/api/playlists", json={"name": "Set", "track_pks": ids[:2]}).json()["id"]
    r = alice.post(f"/api/playlists/{pid}/generate",
                   json={"extend_with": ids[2:], "add_count": 2, "options": {"seed": 3, "time_budget_s": 2}})
    assert r.status_code == 200, r.text
    stored = [i["track_pk"] for i in alice.get(f"/api/playlists/{pid}").json()["items"]]
    assert stored[:2] == ids[:2]
    assert len(stored) == 4 and set(stored[2:]) <= set(ids[2:])
    too_many = alice.post(f"/api/playlists/{pid}/generate", json={"extend_with": ids[4:], "add_count": 5})
    assert too_many.status_code == 422


def test_build_set_from_search_results_saves_playlist(make_user, ga_env):
    alice = make_user("alice")
    ids = _tracks(alice.user_id)
    r = alice.post("/api/sets/build", json={"track_pks": ids, "mode": "select", "count": 4, "name": "Warm-up",
                                            "options": {"energy_curve": "rising", "seed": 7, "time_budget_s": 2}})
    assert r.status_code == 200, r.text
    body = r.json()
    assert len(body["result"]["order"]) == 4
    playlist = alice.get(f"/api/playlists/{body['playlist_id']}").json()
    assert playlist["name"] == "Warm-up"
    energies = [i["energy"] for i in playlist["items"]]
    assert energies[-1] >= energies[0]  # rising curve


def test_bad_input_is_422_or_404(make_user, ga_env):
    alice, bob = make_user("alice"), make_user("bob")
    ids = _tracks(alice.user_id)
    assert alice.post("/api/sets/build", json={"track_pks": [ids[0], ids[0]], "mode": "order"}).status_code == 422
    assert alice.post("/api/sets/build", json={"track_pks": ids, "mode": "select"}).status_code == 422
    assert alice.post("/api/sets/build", json={"track_pks": ids, "mode": "select", "count": 99}).status_code == 422
    r = alice.post("/api/sets/build", json={"track_pks": ids, "mode": "order",
                                            "options": {"first_track_pk": ids[0], "last_track_pk": ids[0]}})
    assert r.status_code == 422
    assert bob.post("/api/sets/build", json={"track_pks": ids, "mode": "order"}).status_code == 404
    pid = alice.post("/api/playlists", json={"name": "One", "track_pks": ids[:1]}).json()["id"]
    assert alice.post(f"/api/playlists/{pid}/generate", json={}).status_code == 422
    assert alice.post(f"/api/playlists/{pid}/generate", json={"add_count": 2}).status_code == 422
    assert bob.post(f"/api/playlists/{pid}/generate", json={}).status_code == 404


def test_set_builder_down_is_503(make_user, monkeypatch):
    alice = make_user("alice")
    ids = _tracks(alice.user_id)
    monkeypatch.setenv("GA_SERVICE_URL", f"http://127.0.0.1:{free_port()}")
    get_settings.cache_clear()
    try:
        r = alice.post("/api/sets/build", json={"track_pks": ids, "mode": "order"})
    finally:
        get_settings.cache_clear()
    assert r.status_code == 503
    assert "unavailable" in r.json()["detail"]


def test_playlist_page_draws_curve_and_camelot_path(make_user, ga_env):
    alice = make_user("alice")
    ids = _tracks(alice.user_id)
    pid = alice.post("/api/playlists", json={"name": "Drawn", "track_pks": ids}).json()["id"]
    page = alice.get(f"/playlists/{pid}")
    assert page.status_code == 200
    assert 'class="set-curve"' in page.text and 'class="camelot-path"' in page.text
    assert page.text.count('<polyline class="bpm"') == 1
    assert "8A → 3B" in page.text  # the clash is shown where it happens
    r = alice.post(f"/playlists/{pid}/generate", data={"mode": "order", "energy_curve": "rising", "seed": "2"},
                   headers={"origin": "http://testserver"})
    assert r.status_code == 200
    assert 'id="set-panel"' in r.text
    assert len(alice.get(f"/api/playlists/{pid}/versions").json()) == 1
    bad = alice.post(f"/playlists/{pid}/generate", data={"mode": "order", "energy_curve": "zigzag"})
    assert bad.status_code == 422
    assert "error" in bad.text
