"""The collection in the browser: libraries (create with a CSV, rename, delete), records and tracklists
typed in, the track edit form, friends (refused without a token, unfollow) and spins — through the UI
routes the htmx forms post to."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from services.common.db import session_scope
from services.common.models import Album, Library, Track
from services.common.settings import get_settings

HX = {"HX-Request": "true"}
CSV_HEADER = ("Catalog#,Artist,Title,Label,Format,Rating,Released,release_id,CollectionFolder,Date Added,"
              "Collection Media Condition,Collection Sleeve Condition,Collection Notes\n")
CSV = CSV_HEADER + (
    'CAT-1,"Moodymann (2)",Silentintroduction,"Planet E (2)","2xLP, Album",4,1997,11,Uncategorized,'
    '2023-05-01 10:11:12,Very Good Plus (VG+),Good (G),"first press, small seam split"\n'
)


@pytest.fixture
def no_token(monkeypatch):
    monkeypatch.delenv("DISCOGS_USER_TOKEN", raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _location(response) -> str:
    assert response.status_code == 200, response.text
    return json.loads(response.headers["HX-Location"])["path"]


def _create(c, name: str = "Crates", csv: str | None = None):
    files = {"file": ("export.csv", csv.encode(), "text/csv")} if csv is not None else None
    return c.post("/libraries", data={"name": name}, files=files, headers=HX)


def _library_id(response) -> int:
    return int(response.headers["HX-Push-Url"].rsplit("/", 1)[1])


def _album_pk(library_id: int) -> int:
    with session_scope() as s:
        return s.scalar(select(Album.id).where(Album.library_id == library_id).order_by(Album.id))


def _tracks(album_id: int) -> list[Track]:
    with session_scope() as s:
        rows = s.scalars(select(Track).where(Track.album_id == album_id).order_by(Track.id)).all()
        s.expunge_all()
        return list(rows)


def test_create_rename_and_delete_a_library(user_client, no_token):
    c = user_client
    assert 'id="create-library"' in c.get("/libraries").text  # the list page has the create form
    r = _create(c, "  Crates  ")
    assert r.status_code == 200 and r.headers["HX-Push-Url"].startswith("/libraries/")
    library_id = _library_id(r)
    assert "Library “Crates” created." in r.text and 'id="import-csv-form"' in r.text
    assert 'id="add-album-form"' in r.text and 'id="rename-library"' in r.text and 'id="delete-library"' in r.text
    listed = c.get("/libraries").text
    assert f'href="/libraries/{library_id}">Crates</a>' in listed and "yours" in listed

    r = c.post(f"/libraries/{library_id}/rename", data={"name": "Dub crates"}, headers=HX)
    assert r.status_code == 200 and "Renamed to “Dub crates”." in r.text
    assert c.get(f"/api/libraries/{library_id}").json()["name"] == "Dub crates"
    assert c.patch(f"/api/libraries/{library_id}", json={"name": "Via API"}).json()["name"] == "Via API"
    bad = c.post(f"/libraries/{library_id}/rename", data={"name": "   "}, headers=HX)
    assert bad.status_code == 422 and bad.json()["detail"] == "a library needs a name"
    assert _create(c, "").json()["detail"] == "a library needs a name"

    assert _location(c.post(f"/libraries/{library_id}/delete", headers=HX)) == "/libraries"
    assert c.get(f"/libraries/{library_id}").status_code == 404
    assert "No library yet" in c.get("/libraries").text
    # Without htmx (no JavaScript) the same form redirects.
    other = _library_id(_create(c, "Second"))
    r = c.post(f"/libraries/{other}/delete", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/libraries"


def test_create_with_a_csv_import_in_one_go(user_client, no_token):
    c = user_client
    r = _create(c, "From CSV", CSV)
    assert r.status_code == 200, r.text
    assert "Imported 1 row(s): 1 new album(s)" in r.text and "CSV exports have no tracklists" in r.text
    assert "Silentintroduction" in r.text
    # A file with the wrong columns: a short message naming them, and no library is left behind.
    bad = _create(c, "Broken", "name,year\nfoo,1999\n")
    assert bad.status_code == 422
    assert "missing column(s) release_id, Artist, Title" in bad.json()["detail"]
    assert [lib["name"] for lib in c.get("/api/libraries").json()] == ["From CSV"]


def test_import_csv_on_the_library_page_with_inline_errors(user_client, no_token):
    c = user_client
    library_id = _library_id(_create(c))
    bad = c.post(f"/libraries/{library_id}/import-csv", files={"file": ("x.csv", b"a,b\n1,2\n", "text/csv")},
                 headers=HX)
    assert bad.status_code == 422 and "missing column(s) release_id, Artist, Title" in bad.json()["detail"]
    missing = c.post(f"/libraries/{library_id}/import-csv", files={"file": ("", b"", "text/csv")}, headers=HX)
    assert missing.status_code == 422 and missing.json()["detail"] == "choose a Discogs CSV export file"
    ok = c.post(f"/libraries/{library_id}/import-csv", files={"file": ("x.csv", CSV.encode(), "text/csv")},
                headers=HX)
    assert ok.status_code == 200 and "Imported 1 row(s)" in ok.text and "Silentintroduction" in ok.text


def test_csv_album_shows_its_fields_explains_the_missing_tracklist_and_takes_one(user_client, no_token):
    c = user_client
    library_id = _library_id(_create(c, "From CSV", CSV))
    album_id = _album_pk(library_id)
    page = c.get(f"/albums/{album_id}").text
    assert "Very Good Plus (VG+)" in page and "first press, small seam split" in page
    assert "★★★★☆" in page and "2023-05-01" in page
    assert "Imported from a CSV: Discogs CSV exports have no tracklists. Sync with a Discogs token or add the " \
           "tracklist below." in page
    assert 'id="tracklist-form"' in page and page.count('name="title"') == 8  # the editor's blank rows

    rows = {"position": ["A1", "", "B1", ""], "title": ["Untitled", "", "Tribute", ""],
            "artist": ["", "", "Guest", ""], "duration": ["6:12", "", "", ""]}
    r = c.post(f"/albums/{album_id}/tracks", data=rows, headers=HX)
    assert r.status_code == 200, r.text
    assert "Added 2 track(s)." in r.text and "Imported from a CSV" not in r.text
    tracks = _tracks(album_id)
    assert [(t.position, t.title, t.artist, t.duration_seconds, t.track_id) for t in tracks] == [
        ("A1", "Untitled", "Moodymann", 372.0, "11-A1"), ("B1", "Tribute", "Guest", None, "11-B1")]
    assert f'href="/tracks/{tracks[0].id}">Untitled</a>' in r.text
    with session_scope() as s:
        release_page = s.get(Album, album_id).discogs_url
    assert release_page and f'href="{release_page}"' in c.get(f"/tracks/{tracks[0].id}").text  # the record's page
    # A blank position takes the next track number.
    c.post(f"/albums/{album_id}/tracks", data={"position": [""], "title": ["Bonus"]}, headers=HX)
    assert _tracks(album_id)[-1].position == "3"


@pytest.mark.parametrize(("rows", "message"), [
    ({"position": ["A1", "A2"], "title": ["One", "Two"], "duration": ["", "7x"]},
     "row 2: duration '7x' is not m:ss (or h:mm:ss)"),
    ({"position": ["", "A2"], "title": ["", ""], "artist": ["", "Someone"]}, "row 2: a track needs a title"),
    ({"position": ["A1", "A1"], "title": ["One", "Two"]}, "row 2: position A1 appears twice"),
    ({"position": ["", ""], "title": ["", ""]}, "add at least one track (a title on a row)"),
])
def test_tracklist_editor_errors_name_the_row(user_client, rows, message):
    c = user_client
    library_id = _library_id(_create(c))
    album_id = int(_location(c.post(f"/libraries/{library_id}/albums", data={"artist": "A", "title": "T"},
                                    headers=HX)).rsplit("/", 1)[1])
    r = c.post(f"/albums/{album_id}/tracks", data=rows, headers=HX)
    assert r.status_code == 422 and r.json()["detail"] == message
    assert _tracks(album_id) == []


def test_add_a_record_by_hand_then_edit_and_delete_rows(user_client):
    c = user_client
    library_id = _library_id(_create(c))
    r = c.post(f"/libraries/{library_id}/albums", headers=HX, data={
        "artist": "Unknown", "title": "Dubplate", "year": "2024", "label": "White", "genres": "Electronic",
        "styles": "Dub Techno, Deep House"})
    album_path = _location(r)
    album_id = int(album_path.rsplit("/", 1)[1])
    page = c.get(album_path).text
    assert "Unknown – Dubplate" in page and "Dub Techno, Deep House" in page
    assert "No tracks yet: add the tracklist below." in page
    with session_scope() as s:
        album = s.get(Album, album_id)
        assert album.release_id < 0 and album.year == 2024 and album.genres == ["Electronic"]
    bad = c.post(f"/libraries/{library_id}/albums", data={"artist": "X", "title": "Y", "year": "soon"}, headers=HX)
    assert bad.status_code == 422 and bad.json()["detail"] == "year: a whole number, e.g. 1997"
    assert c.post(f"/libraries/{library_id}/albums", data={"artist": "X"}, headers=HX).json()["detail"] \
        == "a record needs a title"
    assert "<tr>" in c.get(f"/albums/{album_id}/tracklist-rows").text

    c.post(f"/albums/{album_id}/tracks", data={"position": ["A", "B"], "title": ["Dub", "Version"]}, headers=HX)
    a, b = _tracks(album_id)
    track_page = c.get(f"/tracks/{a.id}").text
    assert "on Discogs" not in track_page and a.track_id not in track_page  # no Discogs page, no internal id
    edit = c.get(f"/tracks/{a.id}/row-edit")
    assert edit.status_code == 200 and 'name="duration"' in edit.text and f'hx-post="/tracks/{a.id}/row"' in edit.text
    r = c.post(f"/tracks/{a.id}/row", data={"position": "A1", "title": "Dub Mix", "artist": "", "duration": "5:01"},
               headers=HX)
    assert r.status_code == 200 and "Dub Mix" in r.text and "5:01" in r.text and "<input" not in r.text
    a = _tracks(album_id)[0]
    assert (a.position, a.track_id, a.artist, a.duration_seconds) == ("A1", f"{a.release_id}-A1", None, 301.0)
    taken = c.post(f"/tracks/{a.id}/row", data={"position": "B", "title": "Dub Mix"}, headers=HX)
    assert taken.status_code == 409 and taken.json()["detail"] == "position B is already used on this record"
    bad = c.post(f"/tracks/{a.id}/row", data={"position": "A1", "title": ""}, headers=HX)
    assert bad.status_code == 422 and bad.json()["detail"] == "title: cannot be empty"

    assert c.post(f"/tracks/{b.id}/delete", headers=HX).status_code == 200
    assert [t.title for t in _tracks(album_id) if t.deleted_at is None] == ["Dub Mix"]
    assert "Version" not in c.get(album_path).text
    # Typing the deleted position again brings the track back with the new title.
    c.post(f"/albums/{album_id}/tracks", data={"position": ["B"], "title": ["Version 2"]}, headers=HX)
    assert [(t.id, t.title, t.deleted_at) for t in _tracks(album_id)][1] == (b.id, "Version 2", None)


def test_track_edit_form_and_what_the_page_shows(user_client):
    c = user_client
    library_id = _library_id(_create(c))
    album_id = int(_location(c.post(f"/libraries/{library_id}/albums", data={"artist": "A", "title": "T"},
                                    headers=HX)).rsplit("/", 1)[1])
    c.post(f"/albums/{album_id}/tracks", data={"position": ["A1"], "title": ["Tune"]}, headers=HX)
    pk = _tracks(album_id)[0].id
    page = c.get(f"/tracks/{pk}").text
    assert 'id="track-edit-form"' in page and 'name="title"' in page and 'name="youtube_url"' in page

    r = c.post(f"/tracks/{pk}/edit", headers=HX, data={
        "identity": "1", "title": "Tune (dub)", "artist": "A feat. B", "position": "A2",
        "tags": "warm-up, peak time, warm-up", "notes": "Cue at 0:32\nloop the break", "star_rating": "4",
        "youtube_url": "https://www.youtube.com/watch?v=abc", "apple_music_url": "", "spotify_url": "",
        "soundcloud_url": "https://soundcloud.com/a/tune"})
    assert r.status_code == 200, r.text
    page = c.get(f"/tracks/{pk}").text
    assert "Tune (dub)" in page and "A feat. B" in page
    tags = re.search(r'<dd id="track-tags">(.*?)</dd>', page, re.DOTALL).group(1)
    assert ">warm-up</a>" in tags and ">peak time</a>" in tags and tags.count("warm-up</a>") == 1
    assert "Cue at 0:32\nloop the break" in page and 'aria-label="4 of 5">★★★★☆' in page
    links = re.search(r'<p class="link-buttons" id="track-links">(.*?)</p>', page, re.DOTALL).group(1)
    assert 'href="https://www.youtube.com/watch?v=abc"' in links and "SoundCloud" in links and "Spotify" not in links
    # The same domain update as PATCH /api/tracks/{id}: the API sees the edits.
    api = c.get(f"/api/tracks/{pk}").json()
    assert (api["tags"], api["star_rating"], api["position"]) == (["warm-up", "peak time"], 4, "A2")

    for data, message in [
        ({"youtube_url": "https://evil.example/x"}, "YouTube link: must be a link to youtube.com or youtu.be"),
        ({"spotify_url": "ftp://spotify.com/x"}, "Spotify link: must be an http(s) URL"),
        ({"star_rating": "9"}, "rating: a whole number from 0 to 5"),
        ({"star_rating": "lots"}, "rating: a whole number, e.g. 1997"),
        ({"identity": "1", "title": "", "position": "A2"}, "title: cannot be empty"),
    ]:
        bad = c.post(f"/tracks/{pk}/edit", data=data, headers=HX)
        assert bad.status_code == 422 and bad.json()["detail"] == message, data
    assert c.get(f"/api/tracks/{pk}").json()["youtube_url"] == "https://www.youtube.com/watch?v=abc"
    # Clearing: empty fields clear notes, tags, rating and links.
    c.post(f"/tracks/{pk}/edit", data={"tags": "", "notes": "", "star_rating": "", "youtube_url": ""}, headers=HX)
    api = c.get(f"/api/tracks/{pk}").json()
    assert (api["tags"], api["notes"], api["star_rating"], api["youtube_url"]) == ([], None, None, None)


def test_album_edit_form_rating_condition_price_and_notes(user_client):
    """What PATCH /api/albums/{id} edits (your own fields), the album page edits too, refusals named."""
    c = user_client
    library_id = _library_id(_create(c, csv=CSV))
    album_id = _album_pk(library_id)
    page = c.get(f"/albums/{album_id}").text
    condition = c.get(f"/api/albums/{album_id}").json()["condition"]
    assert 'id="album-edit-form"' in page and condition and f'name="condition" value="{condition}"' in page
    r = c.post(f"/albums/{album_id}/edit", headers=HX, data={
        "rating": "5", "condition": "  Mint (M)  ", "purchase_price": "12,5", "notes": "plays through\nno skips"})
    assert r.status_code == 200, r.text
    assert "Saved." in r.text and 'id="edit-album" open' in r.text
    facts = re.search(r'<dl class="album-facts" id="album-facts">(.*?)</dl>', r.text, re.DOTALL).group(1)
    assert 'aria-label="5 of 5">★★★★★' in facts and "<dd>Mint (M)</dd>" in facts and "<dd>12.50</dd>" in facts
    assert "plays through\nno skips" in facts
    api = c.get(f"/api/albums/{album_id}").json()  # the same domain update as the API's
    assert (api["rating"], api["condition"], api["notes"]) == (5, "Mint (M)", "plays through\nno skips")
    assert float(api["purchase_price"]) == 12.5

    for data, message in [
        ({"rating": "9"}, "rating: a whole number from 1 to 5"),
        ({"rating": "lots"}, "rating: a whole number, e.g. 1997"),
        ({"purchase_price": "cheap"}, "purchase_price: a number, e.g. 12.50"),
        ({"purchase_price": "-1"}, "purchase_price: from 0 to 99999999.99, at most 2 decimals"),
        ({"purchase_price": "1.999"}, "purchase_price: from 0 to 99999999.99, at most 2 decimals"),
        ({"condition": "x" * 201}, "condition: at most 200 characters"),
    ]:
        bad = c.post(f"/albums/{album_id}/edit", data=data, headers=HX)
        assert bad.status_code == 422 and bad.json()["detail"] == message, data
    assert c.get(f"/api/albums/{album_id}").json()["rating"] == 5  # nothing half-saved
    # Empty fields clear.
    c.post(f"/albums/{album_id}/edit", data={"rating": "", "condition": "", "purchase_price": "", "notes": ""},
           headers=HX)
    api = c.get(f"/api/albums/{album_id}").json()
    assert (api["rating"], api["condition"], api["purchase_price"], api["notes"]) == (None, None, None, None)
    facts = re.search(r'<dl class="album-facts" id="album-facts">(.*?)</dl>', c.get(f"/albums/{album_id}").text,
                      re.DOTALL).group(1)
    assert "<dt>Added</dt>" in facts and not any(f"<dt>{dt}</dt>" in facts for dt in ("Rating", "Condition", "Paid",
                                                                                        "Notes"))


def _edit_form(page: str) -> str:
    return re.search(r'<form id="album-edit-form".*?</form>', page, re.DOTALL).group(0)


def test_album_edit_form_corrects_a_hand_made_records_title_artist_and_year(user_client):
    """A record typed in by hand: title, artist and year in the album's edit form, carried to its tracks;
    a Discogs release's form does not offer them and the route refuses them (a sync keeps them)."""
    c = user_client
    library_id = _library_id(_create(c))
    album_path = _location(c.post(f"/libraries/{library_id}/albums", headers=HX,
                                  data={"artist": "Unknwn", "title": "Dubplte", "year": "2024"}))
    album_id = int(album_path.rsplit("/", 1)[1])
    c.post(f"/albums/{album_id}/tracks", data={"position": ["A", "B"], "title": ["Dub", "Version"],
                                               "artist": ["", "Guest"]}, headers=HX)
    form = _edit_form(c.get(album_path).text)
    assert 'name="identity" value="1"' in form and 'name="title" value="Dubplte"' in form
    assert 'name="artist" value="Unknwn"' in form and 'name="year" value="2024"' in form

    r = c.post(f"/albums/{album_id}/edit", headers=HX, data={
        "identity": "1", "title": " Dubplate ", "artist": "Unknown", "year": "1999", "rating": "4",
        "condition": "", "purchase_price": "", "notes": ""})
    assert r.status_code == 200, r.text
    assert "Saved." in r.text and "<h1>Unknown – Dubplate</h1>" in r.text and "1999" in r.text
    assert [(t.album, t.artist, t.year) for t in _tracks(album_id)] == [("Dubplate", "Unknown", 1999),
                                                                         ("Dubplate", "Guest", 1999)]
    assert c.get(f"/api/albums/{album_id}").json()["rating"] == 4  # the same form saves your own fields

    year_max = datetime.now(UTC).year + 1
    for data, message in [
        ({"title": "  ", "artist": "Unknown"}, "title: cannot be empty"),
        ({"title": "Dubplate", "artist": ""}, "artist: cannot be empty"),
        ({"title": "Dubplate", "artist": "Unknown", "year": "soon"}, "year: a whole number, e.g. 1997"),
        ({"title": "Dubplate", "artist": "Unknown", "year": "1899"}, f"year: from 1900 to {year_max}, or empty"),
    ]:
        bad = c.post(f"/albums/{album_id}/edit", data={"identity": "1", **data}, headers=HX)
        assert bad.status_code == 422 and bad.json()["detail"] == message, data
    # An empty year clears it; without `identity` (a form not offering them) title and artist are untouched.
    c.post(f"/albums/{album_id}/edit", data={"identity": "1", "title": "Dubplate", "artist": "Unknown", "year": ""},
           headers=HX)
    c.post(f"/albums/{album_id}/edit", data={"title": "Ignored", "notes": "kept"}, headers=HX)
    api = c.get(f"/api/albums/{album_id}").json()
    assert (api["title"], api["year"], api["notes"]) == ("Dubplate", None, "kept")

    csv_library = _library_id(_create(c, "Imported", csv=CSV))
    csv_album = _album_pk(csv_library)
    form = _edit_form(c.get(f"/albums/{csv_album}").text)
    assert 'name="title"' not in form and 'name="identity"' not in form and "come from Discogs" in form
    refused = c.post(f"/albums/{csv_album}/edit", headers=HX,
                     data={"identity": "1", "title": "Mine", "artist": "Moodymann", "year": "1997"})
    assert refused.status_code == 400 and refused.json()["code"] == "from_discogs"
    assert "comes from Discogs" in refused.json()["detail"]


