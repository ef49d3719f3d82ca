"""The enrichment API: start the auto-match (owner only, 409 for an unconfigured source, 422 for an unknown
one), the review queue (only your tracks), accept / choose another / reject, a link set by hand meanwhile."""

from __future__ import annotations

import uuid

import pytest

from services.common.db import session_scope
from services.common.models import Library
from services.domain.enrichment import jobs as enrichment_jobs
from tests.domain.enrichment import library_fixtures as fx
from tests.domain.enrichment.library_fixtures import STRINGS_372, add_strings_of_life, forget_current_jobs, make_crate

catalog_env, apple_key, clock = fx.catalog_env, fx.apple_key, fx.clock  # fixtures
fake_apple, fake_spotify = fx.fake_apple, fx.fake_spotify


@pytest.fixture
def own_queue(monkeypatch, servers):
    monkeypatch.setattr(enrichment_jobs, "QUEUE", f"enrich-api-{uuid.uuid4().hex[:8]}")
    forget_current_jobs()


@pytest.fixture
def alice(make_user, fake_apple, fake_spotify):
    add_strings_of_life(fake_apple)
    client = make_user("alice")
    client.crate = make_crate(user_id=client.user_id)
    return client


def matched(alice) -> None:
    """Run the auto-match in-process, as the worker would."""
    enrichment_jobs.enrich_library_job(alice.crate.library_id, ["apple", "spotify"], alice.user_id)


def test_start_queues_a_job_listed_in_the_job_center(alice, own_queue):
    r = alice.post(f"/api/libraries/{alice.crate.library_id}/enrich?sources=apple,spotify")
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["created"] and body["sources"] == ["apple", "spotify"] and body["status"] == "queued"
    job = alice.get(f"/api/jobs/{body['job_id']}").json()
    assert job["kind"] == "enrichment" and job["library_id"] == alice.crate.library_id
    assert "Apple Music, Spotify" in job["description"]
    listed = alice.get("/api/jobs", params={"kind": "enrichment"}).json()
    assert listed[0]["id"] == body["job_id"]  # newest first


def test_start_refuses_unknown_and_unconfigured_sources(alice, own_queue, monkeypatch):
    lib = alice.crate.library_id
    r = alice.post(f"/api/libraries/{lib}/enrich?sources=apple,tidal")
    assert r.status_code == 422 and r.json()["code"] == "unknown_source" and "tidal" in r.json()["detail"]

    from services.common.settings import get_settings

    monkeypatch.delenv("SPOTIFY_CLIENT_ID")
    get_settings.cache_clear()
    r = alice.post(f"/api/libraries/{lib}/enrich?sources=apple,spotify")
    assert r.status_code == 409 and r.json()["code"] == "source_not_configured"
    assert "SPOTIFY_CLIENT_ID" in r.json()["detail"]
    sources = {s["name"]: s for s in alice.get("/api/enrichment/sources").json()}
    assert sources["apple"]["configured"] and not sources["spotify"]["configured"]
    assert "SPOTIFY_CLIENT_ID" in sources["spotify"]["reason"]


def test_only_the_owner_of_a_writable_library_can_start(alice, make_user, own_queue):
    lib = alice.crate.library_id
    bob = make_user("bob")
    assert bob.post(f"/api/libraries/{lib}/enrich?sources=apple").status_code == 404
    with session_scope() as s:
        friend = Library(owner_id=alice.user_id, name="pal's collection", is_friend=True, discogs_username="pal")
        s.add(friend)
        s.flush()
        friend_id = friend.id
    r = alice.post(f"/api/libraries/{friend_id}/enrich?sources=apple")
    assert r.status_code == 403 and r.json()["code"] == "forbidden"


def test_review_queue_lists_the_uncertain_match_with_candidates_and_evidence(alice):
    matched(alice)
    page = alice.get("/api/enrichment/review", params={"library_id": alice.crate.library_id}).json()
    assert page["total"] == 1
    (item,) = page["items"]
    assert item["source"] == "apple" and item["source_label"] == "Apple Music" and item["status"] == "pending"
    assert item["track"]["title"] == "Strings Of Life" and item["track"]["current_url"] is None
    assert [c["index"] for c in item["candidates"]] == [0, 1]
    best = item["candidates"][0]
    assert best["url"] == STRINGS_372 and 0.5 <= best["score"] < 0.86
    assert "Duration differs by 13 s" in best["explanation"]
    assert alice.get("/api/enrichment/review", params={"source": "spotify"}).json()["total"] == 0
    assert alice.get("/api/enrichment/review", params={"source": "tidal"}).status_code == 422
    assert alice.get("/api/enrichment/review", params={"limit": 0}).status_code == 422
    assert alice.get(f"/api/enrichment/review/{item['id']}").json()["id"] == item["id"]


