"""The assist API: suggestions (create, list, accept with edits, reject), search parsing, prompt templates,
source statuses; the `openai` client pointed at the local fake."""

from __future__ import annotations

import logging


from services.common import db
from services.common.models import Library, Track
from tests.fakes.openai_server import COMPLETIONS




def make_tracks(owner_id: int, count: int = 2) -> list[int]:
    with db.session_scope() as s:
        lib = Library(owner_id=owner_id, name=f"Crate {owner_id}")
        s.add(lib)
        s.flush()
        rows = [Track(track_id=f"7-A{n}", library_id=lib.id, release_id=7, title=f"Night Drive {n}", artist="Moodymann",
                      genres=["Electronic"], styles=[], tags=[]) for n in range(count)]
        s.add_all(rows)
        s.flush()
        return [t.id for t in rows]


def track_row(pk: int) -> Track:
    with db.session_scope() as s:
        track = s.get(Track, pk)
        s.expunge(track)
        return track


def test_suggest_review_accept_and_reject(make_user, fake_openai):
    dj = make_user("dj")
    first, second = make_tracks(dj.user_id)
    r = dj.post(f"/api/tracks/{first}/suggestions")
    assert r.status_code == 201, r.text
    suggestion = r.json()
    assert suggestion["status"] == "pending" and suggestion["track_pk"] == first
    assert suggestion["fields"] == {"genres": ["Electronic"], "styles": ["Deep House"], "moods": ["warm"],
                                    "note": "Rolling groove for the first hour."}
    assert track_row(first).styles == []  # stored, not applied

    r = dj.post("/api/suggestions/batch", json={"track_pks": [second]})
    assert r.status_code == 201 and [s["track_pk"] for s in r.json()["items"]] == [second]
    listed = dj.get("/api/suggestions").json()["items"]
    assert {s["track_pk"] for s in listed} == {first, second}
    assert listed[0]["track"]["title"].startswith("Night Drive")

    r = dj.post(f"/api/suggestions/{suggestion['id']}/accept", json={"moods": ["late night", "smoky"], "note": ""})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "accepted" and r.json()["track"]["tags"] == ["late night", "smoky"]
    track = track_row(first)
    assert track.styles == ["Deep House"] and track.tags == ["late night", "smoky"] and track.notes is None

    other = next(s for s in listed if s["track_pk"] == second)
    r = dj.post(f"/api/suggestions/{other['id']}/reject")
    assert r.status_code == 200 and r.json()["status"] == "rejected"
    assert track_row(second).styles == [] and track_row(second).tags == []
    assert dj.get("/api/suggestions").json()["items"] == []
    assert len(dj.get("/api/suggestions?status=all").json()["items"]) == 2
    r = dj.post(f"/api/suggestions/{other['id']}/accept")
    assert r.status_code == 409 and r.json()["code"] == "suggestion_decided"


def test_bad_requests_are_clear_4xx(make_user, fake_openai):
    dj = make_user("dj")
    (pk,) = make_tracks(dj.user_id, 1)
    sid = dj.post(f"/api/tracks/{pk}/suggestions").json()["id"]
    r = dj.post(f"/api/suggestions/{sid}/accept", json={"genres": ["x" * 101]})
    assert r.status_code == 422 and "100 characters" in r.json()["detail"]
    r = dj.post(f"/api/suggestions/{sid}/accept", json={"bpm": 128})
    assert r.status_code == 422
    r = dj.post("/api/suggestions/batch", json={"track_pks": list(range(1, 52))})
    assert r.status_code == 422
    assert dj.get("/api/suggestions?status=maybe").status_code == 422
    assert dj.post("/api/tracks/999999/suggestions").status_code == 404
    # Someone else's suggestion and track do not exist for you.
    pal = make_user("pal")
    assert pal.post(f"/api/suggestions/{sid}/accept").status_code == 404
    assert pal.post(f"/api/tracks/{pk}/suggestions").status_code == 404
    assert pal.get("/api/suggestions").json()["items"] == []


def test_not_configured_is_409_with_the_reason(make_user, no_openai):
    dj = make_user("dj")
    (pk,) = make_tracks(dj.user_id, 1)
    for r in (dj.post(f"/api/tracks/{pk}/suggestions"), dj.get("/api/search/parse", params={"text": "techno"})):
        assert r.status_code == 409
        assert r.json()["code"] == "source_not_configured" and "OPENAI_API_KEY" in r.json()["detail"]