def test_a_deleted_track_is_restored_from_its_page(user_client, make_user):
    c = user_client
    library_id = _library_id(_create(c))
    album_id = int(_location(c.post(f"/libraries/{library_id}/albums", data={"artist": "A", "title": "T"},
                                    headers=HX)).rsplit("/", 1)[1])
    c.post(f"/albums/{album_id}/tracks", data={"position": ["A1"], "title": ["Tune"]}, headers=HX)
    pk = _tracks(album_id)[0].id
    assert 'id="restore-track"' not in c.get(f"/tracks/{pk}").text
    assert c.post(f"/tracks/{pk}/delete", headers=HX).status_code == 200
    page = c.get(f"/tracks/{pk}").text
    assert 'id="restore-track"' in page and "Restore it" in page and 'id="track-edit-form"' not in page
    r = c.post(f"/tracks/{pk}/restore", headers=HX)
    assert r.status_code == 200 and "Restored." in r.text and 'id="restore-track"' not in r.text
    assert 'id="track-edit-form"' in r.text
    assert c.get(f"/api/tracks/{pk}").json()["deleted_at"] is None  # the API's restore, the same domain call
    # Someone else: 404; nothing restored for them.
    c.post(f"/tracks/{pk}/delete", headers=HX)
    assert make_user("bob").post(f"/tracks/{pk}/restore", headers=HX).status_code == 404
    assert c.get(f"/api/tracks/{pk}").json()["deleted_at"] is not None


