"""REST API for the collection: albums, tracks, libraries, friends, CSV import, sync, spins."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from services.common.db import session_scope
from services.common.models import Album, Library, Track
from services.domain.collection.sync import run_sync

CSV_HEADER = ("Catalog#,Artist,Title,Label,Format,Rating,Released,release_id,CollectionFolder,Date Added,"
              "Collection Media Condition,Collection Sleeve Condition,Collection Notes\n")


@pytest.fixture
def synced(user_client, make_source, fake_discogs):
    """alice's library "digger" with 12 releases synced from the fake server."""
    fake_discogs.set_collection("digger", list(range(12, 0, -1)), kinds={3: "various"})
    r = user_client.post("/api/libraries", json={"name": "Mine", "discogs_username": "digger"})
    assert r.status_code == 201, r.text
    library_id = r.json()["id"]
    run_sync(library_id=library_id, source=make_source())
    return user_client, library_id


def _track_pk(track_id: str) -> int:
    with session_scope() as s:
        return s.scalar(select(Track.id).where(Track.track_id == track_id))


def test_everything_needs_authentication(client):
    for method, path in [("get", "/api/albums"), ("get", "/api/albums/1"), ("get", "/api/tracks/1"),
                         ("post", "/api/tracks/batch"), ("get", "/api/friends"), ("get", "/api/spins"),
                         ("post", "/api/libraries/1/sync"), ("get", "/api/libraries/1/sync"),
                         ("get", "/api/sync/jobs/x"), ("post", "/api/libraries/1/import/csv")]:
        assert getattr(client, method)(path).status_code == 401, path


def test_albums_list_search_sort_and_missing_filters(synced):
    c, library_id = synced
    page = c.get("/api/albums", params={"library_id": library_id}).json()
    assert page["total"] == 12 and len(page["items"]) == 12
    assert c.get("/api/albums", params={"q": "release 7"}).json()["total"] == 1
    assert c.get("/api/albums", params={"q": "CAT-00011"}).json()["items"][0]["release_id"] == 11
    years = [a["year"] for a in c.get("/api/albums", params={"sort": "year", "order": "asc"}).json()["items"]]
    assert years == sorted(years)
    titles = [a["title"] for a in c.get("/api/albums", params={"sort": "title", "order": "desc"}).json()["items"]]
    assert titles == sorted(titles, reverse=True)
    for sort in ("artist", "date_added", "rating"):
        assert c.get("/api/albums", params={"sort": sort}).status_code == 200
    assert c.get("/api/albums", params={"sort": "bogus"}).status_code == 422
    # Every track lacks audio; give all tracks of release 5 audio and an Apple URL.
    with session_scope() as s:
        for t in s.scalars(select(Track).where(Track.release_id == 5)):
            t.local_audio_path = f"/audio/{t.track_id}.flac"
            t.apple_music_url = "https://music.apple.com/x"
    no_audio = c.get("/api/albums", params={"missing": "audio", "limit": 100}).json()
    assert no_audio["total"] == 11 and 5 not in [a["release_id"] for a in no_audio["items"]]
    assert c.get("/api/albums", params=[("missing", "apple"), ("missing", "audio")]).json()["total"] == 11
    assert c.get("/api/albums", params={"missing": "youtube"}).json()["total"] == 12
    assert c.get("/api/albums", params={"missing": "analysis"}).json()["total"] == 12
    assert c.get("/api/albums", params={"library_id": 999}).status_code == 404


