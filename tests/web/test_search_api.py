"""GET /api/tracks/search, the /tracks page and `djp search` (the search itself: tests/domain/search)."""

from __future__ import annotations

from services.common import db
from services.common.models import Library, Track


def _tracks(owner_id: int) -> dict[str, int]:
    specs = [("Around the World", "Daft Punk", 121.0, "8A", 7.0, ["House"]),
             ("Windowlicker", "Aphex Twin", 127.0, "9A", 8.0, ["IDM"]),
             ("Hoppípolla", "Sigur Rós", 62.0, "8B", 4.0, ["Post Rock"])]
    with db.session_scope() as s:
        lib = Library(owner_id=owner_id, name="Crates")
        s.add(lib)
        s.flush()
        rows = [Track(track_id=f"{i}-A1", library_id=lib.id, title=t, artist=a, bpm=b, camelot=c, energy=e,
                      styles=st) for i, (t, a, b, c, e, st) in enumerate(specs, 1)]
        s.add_all(rows)
        s.flush()
        return {t.title: t.id for t in rows}


def test_search_api_contract(user_client, client):
    ids = _tracks(user_client.user_id)
    assert client.get("/api/tracks/search", params={"q": "daft"}).status_code == 401
    r = user_client.get("/api/tracks/search", params={"q": "daft pnuk"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"items", "total", "facets", "took_ms", "backend"} and body["backend"] == "postgres"
    item = body["items"][0]
    assert item["id"] == ids["Around the World"] and item["track_id"] == "1-A1" and item["library"] == "Crates"
    assert item["highlight"]["artist"] == "<mark>Daft</mark> <mark>Punk</mark>"
    r = user_client.get("/api/tracks/search", params=[("style", "House"), ("style", "IDM"), ("sort", "-bpm")])
    assert [i["title"] for i in r.json()["items"]] == ["Windowlicker", "Around the World"]
    assert user_client.get(f"/api/tracks/{ids['Windowlicker']}").status_code == 200  # /search did not shadow it


def test_bad_search_parameters_name_the_field(user_client):
    for params, field in [({"bpm_min": 130, "bpm_max": 120}, "bpm_min"), ({"key": "H#"}, "key"),
                          ({"limit": 201}, "limit"), ({"colour": "red"}, "colour"), ({"sort": "loud"}, "sort"),
                          ({"library_id": "x"}, "library_id"), ({"q": "a\x00b"}, "q")]:
        r = user_client.get("/api/tracks/search", params=params)
        assert r.status_code == 422, (params, r.text)
        body = r.json()
        assert body["code"] == "invalid" and field in body["detail"], (params, body)
    assert user_client.get("/api/tracks/search", params={"library_id": 999}).status_code == 404


def test_tracks_page_and_fragment(user_client):
    _tracks(user_client.user_id)
    page = user_client.get("/tracks", params={"q": "windowlicker"})
    assert page.status_code == 200 and 'id="q"' in page.text and "<mark>Windowlicker</mark>" in page.text
    assert "<html" in page.text
    fragment = user_client.get("/tracks", params={"q": "sigur ros"}, headers={"HX-Request": "true",
                                                                               "HX-Target": "results"})
    assert "<html" not in fragment.text and "Hoppípolla" in fragment.text
    assert 'href="/tracks?style=House"' in user_client.get("/tracks").text  # facets are links
    none = user_client.get("/tracks", params={"q": "zzzzzz"})
    assert "No track matches" in none.text
    bad = user_client.get("/tracks", params={"bpm_min": "140", "bpm_max": "120"})
    assert bad.status_code == 422 and "bpm_min must be &lt;= bpm_max" in bad.text


def test_admin_search_status_and_reindex(make_user, user_client):
    admin = user_client  # an admin
    dj = make_user("dj")
    _tracks(dj.user_id)
    assert dj.get("/api/admin/search/status").status_code == 403
    status = admin.get("/api/admin/search/status").json()
    assert status["backend"] == "postgres" and status["tracks"] == 3
    r = admin.post("/api/admin/search/reindex")
    assert r.status_code == 400 and r.json()["code"] == "nothing_to_rebuild"