def test_follow_without_a_token_is_refused_with_the_reason(user_client, no_token):
    c = user_client
    r = c.post("/friends", data={"username": "pal"}, headers=HX)
    assert r.status_code == 400 and r.json()["code"] == "discogs_token_missing"
    assert r.json()["detail"].startswith(
        "Following a friend's collection needs a Discogs token: set DISCOGS_USER_TOKEN")
    api = c.post("/api/friends", json={"username": "pal"})
    assert api.status_code == 400 and "DISCOGS_USER_TOKEN" in api.json()["detail"]
    assert c.get("/api/libraries").json() == [] and c.get("/api/friends").json() == []
    assert "Following needs a Discogs token on the server" in c.get("/libraries").text


def test_follow_and_unfollow_a_friend_in_the_browser(user_client, discogs_env):
    c = user_client
    path = _location(c.post("/friends", data={"username": "pal"}, headers=HX))
    library_id = int(path.rsplit("/", 1)[1])
    page = c.get(path).text
    assert "pal&#39;s collection" in page and page.count("(friend, read-only)") == 1 and "(friend) (" not in page
    assert 'id="unfollow"' in page and 'id="import-csv-form"' not in page and 'id="add-album-form"' not in page
    assert 'id="rename-library"' in page and 'id="delete-library"' not in page
    listed = c.get("/libraries").text
    assert f'hx-post="/libraries/{library_id}/unfollow"' in listed and "friend (read-only)" in listed

    own = _library_id(_create(c))
    refused = c.post(f"/libraries/{own}/unfollow", headers=HX)
    assert refused.status_code == 422
    assert refused.json()["detail"] == "this library is not a friend's: delete it instead"
    assert _location(c.post(f"/libraries/{library_id}/unfollow", headers=HX)) == "/libraries"
    assert c.get("/api/friends").json() == []
    with session_scope() as s:
        assert s.get(Library, library_id) is None


