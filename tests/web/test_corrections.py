"""Tempo/key corrections through the API and the track page: auth, other users' tracks, bad values."""

from __future__ import annotations

import re

import pytest

from services.common.db import get_engine, session_scope
from services.common.models import Library, LibraryShare, Track
from services.domain.analysis.results import store_analysis
from tests.domain.analysis.test_corrections import CANDIDATES, KEY_ALT
from tests.domain.analysis.test_results import _result
from tests.statements import captured_statements

HX = {"HX-Request": "true"}


def _analysed_track(user_id: int) -> int:
    with session_scope() as s:
        lib = Library(owner_id=user_id, name="crate")
        s.add(lib)
        s.flush()
        track = Track(track_id="1-A1", library_id=lib.id, title="Tune")
        s.add(track)
        s.flush()
        store_analysis(session=s, track=track,
                       result=_result(bpm_candidates=CANDIDATES, key_confidence=0.62, key_alternative=KEY_ALT))
        return track.id


@pytest.fixture(autouse=True)
def _no_embedding_queue(monkeypatch):
    monkeypatch.setattr("services.domain.embeddings.jobs.embed_soon", lambda **_: False)


def test_api_shows_alternatives_accepts_one_and_reverts(user_client):
    pk = _analysed_track(user_client.user_id)
    t = user_client.get(f"/api/tracks/{pk}").json()
    assert t["bpm_candidates"] == CANDIDATES and t["key_alternative"] == KEY_ALT and t["key_confidence"] == 0.62
    assert (t["bpm_source"], t["analysed_bpm"], t["analysed_camelot"]) == (None, 124.0, "8A")

    r = user_client.post(f"/api/tracks/{pk}/corrections", json={"accept": "bpm_alternative"})
    assert r.status_code == 200 and (r.json()["bpm"], r.json()["bpm_source"], r.json()["analysed_bpm"]) == (62.0, "user", 124.0)
    r = user_client.post(f"/api/tracks/{pk}/corrections", json={"camelot": "Am"})
    assert r.json()["camelot"] == "8A" and r.json()["key_source"] == "user"
    r = user_client.delete(f"/api/tracks/{pk}/corrections", params={"what": "bpm"})
    assert r.status_code == 200 and (r.json()["bpm"], r.json()["bpm_source"], r.json()["key_source"]) == (124.0, None, "user")
    r = user_client.delete(f"/api/tracks/{pk}/corrections")
    assert r.json()["key_source"] is None


@pytest.mark.parametrize("body", [{"bpm": 1000}, {"bpm": "fast"}, {"camelot": "H#"}, {}, {"accept": "energy"},
                                  {"bpm": 120, "accept": "bpm_alternative"}, {"energy": 5}])
def test_bad_corrections_are_422(user_client, body):
    pk = _analysed_track(user_client.user_id)
    r = user_client.post(f"/api/tracks/{pk}/corrections", json=body)
    assert r.status_code == 422 and r.json()["detail"] and r.json()["code"]
    assert user_client.get(f"/api/tracks/{pk}").json()["bpm"] == 124.0
    assert user_client.delete(f"/api/tracks/{pk}/corrections", params={"what": "x"}).status_code == 422


def test_auth_and_other_users(client, make_user):
    alice, bob = make_user("alice"), make_user("bob")
    pk = _analysed_track(alice.user_id)
    assert client.post(f"/api/tracks/{pk}/corrections", json={"bpm": 100}).status_code == 401
    assert client.delete(f"/api/tracks/{pk}/corrections").status_code == 401
    assert bob.post(f"/api/tracks/{pk}/corrections", json={"bpm": 100}).status_code == 404
    assert bob.delete(f"/api/tracks/{pk}/corrections").status_code == 404
    assert bob.post(f"/tracks/{pk}/corrections", data={"bpm": "100"}, headers=HX).status_code == 404
    assert bob.post(f"/tracks/{pk}/corrections/revert", data={"what": "bpm"}, headers=HX).status_code == 404
    assert alice.get(f"/api/tracks/{pk}").json()["bpm"] == 124.0