def test_album_detail_edit_and_raw_json(synced):
    c, _ = synced
    album_id = c.get("/api/albums", params={"q": "Release 3"}).json()["items"][0]["id"]
    detail = c.get(f"/api/albums/{album_id}").json()
    assert detail["artist"] == "Various"
    assert [t["position"] for t in detail["tracks"]] == ["A1", "A2", "A3", "B1", "B2", "B3"]
    assert detail["tracks"][0]["artist"] == "Comp Artist 0 & Guest 0"
    assert detail["discogs"]["id"] == 3 and detail["discogs"]["tracklist"]
    r = c.patch(f"/api/albums/{album_id}", json={"rating": 9})
    assert r.status_code == 422 and "rating" in r.json()["detail"]
    refused = c.patch(f"/api/albums/{album_id}", json={"title": "x"})  # a sync keeps a Discogs release's
    assert refused.status_code == 400 and refused.json()["code"] == "from_discogs"
    assert c.patch(f"/api/albums/{album_id}", json={"label": "x"}).status_code == 422  # not editable at all
    r = c.patch(f"/api/albums/{album_id}", json={"rating": 4, "notes": "cue at 0:32", "purchase_price": "12.50"})
    assert r.status_code == 200 and r.json()["rating"] == 4 and r.json()["notes"] == "cue at 0:32"
    assert c.get("/api/albums/999999").status_code == 404


def test_track_edit_validation_soft_delete_restore_and_batch(synced):
    c, _ = synced
    pk = _track_pk("4-A1")
    assert c.get(f"/api/tracks/{pk}").json()["track_id"] == "4-A1"
    for bad in ({"star_rating": 9}, {"youtube_url": "https://evil.example/x"}, {"apple_music_url": "ftp://x"},
                {"tags": ["x" * 100]}, {"bpm": 120}):
        r = c.patch(f"/api/tracks/{pk}", json=bad)
        assert r.status_code == 422, bad
        assert r.json()["detail"]
    r = c.patch(f"/api/tracks/{pk}", json={"star_rating": 5, "tags": ["peak", "peak", " warmup "],
                                           "youtube_url": "https://www.youtube.com/watch?v=x", "notes": "n"})
    assert r.status_code == 200, r.text
    assert r.json()["tags"] == ["peak", "warmup"] and r.json()["star_rating"] == 5
    assert c.delete(f"/api/tracks/{pk}").status_code == 204
    assert c.get(f"/api/tracks/{pk}").json()["deleted_at"] is not None
    assert c.patch(f"/api/tracks/{pk}", json={"notes": "x"}).status_code == 409
    other = _track_pk("4-A2")
    assert [t["id"] for t in c.post("/api/tracks/batch", json={"ids": [other, pk, 999999]}).json()] == [other]
    assert c.post(f"/api/tracks/{pk}/restore").json()["deleted_at"] is None
    assert [t["id"] for t in c.post("/api/tracks/batch", json={"ids": [other, pk]}).json()] == [other, pk]
    assert [t["id"] for t in c.get("/api/tracks", params={"ids": f"{pk},{other}"}).json()] == [pk, other]
    assert c.post("/api/tracks/batch", json={"ids": []}).status_code == 422


def test_other_users_cannot_see_or_edit(synced, make_user):
    c, library_id = synced
    bob = make_user("bob")
    pk = _track_pk("4-A1")
    assert bob.get(f"/api/tracks/{pk}").status_code == 404
    assert bob.patch(f"/api/tracks/{pk}", json={"notes": "x"}).status_code == 404
    assert bob.get("/api/albums").json()["total"] == 0
    assert bob.post(f"/api/libraries/{library_id}/sync").status_code == 404
    assert bob.get(f"/api/libraries/{library_id}/sync").status_code == 404
    # Shared read-only: visible, not editable
    assert c.post(f"/api/libraries/{library_id}/shares", json={"username": "bob"}).status_code == 204
    assert bob.post(f"/api/users/me/invitations/{library_id}/accept").status_code == 200  # shares need consent
    assert bob.get(f"/api/tracks/{pk}").status_code == 200
    assert bob.patch(f"/api/tracks/{pk}", json={"notes": "x"}).status_code == 403
    assert bob.post(f"/api/libraries/{library_id}/sync").status_code == 403