def test_another_users_library_answers_404_everywhere(user_client, make_user):
    c = user_client
    library_id = _library_id(_create(c, "Alice's"))
    album_id = int(_location(c.post(f"/libraries/{library_id}/albums", data={"artist": "A", "title": "T"},
                                    headers=HX)).rsplit("/", 1)[1])
    c.post(f"/albums/{album_id}/tracks", data={"title": ["Tune"]}, headers=HX)
    pk = _tracks(album_id)[0].id
    bob = make_user("bob")
    for method, path, data in [
        ("get", f"/libraries/{library_id}", None), ("post", f"/libraries/{library_id}/rename", {"name": "x"}),
        ("post", f"/libraries/{library_id}/delete", None), ("post", f"/libraries/{library_id}/unfollow", None),
        ("post", f"/libraries/{library_id}/albums", {"artist": "x", "title": "y"}),
        ("get", f"/albums/{album_id}", None), ("post", f"/albums/{album_id}/tracks", {"title": ["x"]}),
        ("get", f"/albums/{album_id}/tracklist-rows", None), ("get", f"/tracks/{pk}/row-edit", None),
        ("post", f"/tracks/{pk}/row", {"title": "x", "position": "1"}), ("post", f"/tracks/{pk}/delete", None),
        ("post", f"/tracks/{pk}/edit", {"notes": "x"}), ("post", f"/tracks/{pk}/spin", None),
        ("post", f"/albums/{album_id}/spin", {"side": "A"}), ("patch", f"/api/libraries/{library_id}", None),
    ]:
        if method == "get":
            r = bob.get(path)
        elif method == "patch":
            r = bob.patch(path, json={"name": "x"})
        else:
            r = bob.post(path, data=data, headers=HX)
        assert r.status_code == 404, (path, r.status_code, r.text)
    r = bob.post(f"/libraries/{library_id}/import-csv", files={"file": ("x.csv", CSV.encode(), "text/csv")},
                 headers=HX)
    assert r.status_code == 404
    assert "Alice&#39;s" not in bob.get("/libraries").text
    with session_scope() as s:
        assert s.get(Track, pk).notes is None and s.get(Library, library_id).name == "Alice's"