def test_choose_another_candidate_sets_the_link_as_matched(alice):
    matched(alice)
    (item,) = alice.get("/api/enrichment/review").json()["items"]
    other = item["candidates"][1]["url"]
    assert alice.post(f"/api/enrichment/review/{item['id']}/accept", json={"candidate_index": 5}).status_code == 422
    r = alice.post(f"/api/enrichment/review/{item['id']}/accept", json={"candidate_index": 1})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "accepted" and r.json()["chosen_index"] == 1
    track = alice.get(f"/api/tracks/{item['track']['id']}").json()
    assert track["apple_music_url"] == other and track["link_origins"]["apple_music_url"] == "matched"
    assert "(matched)" in alice.get(f"/tracks/{item['track']['id']}").text
    again = alice.post(f"/api/enrichment/review/{item['id']}/reject")
    assert again.status_code == 409 and again.json()["code"] == "review_decided"
    assert alice.get("/api/enrichment/review").json()["total"] == 0


def test_accept_without_a_body_takes_the_best_and_reject_leaves_the_link_empty(alice):
    matched(alice)
    (item,) = alice.get("/api/enrichment/review").json()["items"]
    r = alice.post(f"/api/enrichment/review/{item['id']}/accept")
    assert r.status_code == 200 and r.json()["track"]["current_url"] == STRINGS_372
    assert r.json()["track"]["link_origin"] == "matched"


def test_reject_leaves_the_link_empty(alice):
    matched(alice)
    (item,) = alice.get("/api/enrichment/review").json()["items"]
    r = alice.post(f"/api/enrichment/review/{item['id']}/reject")
    assert r.status_code == 200 and r.json()["status"] == "rejected"
    assert alice.get(f"/api/tracks/{item['track']['id']}").json()["apple_music_url"] is None


def test_a_link_set_by_hand_meanwhile_is_kept_with_409(alice):
    matched(alice)
    (item,) = alice.get("/api/enrichment/review").json()["items"]
    mine = "https://music.apple.com/us/song/the-one-i-know/99"
    patched = alice.patch(f"/api/tracks/{item['track']['id']}", json={"apple_music_url": mine})
    assert patched.status_code == 200 and patched.json()["link_origins"]["apple_music_url"] == "manual"
    r = alice.post(f"/api/enrichment/review/{item['id']}/accept")
    assert r.status_code == 409 and r.json()["code"] == "link_set_by_hand" and "set by hand" in r.json()["detail"]
    assert alice.get(f"/api/tracks/{item['track']['id']}").json()["apple_music_url"] == mine
    # The next run does not touch it either.
    matched(alice)
    assert alice.get(f"/api/tracks/{item['track']['id']}").json()["apple_music_url"] == mine


def test_another_users_reviews_are_404(alice, make_user):
    matched(alice)
    (item,) = alice.get("/api/enrichment/review").json()["items"]
    bob = make_user("bob")
    assert bob.get("/api/enrichment/review").json() == {"items": [], "total": 0, "limit": 50, "offset": 0}
    assert bob.get("/api/enrichment/review", params={"library_id": alice.crate.library_id}).status_code == 404
    for path in (f"/api/enrichment/review/{item['id']}", ):
        assert bob.get(path).status_code == 404
    for action in ("accept", "reject"):
        r = bob.post(f"/api/enrichment/review/{item['id']}/{action}")
        assert r.status_code == 404 and r.json()["code"] == "not_found"
    assert alice.get("/api/enrichment/review").json()["total"] == 1


def test_every_enrichment_route_needs_auth(client):
    for method, path in (("post", "/api/libraries/1/enrich"), ("get", "/api/enrichment/review"),
                         ("get", "/api/enrichment/sources"), ("post", "/api/enrichment/review/1/accept"),
                         ("post", "/api/enrichment/review/1/reject")):
        assert getattr(client, method)(path).status_code == 401, path