def test_manual_album_for_records_not_on_discogs(user_client):
    c = user_client
    library_id = c.post("/api/libraries", json={"name": "Dubplates"}).json()["id"]
    body = {"title": "Untitled Dub", "artist": "Unknown", "year": 2024,
            "tracks": [{"position": "A", "title": "Dub", "duration": "6:12"}, {"position": "B", "title": "Version"}]}
    r = c.post(f"/api/libraries/{library_id}/albums", json=body)
    assert r.status_code == 201, r.text
    album = r.json()
    assert album["release_id"] < 0 and album["discogs"] is None
    assert [(t["position"], t["duration_seconds"]) for t in album["tracks"]] == [("A", 372.0), ("B", None)]
    second = c.post(f"/api/libraries/{library_id}/albums", json={"title": "Another", "artist": "X"}).json()
    assert second["release_id"] == album["release_id"] - 1
    bad = c.post(f"/api/libraries/{library_id}/albums", json={"title": "", "artist": "X"})
    assert bad.status_code == 422 and bad.json()["detail"]
    dup = c.post(f"/api/libraries/{library_id}/albums",
                 json={"title": "D", "artist": "X", "tracks": [{"position": "A", "title": "1"}, {"position": "A", "title": "2"}]})
    assert dup.status_code == 422 and "twice" in dup.json()["detail"]
    assert c.post("/api/libraries/999/albums", json=body).status_code == 404


def test_correct_a_hand_made_records_title_artist_and_year(user_client, make_user):
    """PATCH /api/albums/{id} with title/artist/year: validated with the field named, carried to the tracks
    (search finds the new title), refused for a Discogs release (400 from_discogs, in the test above)."""
    c = user_client
    library_id = c.post("/api/libraries", json={"name": "Dubplates"}).json()["id"]
    album = c.post(f"/api/libraries/{library_id}/albums", json={
        "title": "Untitld", "artist": "Unknwn", "year": 2024,
        "tracks": [{"position": "A", "title": "Dub"}, {"position": "B", "title": "Version", "artist": "Guest"}]}).json()
    r = c.patch(f"/api/albums/{album['id']}", json={"title": " Untitled Dub ", "artist": "Unknown", "year": None})
    assert r.status_code == 200, r.text
    assert (r.json()["title"], r.json()["artist"], r.json()["year"]) == ("Untitled Dub", "Unknown", None)
    tracks = c.get(f"/api/albums/{album['id']}").json()["tracks"]
    assert [(t["album"], t["artist"], t["year"]) for t in tracks] == [("Untitled Dub", "Unknown", None),
                                                                       ("Untitled Dub", "Guest", None)]
    found = c.get("/api/tracks/search", params={"q": "untitled dub"}).json()["items"]
    assert {t["title"] for t in found} == {"Dub", "Version"}

    next_year = datetime.now(UTC).year + 1
    for body, field in [({"title": "  "}, "title"), ({"artist": None}, "artist"), ({"year": 1899}, "year"),
                        ({"year": next_year + 1}, "year")]:
        bad = c.patch(f"/api/albums/{album['id']}", json=body)
        assert bad.status_code == 422 and bad.json()["detail"].startswith(f"{field}:"), body
    assert c.patch(f"/api/albums/{album['id']}", json={"year": next_year}).json()["year"] == next_year
    bob = make_user("bob")
    assert bob.patch(f"/api/albums/{album['id']}", json={"title": "Mine"}).status_code == 404
    assert c.get(f"/api/albums/{album['id']}").json()["title"] == "Untitled Dub"


def test_csv_import_creates_albums_and_queues_tracklists(user_client, discogs_env):
    c = user_client
    library_id = c.post("/api/libraries", json={"name": "From CSV"}).json()["id"]
    csv = CSV_HEADER + (
        'CAT-1,"Moodymann (2)",Silentintroduction,"Planet E (2)","2xLP, Album",5,1997,11,Uncategorized,'
        '2023-05-01 10:11:12,Very Good Plus (VG+),Good (G),"first press"\n'
        'CAT-2,"Jeff Mills*, Robert Hood",Split,Axis,"12""",,0,12,Uncategorized,2023-05-02 10:11:12,,,\n'
    )
    r = c.post(f"/api/libraries/{library_id}/import/csv", files={"file": ("export.csv", csv.encode(), "text/csv")})
    assert r.status_code == 201, r.text
    assert r.json()["albums_created"] == 2 and r.json()["sync_job_id"]
    albums = {a["release_id"]: a for a in c.get("/api/albums", params={"library_id": library_id}).json()["items"]}
    assert albums[11]["artist"] == "Moodymann" and albums[11]["label"] == "Planet E" and albums[11]["rating"] == 5
    assert albums[11]["condition"] == "Media: Very Good Plus (VG+); Sleeve: Good (G)"
    assert albums[11]["year"] == 1997 and albums[12]["year"] is None
    assert albums[12]["artist"] == "Jeff Mills, Robert Hood"
    state = c.get(f"/api/libraries/{library_id}/sync").json()
    assert state["job"]["job_status"] == "queued" and state["job"]["progress"]["mode"] == "tracklists"
    # Re-import: nothing duplicated, user's rating kept.
    c.patch(f"/api/albums/{albums[11]['id']}", json={"rating": 2})
    r = c.post(f"/api/libraries/{library_id}/import/csv", files={"file": ("export.csv", csv.encode(), "text/csv")})
    assert r.json()["albums_created"] == 0 and r.json()["albums_updated"] == 2
    assert c.get(f"/api/albums/{albums[11]['id']}").json()["rating"] == 2