def test_track_page_offers_the_alternatives_with_one_click(user_client):
    pk = _analysed_track(user_client.user_id)
    page = user_client.get(f"/tracks/{pk}").text
    assert 'id="track-estimates"' in page
    assert "124 BPM" in page and "(or 62 — 22 %)" in page and "use 62</button>" in page
    assert "8A Am" in page and "(or 8B C — 31 %)" in page and "use C</button>" in page
    assert f'hx-post="/tracks/{pk}/corrections"' in page and "data-errors" in page
    assert "hx-on" not in page and "<script>" not in page

    r = user_client.post(f"/tracks/{pk}/corrections", data={"bpm": "62.0"}, headers=HX)
    assert r.status_code == 200
    assert "62 BPM" in r.text and "(yours; analysed 124)" in r.text and "use analysed</button>" in r.text
    r = user_client.post(f"/tracks/{pk}/corrections", data={"key": "8B"}, headers=HX)
    assert "8B C" in r.text and "(yours; analysed 8A)" in r.text
    bad = user_client.post(f"/tracks/{pk}/corrections", data={"bpm": "fast", "key": ""}, headers=HX)
    assert bad.status_code == 422 and "not a number" in bad.json()["detail"]
    r = user_client.post(f"/tracks/{pk}/corrections/revert", data={"what": "bpm"}, headers=HX)
    assert r.status_code == 200 and "124 BPM" in r.text and "use 62</button>" in r.text
    t = user_client.get(f"/api/tracks/{pk}").json()
    assert (t["bpm"], t["bpm_source"], t["camelot"], t["key_source"]) == (124.0, None, "8B", "user")


def test_readers_see_the_alternatives_without_buttons(make_user):
    alice, bob = make_user("alice"), make_user("bob")
    pk = _analysed_track(alice.user_id)
    with session_scope() as s:  # shared read-only with bob (an accepted share)
        s.add(LibraryShare(library_id=s.get(Track, pk).library_id, user_id=bob.user_id, pending=False))
    page = bob.get(f"/tracks/{pk}")
    assert page.status_code == 200 and "(or 62 — 22 %)" in page.text and "use 62</button>" not in page.text
    assert bob.post(f"/api/tracks/{pk}/corrections", json={"bpm": 100}).status_code == 403


def test_a_track_is_read_without_its_analysis_json_yet_shows_the_analysed_values(user_client):
    """The analysis (waveform and beat grid: tens of KB) is not loaded with a track; the analysed tempo and
    key the API shows next to a correction are read from it by the database."""
    pk = _analysed_track(user_client.user_id)
    assert user_client.post(f"/api/tracks/{pk}/corrections", json={"accept": "bpm_alternative"}).status_code == 200
    with captured_statements(get_engine()) as statements:
        t = user_client.get(f"/api/tracks/{pk}").json()
    assert (t["bpm"], t["bpm_source"], t["analysed_bpm"], t["analysed_camelot"]) == (62.0, "user", 124.0, "8A")
    reads = [sql for sql, _ in statements if "FROM tracks" in sql]
    assert reads and not any(re.search(r"tracks\.analysis\b(?!\s*(->|\[))", sql) for sql in reads), reads


def test_style_octave_through_the_api_and_the_track_page(user_client):
    with session_scope() as s:
        lib = Library(owner_id=user_client.user_id, name="bass")
        s.add(lib)
        s.flush()
        track = Track(track_id="2-A1", library_id=lib.id, title="Wobble", styles=["Dubstep"])
        s.add(track)
        s.flush()
        store_analysis(session=s, track=track, result=_result(
            bpm=70.0, beats=[0.1 + i * 60 / 70 for i in range(16)], bpm_candidates=[
                {"bpm": 70.0, "confidence": 0.6, "relation": "chosen"},
                {"bpm": 140.0, "confidence": 0.4, "relation": "double"}]))
        pk = track.id
    t = user_client.get(f"/api/tracks/{pk}").json()
    assert (t["bpm"], t["bpm_source"], t["analysed_bpm"]) == (140.0, "style", 70.0)
    page = user_client.get(f"/tracks/{pk}").text
    assert "140 BPM" in page and "(counted as Dubstep; audio 70)" in page and "use 70</button>" in page
    # the waveform's bar ticks are bars of 140 BPM: every 2nd of the 16 analysed beats
    waveform = page[page.index('class="waveform"'):]
    assert waveform[:waveform.index("</svg>")].count('y2="6"/>') == 8