def test_openai_failures_are_503_without_the_key(make_user, fake_openai, caplog):
    dj = make_user("dj")
    (pk,) = make_tracks(dj.user_id, 1)
    caplog.set_level(logging.DEBUG)
    fake_openai.fault(COMPLETIONS, "500", "500", "500")
    r = dj.post(f"/api/tracks/{pk}/suggestions")
    assert r.status_code == 503 and r.json()["code"] == "source_failed"
    assert "OpenAI answered HTTP 500 (gave up after 3 attempts)" == r.json()["detail"]
    fake_openai.fault(COMPLETIONS, "content:schema")
    r = dj.post(f"/api/tracks/{pk}/suggestions")
    assert r.status_code == 503 and r.json()["code"] == "assist_malformed"
    assert dj.get("/api/suggestions").json()["items"] == []
    assert fake_openai.api_key not in caplog.text


def test_search_parse(make_user, fake_openai):
    dj = make_user("dj")
    fake_openai.reply({"q": "", "bpm_min": 126, "bpm_max": 130, "half_double": False, "key": None,
                       "compatible_with": "8A", "energy_min": 7, "energy_max": None, "genre": [],
                       "style": ["Techno"], "year_min": None, "year_max": None})
    r = dj.get("/api/search/parse", params={"text": "peak time techno 126-130 that mixes with 8A"})
    assert r.status_code == 200, r.text
    assert r.json() == {"bpm_min": 126, "bpm_max": 130, "compatible_with": "8A", "energy_min": 7, "style": ["Techno"]}
    # The structured query is what the search endpoint takes.
    assert dj.get("/api/tracks/search", params=r.json()).status_code == 200

    fake_openai.reply({"q": "", "bpm_min": 140, "bpm_max": 120, "half_double": False, "key": None,
                       "compatible_with": None, "energy_min": None, "energy_max": None, "genre": [], "style": [],
                       "year_min": None, "year_max": None})
    r = dj.get("/api/search/parse", params={"text": "fast then slow"})
    assert r.status_code == 503 and r.json()["code"] == "assist_malformed"
    assert "bpm_min must be <= bpm_max" in r.json()["detail"]
    assert dj.get("/api/search/parse", params={"text": " "}).status_code == 422
    assert dj.get("/api/search/parse").status_code == 422


def test_prompt_templates_api(make_user, fake_openai):
    admin = make_user("boss", is_admin=True)
    dj = make_user("dj")
    listed = dj.get("/api/settings/prompts").json()
    assert {p["name"] for p in listed} == {"suggest_system", "suggest_user", "parse_system", "parse_user"}
    r = dj.put("/api/settings/prompts/suggest_user", json={"text": "{tracks}"})
    assert r.status_code == 403
    r = admin.put("/api/settings/prompts/suggest_user", json={"text": "Tag {tracks} in {language}"})
    assert r.status_code == 422 and r.json()["code"] == "unknown_placeholder"
    assert "{language}" in r.json()["detail"]
    r = admin.put("/api/settings/prompts/suggest_user", json={"text": "Tag these, be brief:\n{tracks}"})
    assert r.status_code == 200 and r.json()["overridden"] is True
    (pk,) = make_tracks(dj.user_id, 1)
    dj.post(f"/api/tracks/{pk}/suggestions")
    assert fake_openai.bodies[-1]["messages"][1]["content"].startswith("Tag these, be brief:\n[")
    assert dj.delete("/api/settings/prompts/suggest_user").status_code == 403
    r = admin.delete("/api/settings/prompts/suggest_user")
    assert r.status_code == 200 and r.json()["overridden"] is False and r.json()["text"] == r.json()["default"]
    assert admin.put("/api/settings/prompts/nope", json={"text": "x"}).status_code == 404


def test_source_statuses(make_user, no_openai):
    dj = make_user("dj")
    r = dj.get("/api/settings/sources")
    assert r.status_code == 200
    by_name = {s["name"]: s for s in r.json()}
    assert {"apple", "spotify", "youtube", "openai", "discogs"} <= set(by_name)
    assert by_name["openai"]["configured"] is False and "OPENAI_API_KEY" in by_name["openai"]["reason"]


def test_everything_needs_a_sign_in(client):
    for method, path in [("post", "/api/tracks/1/suggestions"), ("post", "/api/suggestions/batch"),
                         ("get", "/api/suggestions"), ("post", "/api/suggestions/1/accept"),
                         ("post", "/api/suggestions/1/reject"), ("get", "/api/search/parse?text=x"),
                         ("get", "/api/settings/sources"), ("get", "/api/settings/prompts"),
                         ("put", "/api/settings/prompts/parse_user"), ("delete", "/api/settings/prompts/parse_user")]:
        assert getattr(client, method)(path).status_code == 401, path