@pytest.mark.parametrize(
    ("content", "needle"),
    [(b"", "empty"), (b"name,year\nfoo,1999\n", "missing column(s) release_id, Artist, Title"),
     ((CSV_HEADER + "C,A,T,L,F,,1999,abc,U,,,,\n").encode(), "line 2: release_id 'abc'"),
     ((CSV_HEADER + "C,A,T,L,F,7,1999,5,U,,,,\n").encode(), "line 2: Rating '7'"),
     (CSV_HEADER.encode(), "no records"), (b"\xff\xfe\x00\x00garbage\x00", "")],
)
def test_bad_csv_is_a_clear_4xx(user_client, content, needle):
    library_id = user_client.post("/api/libraries", json={"name": "L"}).json()["id"]
    r = user_client.post(f"/api/libraries/{library_id}/import/csv", files={"file": ("x.csv", content, "text/csv")})
    assert r.status_code in (400, 422), r.text
    assert needle in r.json()["detail"]


def test_csv_into_unknown_or_friend_library(user_client):
    files = {"file": ("x.csv", (CSV_HEADER + "C,A,T,L,F,,1999,5,U,,,,\n").encode(), "text/csv")}
    assert user_client.post("/api/libraries/999/import/csv", files=files).status_code == 404
    with session_scope() as s:  # a friend's library (following one needs a Discogs token: see test_collection_ui)
        friend = Library(owner_id=user_client.user_id, name="pal's collection", discogs_username="pal", is_friend=True)
        s.add(friend)
        s.flush()
        friend_id = friend.id
    r = user_client.post(f"/api/libraries/{friend_id}/import/csv", files=files)
    assert r.status_code == 403 and "read-only" in r.json()["detail"]


def test_sync_endpoint_enqueues_once_and_needs_token(user_client, discogs_env, monkeypatch):
    c = user_client
    library_id = c.post("/api/libraries", json={"name": "Mine", "discogs_username": "digger"}).json()["id"]
    first = c.post(f"/api/libraries/{library_id}/sync")
    assert first.status_code == 202, first.text
    job = first.json()["job"]
    assert job["job_status"] == "queued" and job["progress"]["stage"] == "queued"
    again = c.post(f"/api/libraries/{library_id}/sync").json()["job"]
    assert again["job_id"] == job["job_id"]
    assert c.get(f"/api/sync/jobs/{job['job_id']}").json()["job_id"] == job["job_id"]
    assert c.get("/api/sync/jobs/nope").status_code == 404
    no_username = c.post("/api/libraries", json={"name": "CSV"}).json()["id"]
    r = c.post(f"/api/libraries/{no_username}/sync")
    assert r.status_code == 400 and "CSV" in r.json()["detail"]
    assert c.post("/api/libraries/999/sync").status_code == 404
    monkeypatch.delenv("DISCOGS_USER_TOKEN")
    from services.common.settings import get_settings

    get_settings.cache_clear()
    r = c.post(f"/api/libraries/{library_id}/sync")
    assert r.status_code == 400 and "DISCOGS_USER_TOKEN" in r.json()["detail"]


