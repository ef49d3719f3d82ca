"""Similar tracks, playlist suggestions and vibe search over HTTP (API and UI fragments): auth, other users'
resources 404, bad parameters 422, no embeddings 409; the set builder's extend from the suggestions."""

from __future__ import annotations

import re

from services.common import db
from services.common.models import Library, Track, TrackEmbedding
from services.domain.embeddings import service as embeddings
from tests.domain.embeddings.vector_fixtures import vec

# (title, bpm, camelot, energy, text vector direction)
TRACKS = [("Seed", 124.0, "8A", 5.0, ((0, 1.0),)), ("Adjacent", 125.5, "9A", 6.0, ((0, 1.0), (1, 0.2))),
          ("Clash", 124.0, "3B", 6.0, ((0, 1.0), (1, 0.5))), ("Distant", 124.0, "8A", 5.0, ((2, 1.0),)),
          ("Relative", 123.0, "8B", 6.0, ((0, 1.0), (1, 0.3))), ("Bare", 124.0, "8A", 5.0, None)]


def _crate(owner_id: int, *, embedded: bool = True) -> dict[str, int]:
    model = embeddings.text_model()
    with db.session_scope() as s:
        lib = Library(owner_id=owner_id, name="Crates")
        s.add(lib)
        s.flush()
        rows = {}
        for n, (title, bpm, camelot, energy, direction) in enumerate(TRACKS):
            t = Track(track_id=f"{owner_id}{n}-A1", library_id=lib.id, title=title, artist=f"Artist {n}", bpm=bpm,
                      camelot=camelot, energy=energy, styles=["Deep House"], duration_seconds=300.0)
            s.add(t)
            s.flush()
            if embedded and direction:
                s.add(TrackEmbedding(track_pk=t.id, kind="text", model=model, embedding=vec(*direction),
                                     source_hash="x"))
            rows[title] = t.id
        return rows


def test_similar_api(make_user, client):
    alice, bob = make_user("alice"), make_user("bob")
    ids = _crate(alice.user_id)
    url = f"/api/tracks/{ids['Seed']}/similar"
    assert client.get(url).status_code == 401
    r = alice.get(url, params={"limit": 3})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["track_pk"] == ids["Seed"] and body["models"] == {"text": embeddings.text_model()}
    first = body["items"][0]
    assert first["track"]["title"] == "Adjacent" and first["track"]["library"] == "Crates"
    assert first["reasons"]["bpm_delta"] == 1.5 and first["reasons"]["key_move"] == "adjacent"
    assert first["reasons"]["shared"] == ["Deep House"] and 0.9 < first["reasons"]["similarity"] <= 1
    assert len(body["items"]) == 3
    mixing = alice.get(url, params={"compatible": "true"}).json()["items"]
    assert [h["track"]["title"] for h in mixing] == ["Adjacent", "Relative", "Distant"]
    assert bob.get(url).status_code == 404
    for params in ({"limit": 0}, {"limit": 101}, {"compatible": "maybe"}, {"library_id": "x"}):
        bad = alice.get(url, params=params)
        assert bad.status_code == 422 and bad.json()["code"] == "invalid", params
    assert alice.get(url, params={"library_id": 999}).status_code == 404
    missing = alice.get(f"/api/tracks/{ids['Bare']}/similar")
    assert missing.status_code == 409 and missing.json()["code"] == "embeddings_missing"
    assert "djp embeddings backfill" in missing.json()["detail"]


def test_suggestions_api_and_extend(make_user, client):
    alice, bob = make_user("alice"), make_user("bob")
    ids = _crate(alice.user_id)
    pid = alice.post("/api/playlists", json={"name": "Set", "track_pks": [ids["Seed"]]}).json()["id"]
    url = f"/api/playlists/{pid}/suggestions"
    assert client.get(url).status_code == 401
    assert bob.get(url).status_code == 404
    assert alice.get(url, params={"limit": 0}).status_code == 422
    body = alice.get(url).json()
    assert body["after_track_pk"] == ids["Seed"]
    assert [h["track"]["title"] for h in body["items"]] == ["Adjacent", "Relative", "Distant"]  # Clash left out
    empty = alice.post("/api/playlists", json={"name": "Empty"}).json()["id"]
    assert alice.get(f"/api/playlists/{empty}/suggestions").status_code == 422
    bare = alice.post("/api/playlists", json={"name": "Bare", "track_pks": [ids["Bare"]]}).json()["id"]
    r = alice.get(f"/api/playlists/{bare}/suggestions")
    assert r.status_code == 409 and r.json()["code"] == "embeddings_missing"


def test_extend_takes_the_suggestions(make_user, ga_env):
    alice = make_user("alice")
    ids = _crate(alice.user_id)
    pid = alice.post("/api/playlists", json={"name": "Set", "track_pks": [ids["Seed"]]}).json()["id"]
    r = alice.post(f"/api/playlists/{pid}/generate", json={"add_count": 2, "options": {"seed": 1}})
    assert r.status_code == 200, r.text
    pks = [item["track_pk"] for item in alice.get(f"/api/playlists/{pid}").json()["items"]]
    assert pks[0] == ids["Seed"] and len(pks) == 3
    assert set(pks[1:]) <= {ids["Adjacent"], ids["Relative"], ids["Distant"]}


