"""HTTP contract: responses, select-mode constraints and 422s for bad input."""

from __future__ import annotations

import math

import pytest
from fastapi.testclient import TestClient

from services.common.settings import get_settings
from services.ga_service.app import create_app
from tests.conftest import SERVICE_HEADERS
from tests.ga_service.helpers import make_tracks


@pytest.fixture(scope="module")
def client():
    # No `with`: the lifespan (process pool) does not start, islands run in-process.
    return TestClient(create_app(), headers=SERVICE_HEADERS)


def post(client, mode="order", tracks=None, **options):
    body = {"mode": mode, "tracks": tracks if tracks is not None else make_tracks(12, 1), "options": options}
    return client.post("/generate", json=body)


def test_health(client):
    body = client.get("/health").json()
    assert body["status"] == "ok"
    assert {"workers", "running"} <= set(body["pool"])


def test_order_response_breakdown(client):
    tracks = make_tracks(12, 1)
    r = post(client, tracks=tracks, energy_curve="peak", seed=1)
    assert r.status_code == 200, r.text
    body = r.json()
    assert sorted(body["order"]) == sorted(t["id"] for t in tracks)
    assert len(body["transitions"]) == 11
    t = body["transitions"][0]
    assert t["from_id"] == body["order"][0] and t["to_id"] == body["order"][1]
    assert t["key_label"] and "→" in t["key_label"]
    assert t["tempo_mode"] in {"normal", "half", "double"}
    assert body["score"] == pytest.approx(sum(body["score_terms"].values()), abs=1e-4)
    assert len(body["energy_targets"]) == 12
    assert body["search"]["algorithm"] == "ga+local_search"
    assert body["search"]["stopped"] in {"converged", "generations"}
    assert body["search"]["local_optimum"] is True


def test_half_double_time_reported(client):
    tracks = [
        {"id": "a", "bpm": 87.0, "camelot": "8A"},
        {"id": "b", "bpm": 174.0, "camelot": "8A"},
    ]
    body = post(client, tracks=tracks, first_id="a").json()
    assert body["transitions"][0]["tempo_mode"] == "half"  # b is mixed in at half its tempo
    assert body["transitions"][0]["bpm_delta"] == 0.0
    assert body["transitions"][0]["key_label"] == "8A → 8A (0)"


def test_select_count_and_fixed_ends(client):
    tracks = make_tracks(60, 2)
    r = post(client, "select", tracks, count=10, first_id="t7", last_id="t3", energy_curve="rising")
    assert r.status_code == 200, r.text
    order = r.json()["order"]
    assert len(order) == 10 and len(set(order)) == 10
    assert order[0] == "t7" and order[-1] == "t3"


def test_select_minutes(client):
    tracks = make_tracks(60, 3)
    dur = {t["id"]: t["duration"] for t in tracks}
    body = post(client, "select", tracks, minutes=45).json()
    total = sum(dur[i] for i in body["order"])
    assert total >= 45 * 60
    # The count is estimated from the median duration and re-solved when short or over by a track.
    assert total <= 45 * 60 + 2 * max(dur.values())
    assert body["total_duration_s"] == pytest.approx(total)


def test_select_bpm_range_filters_pool(client):
    tracks = make_tracks(60, 4)
    body = post(client, "select", tracks, count=8, bpm_min=120, bpm_max=130).json()
    bpm = {t["id"]: t["bpm"] for t in tracks}
    assert all(120 <= bpm[i] <= 130 for i in body["order"])


def test_greedy_mode(client):
    r = post(client, "greedy", make_tracks(40, 5))
    assert r.status_code == 200
    assert r.json()["search"]["algorithm"] == "greedy+2opt"
    r = post(client, "greedy", make_tracks(40, 5), count=6)
    assert len(r.json()["order"]) == 6


def test_unanalyzed_tracks_are_neutral_and_reported(client):
    tracks = [{"id": "x"}, {"id": "y", "bpm": 124, "camelot": "5A", "energy": 0.5}, {"id": "z", "bpm": 125}]
    body = post(client, tracks=tracks).json()
    assert set(body["unanalyzed"]) == {"x", "z"}
    neutral = [t for t in body["transitions"] if "x" in (t["from_id"], t["to_id"])]
    assert all({"tempo", "key"} <= set(t["neutral"]) for t in neutral)


def test_single_track(client):
    body = post(client, tracks=[{"id": "solo", "bpm": 120}]).json()
    assert body["order"] == ["solo"] and body["transitions"] == []


@pytest.mark.parametrize(
    ("mutate", "options", "mode", "needle"),
    [
        (lambda t: t[0].update(bpm=-120), {}, "order", "bpm"),
        (lambda t: t[0].update(bpm=0), {}, "order", "bpm"),
        (lambda t: t[0].update(camelot="13Z"), {}, "order", "unknown key"),
        (lambda t: t[0].update(camelot=None, key="H", scale="minor"), {}, "order", "unknown key"),
        (lambda t: t[1].update(id="t0"), {}, "order", "duplicate"),
        (lambda t: t[0].update(energy=1.5), {}, "order", "energy"),
        (lambda t: None, {"first_id": "t1", "last_id": "t1"}, "order", "different"),
        (lambda t: None, {"first_id": "nope"}, "order", "not among"),
        (lambda t: None, {"count": 50}, "select", "larger than the pool"),
        (lambda t: None, {}, "select", "count or options.minutes"),
        (lambda t: None, {"minutes": 600}, "select", "less than"),
        (lambda t: None, {"count": 5}, "order", "select mode"),
        (lambda t: None, {"count": 10, "bpm_min": 200, "bpm_max": 210}, "select", "BPM range"),
        (lambda t: None, {"bpm_min": 130, "bpm_max": 120}, "order", "bpm_min"),
        (lambda t: None, {"pitch_range_pct": -1}, "order", "pitch_range_pct"),
    ],
)
def test_bad_input_is_422(client, mutate, options, mode, needle):
    tracks = make_tracks(12, 6)
    mutate(tracks)
    r = post(client, mode, tracks, **options)
    assert r.status_code == 422, r.text
    assert needle.lower() in r.text.lower()


def test_nan_bpm_is_422(client):
    tracks = make_tracks(3, 1)
    tracks[0]["bpm"] = math.nan  # httpx refuses NaN in JSON; send the raw literal Python's json allows
    import json

    body = json.dumps({"tracks": tracks})
    r = client.post("/generate", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 422
    assert "finite" in r.text.lower()
    body = r.json()
    assert body["code"] == "invalid" and body["errors"][0]["loc"] == ["body", "tracks", 0, "bpm"]


def test_too_many_tracks_is_422(monkeypatch):
    monkeypatch.setenv("GA_MAX_TRACKS", "5")
    get_settings.cache_clear()
    try:
        small = TestClient(create_app(), headers=SERVICE_HEADERS)
        r = small.post("/generate", json={"tracks": make_tracks(6, 1)})
    finally:
        get_settings.cache_clear()
    assert r.status_code == 422
    assert r.json() == {"detail": "6 tracks is more than the maximum of 5 (GA_MAX_TRACKS)", "code": "invalid"}


def test_generate_needs_the_service_token():
    anonymous = TestClient(create_app())
    assert anonymous.get("/health").status_code == 200
    r = anonymous.post("/generate", json={"tracks": make_tracks(4, 1)})
    assert r.status_code == 401
    wrong = TestClient(create_app(), headers={"Authorization": "Bearer nope"})
    assert wrong.post("/generate", json={"tracks": make_tracks(4, 1)}).status_code == 401
    assert anonymous.get("/openapi.json").status_code == 401