def test_sync_state_shows_the_last_run(synced):
    c, library_id = synced
    state = c.get(f"/api/libraries/{library_id}/sync").json()
    assert state["last_run"]["status"] == "finished" and state["last_run"]["percent"] == 100
    assert state["counts"] == {"albums": 12, "tracks": 72, "albums_without_tracklist": 0}
    lib = c.get(f"/api/libraries/{library_id}").json()
    assert lib["last_synced_at"] is not None


def test_scheduled_resync_setting(synced):
    from rq.registry import ScheduledJobRegistry

    from services.domain.collection.jobs import scheduled_resync_at
    from services.domain.jobs import SYNC_QUEUE, queue

    c, library_id = synced
    r = c.put(f"/api/libraries/{library_id}/sync/settings", json={"sync_interval_hours": 12})
    assert r.status_code == 200, r.text
    at = r.json()["next_scheduled_sync"]
    expected = datetime.now(UTC) + timedelta(hours=12)
    assert abs(datetime.fromisoformat(at) - expected) < timedelta(minutes=1)
    assert c.get(f"/api/libraries/{library_id}").json()["settings"]["sync_interval_hours"] == 12
    # Changing it replaces the scheduled job, never adds a second one.
    c.put(f"/api/libraries/{library_id}/sync/settings", json={"sync_interval_hours": 24})
    registry = ScheduledJobRegistry(queue=queue(SYNC_QUEUE))
    mine = [j for j in registry.get_job_ids() if j and scheduled_resync_at(library_id)]
    assert len(mine) >= 1
    assert abs(scheduled_resync_at(library_id) - (datetime.now(UTC) + timedelta(hours=24))) < timedelta(minutes=1)
    r = c.put(f"/api/libraries/{library_id}/sync/settings", json={"sync_interval_hours": None})
    assert r.json()["next_scheduled_sync"] is None
    assert c.put(f"/api/libraries/{library_id}/sync/settings", json={"sync_interval_hours": 0.1}).status_code == 422


def test_friends_follow_list_unfollow(user_client, discogs_env, make_source, fake_discogs):
    c = user_client
    fake_discogs.set_collection("pal", [31, 32])
    r = c.post("/api/friends", json={"username": "pal"})
    assert r.status_code == 201, r.text
    library_id = r.json()["library_id"]
    assert r.json()["sync_job_id"]
    run_sync(library_id=library_id, source=make_source())
    assert [f["username"] for f in c.get("/api/friends").json()] == ["pal"]
    libs = {lib["id"]: lib for lib in c.get("/api/libraries").json()}
    assert libs[library_id]["is_friend"] and libs[library_id]["read_only"]
    album = c.get("/api/albums", params={"library_id": library_id}).json()["items"][0]
    assert c.patch(f"/api/albums/{album['id']}", json={"rating": 3}).status_code == 403
    pk = c.get(f"/api/albums/{album['id']}").json()["tracks"][0]["id"]
    assert c.patch(f"/api/tracks/{pk}", json={"notes": "x"}).status_code == 403
    assert c.delete(f"/api/tracks/{pk}").status_code == 403
    assert c.post("/api/friends", json={"username": "pal"}).status_code == 409
    assert c.post("/api/friends", json={"username": "bad name!"}).status_code == 422
    assert c.delete("/api/friends/pal").status_code == 204
    assert c.delete("/api/friends/pal").status_code == 404
    with session_scope() as s:
        assert s.get(Library, library_id) is None
        assert s.scalar(select(func.count()).select_from(Album).where(Album.library_id == library_id)) == 0
        assert s.scalar(select(func.count()).select_from(Track).where(Track.library_id == library_id)) == 0