def test_shared_library_is_read_only_in_the_ui(user_client, make_user):
    c = user_client
    library_id = _library_id(_create(c, "Shared"))
    album_id = int(_location(c.post(f"/libraries/{library_id}/albums", data={"artist": "A", "title": "T"},
                                    headers=HX)).rsplit("/", 1)[1])
    c.post(f"/albums/{album_id}/tracks", data={"title": ["Tune"]}, headers=HX)
    pk = _tracks(album_id)[0].id
    bob = make_user("bob")
    assert c.post(f"/api/libraries/{library_id}/shares", json={"username": "bob"}).status_code == 204
    assert bob.post(f"/api/users/me/invitations/{library_id}/accept").status_code == 200  # shares need consent
    page = bob.get(f"/libraries/{library_id}").text
    assert "(shared, read-only)" in page and 'id="rename-library"' not in page and 'id="add-album-form"' not in page
    assert 'id="tracklist-form"' not in bob.get(f"/albums/{album_id}").text
    assert 'id="track-edit-form"' not in bob.get(f"/tracks/{pk}").text
    assert 'id="album-edit-form"' not in bob.get(f"/albums/{album_id}").text
    assert bob.post(f"/albums/{album_id}/edit", data={"notes": "x"}, headers=HX).status_code == 403
    assert bob.post(f"/tracks/{pk}/edit", data={"notes": "x"}, headers=HX).status_code == 403
    assert bob.post(f"/libraries/{library_id}/rename", data={"name": "x"}, headers=HX).status_code == 403
    assert bob.post(f"/libraries/{library_id}/delete", headers=HX).status_code == 403


