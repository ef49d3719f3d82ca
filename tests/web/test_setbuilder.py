"""The web app's set building, against the real set builder service running as a process."""

from __future__ import annotations

from pathlib import Path

import pytest

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
    assert versions[0]["reason"] == "before building the set (best order)"  # words a DJ reads under Versions
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
    assert "set score" in playlist["description"]
    energies = [i["energy"] for i in playlist["items"]]
    assert energies == sorted(energies)  # rising curve
    summary = body["summary"]
    assert [e["energy"] for e in summary["energy"]] == energies
    assert all(e["target"] is not None for e in summary["energy"])
    assert summary["total_duration_s"] == 4 * 300 and summary["durations_unknown"] == 0
    assert summary["set_score"] is not None and summary["unanalysed"] == [] and summary["unanalysed_note"] is None


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
    assert "key clash (8A→3B)" in page.text  # the clash is shown where it happens, in words
    assert 'class="energy-target"' not in page.text  # no curve asked for yet
    r = alice.post(f"/playlists/{pid}/generate", data={"mode": "order", "energy_curve": "rising", "seed": "2"},
                   headers={"origin": "http://testserver"})
    assert r.status_code == 200
    assert 'id="set-panel"' in r.text
    assert len(alice.get(f"/api/playlists/{pid}/versions").json()) == 1
    # The curve the set was built for is drawn dashed under the actual energy, point by point.
    assert r.text.count('<polyline class="energy-target"') == 1
    assert r.text.count('class="energy-target-point"') == len(ids)
    assert "target energy 3.0, actual 3.0" in r.text  # the calmest track opens a rising set
    bad = alice.post(f"/playlists/{pid}/generate", data={"mode": "order", "energy_curve": "zigzag"})
    assert bad.status_code == 422  # a short message the page's error handler shows next to the form
    assert bad.headers["content-type"].startswith("application/json") and "energy_curve" in bad.json()["detail"]
    bad = alice.post(f"/playlists/{pid}/generate", data={"mode": "shuffle"})
    assert bad.status_code == 422 and "order or greedy" in bad.json()["detail"]
    bad = alice.post(f"/playlists/{pid}/generate", data={"unanalysed": "first"})
    assert bad.status_code == 422 and "unanalysed" in bad.json()["detail"]
    bad = alice.post(f"/playlists/{pid}/generate", data={"curve_strength": "total"})
    assert bad.status_code == 422 and "loose, balanced, strict" in bad.json()["detail"]


def _unanalysed(owner_id: int, specs: list[tuple[str, float | None, str | None, float | None, float | None]]) -> list[int]:
    """Tracks (title, bpm, camelot, energy, duration) in a new library; None = not analysed / unknown."""
    with db.session_scope() as s:
        lib = Library(owner_id=owner_id, name="Raw", discogs_username="raw")
        s.add(lib)
        s.flush()
        rows = [Track(track_id=f"2-B{i}", library_id=lib.id, title=t, artist=f"Raw {i}", bpm=b, camelot=c, energy=e,
                      duration_seconds=d) for i, (t, b, c, e, d) in enumerate(specs)]
        s.add_all(rows)
        s.flush()
        return [r.id for r in rows]