def test_spins_sides_tracks_history_and_top(synced):
    c, _ = synced
    album_id = c.get("/api/albums", params={"q": "Release 4"}).json()["items"][0]["id"]
    b1 = _track_pk("4-B1")
    r = c.post("/api/spins", json={"notes": "Sunday", "items": [{"album_id": album_id, "side": "a"},
                                                                 {"track_pk": b1}]})
    assert r.status_code == 201, r.text
    assert [s["side"] for s in r.json()["spins"]] == ["A", "A", "A", None]
    c.post("/api/spins", json={"items": [{"track_pk": b1}]})
    history = c.get("/api/spins").json()
    assert history["total"] == 2 and len(history["items"][1]["spins"]) == 4
    top = c.get("/api/spins/top-tracks").json()
    assert top[0]["plays"] == 2 and top[0]["track"]["track_id"] == "4-B1"
    assert c.post("/api/spins", json={"items": [{"album_id": album_id, "side": "Z"}]}).status_code == 422
    assert c.post("/api/spins", json={"items": [{"album_id": album_id}]}).status_code == 422
    assert c.post("/api/spins", json={"items": [{"track_pk": 999999}]}).status_code == 404
    assert c.post("/api/spins", json={"items": []}).status_code == 422
    sid = history["items"][0]["id"]
    assert c.delete(f"/api/spins/{sid}").status_code == 204
    assert c.get("/api/spins").json()["total"] == 1


def test_admin_library_from_discogs_username(db_session, monkeypatch):
    from services.common.models import User
    from services.common.settings import get_settings
    from services.domain.libraries.service import ensure_discogs_library

    monkeypatch.setenv("DISCOGS_USERNAME", "boss")
    get_settings.cache_clear()
    try:
        assert ensure_discogs_library(session=db_session, settings=get_settings()) is None  # no admin yet
        db_session.add(User(username="admin", password_hash="x", is_admin=True))
        db_session.commit()
        lib = ensure_discogs_library(session=db_session, settings=get_settings())
        assert lib.discogs_username == "boss" and not lib.is_friend
        assert ensure_discogs_library(session=db_session, settings=get_settings()).id == lib.id  # idempotent
    finally:
        get_settings.cache_clear()


def test_openapi_documents_collection_routes(user_client):
    paths = user_client.get("/openapi.json").json()["paths"]
    for p in ("/api/albums", "/api/albums/{album_id}", "/api/tracks/{track_pk}", "/api/tracks/batch",
              "/api/friends", "/api/spins", "/api/spins/top-tracks", "/api/libraries/{library_id}/sync",
              "/api/libraries/{library_id}/import/csv", "/api/sync/jobs/{job_id}", "/api/libraries/{library_id}/albums"):
        assert p in paths, p


def test_library_page_shows_albums_and_live_progress(synced, discogs_env):
    c, library_id = synced
    page = c.get(f"/libraries/{library_id}")
    assert page.status_code == 200
    assert "Release 7" in page.text and "Sync from Discogs" in page.text and "100.0%" in page.text
    started = c.post(f"/libraries/{library_id}/sync")
    assert started.status_code == 200
    assert 'hx-trigger="every 1s"' in started.text  # queued: the fragment polls itself every second
    fragment = c.get(f"/libraries/{library_id}/sync-progress")
    assert fragment.status_code == 200 and "sync-progress" in fragment.text
    bad = c.post(f"/libraries/{library_id}/import-csv", files={"file": ("x.csv", b"a,b\n", "text/csv")})
    assert bad.status_code == 422 and "missing column" in bad.text
    assert c.get("/libraries/999").status_code == 404


def test_startup_reschedules_lost_resyncs(synced, discogs_env):
    from services.common.db import get_redis
    from services.domain.collection.jobs import schedule_all_resyncs, scheduled_resync_at

    c, library_id = synced
    c.put(f"/api/libraries/{library_id}/sync/settings", json={"sync_interval_hours": 6})
    get_redis().delete(f"djp:resync:library:{library_id}")  # as if Redis lost it
    assert scheduled_resync_at(library_id) is None
    schedule_all_resyncs()
    assert scheduled_resync_at(library_id) is not None


def test_follow_friend_form(user_client, discogs_env):
    assert 'hx-post="/friends"' in user_client.get("/libraries").text
    r = user_client.post("/friends", data={"username": "pal"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/libraries/")
    assert [f["username"] for f in user_client.get("/api/friends").json()] == ["pal"]
    assert user_client.post("/friends", data={"username": "bad name"}).status_code == 422