def test_log_spins_from_track_and_album_pages(user_client, make_user):
    c = user_client
    library_id = _library_id(_create(c))
    album_id = int(_location(c.post(f"/libraries/{library_id}/albums", data={"artist": "A", "title": "T"},
                                    headers=HX)).rsplit("/", 1)[1])
    c.post(f"/albums/{album_id}/tracks", data={"position": ["A1", "A2", "B1"], "title": ["One", "Two", "Three"]},
           headers=HX)
    one = _tracks(album_id)[0].id
    r = c.post(f"/tracks/{one}/spin", headers=HX)
    assert r.status_code == 200 and "Spin logged. Played 1 time." in r.text
    assert "Played 2 times." in c.post(f"/tracks/{one}/spin", headers=HX).text
    assert "Played 2 times, last" in c.get(f"/tracks/{one}").text
    album_page = c.get(f"/albums/{album_id}").text
    assert 'id="log-side"' in album_page and "<option>A</option><option>B</option>" in album_page
    side = c.post(f"/albums/{album_id}/spin", data={"side": "a"}, headers=HX)
    assert side.status_code == 200 and "Side A logged (2 tracks)." in side.text
    assert c.post(f"/albums/{album_id}/spin", data={"side": "C"}, headers=HX).status_code == 422
    no_side = c.post(f"/albums/{album_id}/spin", data={"side": ""}, headers=HX)
    assert no_side.status_code == 422 and no_side.json()["detail"] == "pick a side (A, B, ...)"

    page = c.get("/spins").text
    assert page.count("<li>") >= 4 and "side A" in page and f'href="/tracks/{one}"' in page and "Most played" in page
    sessions = c.get("/api/spins").json()["items"]
    assert len(sessions) == 3
    assert _location(c.post(f"/spins/{sessions[0]['id']}/delete", headers=HX)) == "/spins"
    assert c.get("/api/spins").json()["total"] == 2
    assert make_user("bob").post(f"/spins/{sessions[1]['id']}/delete", headers=HX).status_code == 404