def test_vibe_search_api(make_user):
    alice = make_user("alice")
    _crate(alice.user_id, embedded=False)
    r = alice.get("/api/tracks/search", params={"q": "deep warm", "mode": "semantic"})
    assert r.status_code == 409 and r.json()["code"] == "embeddings_missing"
    assert alice.get("/api/tracks/search", params={"q": "x", "mode": "vibes"}).status_code == 422
    plain = alice.get("/api/tracks/search", params={"q": "seed"}).json()
    assert set(plain) == {"items", "total", "facets", "took_ms", "backend"}


def test_ui_fragments(make_user):
    alice, bob = make_user("alice"), make_user("bob")
    ids = _crate(alice.user_id)
    page = alice.get(f"/tracks/{ids['Seed']}")
    assert 'id="similar"' in page.text and f'hx-get="/tracks/{ids["Seed"]}/similar"' in page.text
    fragment = alice.get(f"/tracks/{ids['Seed']}/similar", headers={"HX-Request": "true"})
    assert fragment.status_code == 200 and "<html" not in fragment.text
    assert "Adjacent" in fragment.text and "adjacent key" in fragment.text and "+1.5 BPM" in fragment.text
    assert "Clash" not in alice.get(f"/tracks/{ids['Seed']}/similar", params={"compatible": "true"}).text
    assert bob.get(f"/tracks/{ids['Seed']}/similar", headers={"HX-Request": "true"}).status_code == 404
    bare = alice.get(f"/tracks/{ids['Bare']}/similar", headers={"HX-Request": "true"})
    # The panel loads unasked on every track page: a track not embedded yet gets a note, not an error.
    assert bare.status_code == 200 and "data-similar-pending" in bare.text and "djp embeddings backfill" in bare.text

    pid = alice.post("/api/playlists", json={"name": "Set", "track_pks": [ids["Seed"]]}).json()["id"]
    assert "Suggest next tracks" in alice.get(f"/playlists/{pid}").text
    suggestions = alice.get(f"/playlists/{pid}/suggestions", headers={"HX-Request": "true"})
    assert suggestions.status_code == 200 and "Adjacent" in suggestions.text and "Clash" not in suggestions.text
    assert 'hx-post="/playlists/add"' in suggestions.text and f'name="playlist_id" value="{pid}"' in suggestions.text
    added = alice.post("/playlists/add", data={"playlist_id": str(pid), "track_pk": str(ids["Adjacent"])},
                       headers={"HX-Request": "true"})
    assert added.status_code == 200 and "Added 1 track" in added.text
    assert "Adjacent" not in alice.get(f"/playlists/{pid}/suggestions").text  # now in the playlist
    assert bob.get(f"/playlists/{pid}/suggestions").status_code == 404

    tracks = alice.get("/tracks")
    assert 'name="mode" value="hybrid"' in tracks.text
    _crate(bob.user_id, embedded=False)
    vibe = bob.get("/tracks", params={"q": "warm deep", "mode": "hybrid"})
    assert vibe.status_code == 409 and "djp embeddings backfill" in vibe.text


def test_similar_and_suggestion_hits_can_be_selected_and_added_together(make_user):
    """Both panels reuse the add-to-playlist partial: a checkbox per hit (its track's primary key); the Similar
    panel's bar chooses any playlist, Suggest next tracks' adds the selection to the playlist shown."""
    alice = make_user("alice")
    ids = _crate(alice.user_id)
    similar = alice.get(f"/tracks/{ids['Seed']}/similar", headers={"HX-Request": "true"}).text
    assert "data-track-scope" in similar and "data-add-to-playlist" in similar and "data-track-select-all" in similar
    assert f'name="track_pk" value="{ids["Adjacent"]}" data-track-select' in similar
    assert 'hx-get="/playlists/options"' in similar  # the choice of playlists, loaded as on album pages

    pid = alice.post("/api/playlists", json={"name": "Set", "track_pks": [ids["Seed"]]}).json()["id"]
    suggestions = alice.get(f"/playlists/{pid}/suggestions", headers={"HX-Request": "true"}).text
    bar = re.search(r"<form[^>]*data-add-selected.*?</form>", suggestions, re.DOTALL).group(0)
    assert f'name="playlist_id" value="{pid}"' in bar and "to this playlist" in bar and "<select" not in bar
    assert f'name="track_pk" value="{ids["Adjacent"]}" data-track-select' in suggestions
    # What the bar sends (playlists.js appends the checked boxes): both added in one request, in order.
    added = alice.post("/playlists/add", data={"playlist_id": str(pid),
                                               "track_pk": [str(ids["Relative"]), str(ids["Adjacent"])]},
                       headers={"HX-Request": "true"})
    assert added.status_code == 200 and "Added 2 tracks to Set" in added.text
    items = alice.get(f"/api/playlists/{pid}").json()["items"]
    assert [i["title"] for i in items] == ["Seed", "Relative", "Adjacent"]