def test_unanalysed_tracks_are_put_at_the_end_and_said_so(make_user, ga_env):
    alice = make_user("alice")
    raw = _unanalysed(alice.user_id, [("Fresh Rip", None, None, None, None), ("No Key", 123.0, None, 5.0, 240.0)])
    ids = _tracks(alice.user_id)
    pid = alice.post("/api/playlists", json={"name": "Mixed", "track_pks": raw + ids}).json()["id"]
    r = alice.post(f"/api/playlists/{pid}/generate",
                   json={"options": {"energy_curve": "rising", "seed": 1, "time_budget_s": 3}})
    assert r.status_code == 200, r.text
    summary = r.json()["summary"]
    stored = [i["track_pk"] for i in alice.get(f"/api/playlists/{pid}").json()["items"]]
    assert stored[-2:] == raw  # after the analysed tracks, in their previous order
    assert summary["unanalysed"] == [
        {"track_pk": raw[0], "title": "Fresh Rip", "missing": ["bpm", "key", "energy"], "position": 6},
        {"track_pk": raw[1], "title": "No Key", "missing": ["key"], "position": 7},
    ]
    assert summary["unanalysed_note"] == (
        "2 tracks lack analysis, so the set builder put them after the analysed tracks (#7–#8, in their previous "
        "order): “Fresh Rip” (no BPM, key or energy), “No Key” (no key)."
    )
    # Energy against the curve (1-10): targets for the analysed tracks, none for the two at the end.
    energy = summary["energy"]
    assert [e["track_pk"] for e in energy] == stored
    assert all(e["target"] is not None for e in energy[:6]) and [e["target"] for e in energy[6:]] == [None, None]
    levels = [e["energy"] for e in energy[:6]]
    dips = [a - b for a, b in zip(levels, levels[1:], strict=False) if b < a]
    assert len(dips) <= 1 and all(d <= 1 for d in dips), levels  # "rising" rises
    assert energy[0]["target"] == 3.0 and energy[5]["target"] == 8.0
    # Duration and set score on the page's scale.
    assert summary["total_duration_s"] == 6 * 300 + 240 and summary["durations_unknown"] == 1
    scores = [t["mix"]["score"] for t in summary["transitions"]]
    assert len(scores) == 7 and all(0 <= x <= 100 for x in scores)
    assert summary["set_score"] == pytest.approx(sum(scores) / 7, abs=0.05)
    assert "0-100" in summary["score_scale"]
    into_raw = summary["transitions"][5]
    assert into_raw["to_track_pk"] == raw[0] and into_raw["mix"]["verdict"] == "Unknown"

    page = alice.get(f"/playlists/{pid}").text  # a stored set: the note says where they are
    assert "2 tracks lack analysis: “Fresh Rip” (#7, no BPM, key or energy), “No Key” (#8, no key)" in page


def test_unanalysed_tracks_can_be_left_out(make_user, ga_env):
    alice = make_user("alice")
    raw = _unanalysed(alice.user_id, [("Fresh Rip", None, None, None, 200.0)])
    ids = _tracks(alice.user_id)[:3]
    pid = alice.post("/api/playlists", json={"name": "Mixed", "track_pks": [*ids[:1], *raw, *ids[1:]]}).json()["id"]
    r = alice.post(f"/playlists/{pid}/generate", data={"mode": "greedy", "unanalysed": "exclude"},
                   headers={"origin": "http://testserver"})
    assert r.status_code == 200, r.text
    assert "Left out for lack of analysis: “Fresh Rip” (no BPM, key or energy)." in r.text
    stored = [i["track_pk"] for i in alice.get(f"/api/playlists/{pid}").json()["items"]]
    assert sorted(stored) == sorted(ids)
    versions = alice.get(f"/api/playlists/{pid}/versions").json()
    assert raw[0] in versions[0]["track_pks"]  # the old order, with it, is kept as a version


def test_set_panel_explains_each_transition(make_user, ga_env):
    alice = make_user("alice")
    ids = _tracks(alice.user_id)
    pid = alice.post("/api/playlists", json={"name": "Explained", "track_pks": ids[:3]}).json()["id"]
    page = alice.get(f"/playlists/{pid}").text
    # Opener (120, 8A) -> Clash (128, 3B) -> Next (121, 9A); 15 min; the scale is explained.
    assert "15:00" in page and "set score" in page and "How the mix score works" in page
    assert ">Rough " in page and "key clash (8A→3B) · +8.0 BPM (6.7%)" in page
    assert "Key: key clash (8A→3B) — 0.00 × weight 1" in page  # the tooltip's breakdown
    assert "Tempo: +8.0 BPM (6.7%) — 0.31 × weight 1" in page
    assert "Energy: energy 3 → 8 (+5)" in page