def test_the_api_does_what_the_forms_do(user_client):
    """PATCH /api/libraries/{id}, POST /api/albums/{id}/tracks and title/position edits by PATCH /api/tracks."""
    c = user_client
    library_id = c.post("/api/libraries", json={"name": "L"}).json()["id"]
    assert c.patch(f"/api/libraries/{library_id}", json={"name": ""}).status_code == 422
    assert c.patch(f"/api/libraries/{library_id}", json={"name": "L2", "x": 1}).status_code == 422
    assert c.patch("/api/libraries/999", json={"name": "x"}).status_code == 404
    album = c.post(f"/api/libraries/{library_id}/albums", json={"title": "T", "artist": "A"}).json()
    r = c.post(f"/api/albums/{album['id']}/tracks", json={"tracks": [{"position": "A1", "title": "One"},
                                                                     {"title": "Two", "duration": "3:30"}]})
    assert r.status_code == 201, r.text
    assert [(t["position"], t["duration_seconds"]) for t in r.json()] == [("A1", None), ("2", 210.0)]
    dup = c.post(f"/api/albums/{album['id']}/tracks", json={"tracks": [{"position": "A1", "title": "Again"}]})
    assert dup.status_code == 422 and dup.json()["detail"] == "track 1: position A1 is already on this record"
    assert c.post(f"/api/albums/{album['id']}/tracks", json={"tracks": []}).status_code == 422
    assert c.post("/api/albums/999/tracks", json={"tracks": [{"title": "x"}]}).status_code == 404
    pk = r.json()[0]["id"]
    edited = c.patch(f"/api/tracks/{pk}", json={"title": "Uno", "position": "B1", "duration_seconds": 200})
    assert edited.status_code == 200, edited.text
    assert (edited.json()["title"], edited.json()["track_id"], edited.json()["duration_seconds"]) == \
        ("Uno", f"{album['release_id']}-B1", 200.0)
    assert c.patch(f"/api/tracks/{pk}", json={"title": None}).json()["detail"] == "title: cannot be empty"
    assert "/api/albums/{album_id}/tracks" in c.get("/openapi.json").json()["paths"]
