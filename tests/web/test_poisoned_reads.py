"""Nothing that can be stored makes a read fail: dates are range-checked on the way in (CSV import, spins),
and timestamps outside what Python can hold (rows stored before the checks, or written by hand) read back
clamped. Every list route answers 200 for the owner and for a user the library is shared with."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from services.common import db
from services.common.models import Album, Library, Track

CSV_HEADER = ("Catalog#,Artist,Title,Label,Format,Rating,Released,release_id,CollectionFolder,Date Added,"
              "Collection Media Condition,Collection Sleeve Condition,Collection Notes\n")
# Accepted on the way in: the CSV's Date Added range (1900..2100 UTC)
ALLOWED = ["1900-01-01T00:00:00+00:00", "2100-12-31T23:59:59+00:00"]
# What the database holds but Python cannot: stored before the checks (the values), or by hand
POISON = ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "-infinity", "infinity",
          "4713-01-01 00:00:00+00 BC", "294276-12-31 23:59:59+00"]


def _csv(*rows: str) -> bytes:
    return (CSV_HEADER + "".join(rows)).encode()


def _row(release_id: str, date_added: str) -> str:
    return f"C,Artist,Title,Label,LP,,1999,{release_id},U,{date_added},,,\n"


def _import(client, library_id: int, data: bytes):
    return client.post(f"/api/libraries/{library_id}/import/csv", files={"file": ("x.csv", data, "text/csv")})


@pytest.mark.parametrize("value", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "1899-12-31 23:59:59"])
def test_csv_date_added_out_of_range_is_a_422_naming_the_line(user_client, value):
    library_id = user_client.post("/api/libraries", json={"name": "L"}).json()["id"]
    r = _import(user_client, library_id, _csv(_row("1", "2023-05-01 10:11:12"), _row("2", value)))
    assert r.status_code == 422, r.text
    assert r.json()["code"] == "bad_csv" and r.json()["detail"].startswith("line 3: Date Added")
    assert user_client.get("/api/albums", params={"library_id": library_id}).json()["total"] == 0  # nothing stored


@pytest.mark.parametrize("release_id", ["²", "١٢", "99999999999999999999"])
def test_csv_release_id_not_ascii_digits_is_a_422_naming_the_line(user_client, release_id):
    library_id = user_client.post("/api/libraries", json={"name": "L"}).json()["id"]
    r = _import(user_client, library_id, _csv(_row(release_id, "")))
    assert r.status_code == 422, r.text
    assert r.json() == {"detail": f"line 2: release_id {release_id!r} is not a Discogs release number",
                        "code": "bad_csv"}


def test_csv_date_added_at_the_edges_is_stored_in_utc(user_client):
    library_id = user_client.post("/api/libraries", json={"name": "L"}).json()["id"]
    r = _import(user_client, library_id, _csv(_row("1", "1900-01-01T09:00:00+09:00"), _row("2", "2100-12-31 23:59:59"),
                                              _row("3", "2023-05-01T01:30:00+14:00")))
    assert r.status_code == 201, r.text
    items = user_client.get("/api/albums", params={"library_id": library_id}).json()["items"]
    dates = {a["release_id"]: a["date_added"] for a in items}
    assert dates == {1: "1900-01-01T00:00:00Z", 2: "2100-12-31T23:59:59Z", 3: "2023-04-30T11:30:00Z"}


def _log(client, track_pk: int, **times):
    return client.post("/api/spins", json={"items": [{"track_pk": track_pk, **times.pop("item", {})}], **times})


def test_spin_times_are_range_checked_and_stored_in_utc(user_client):
    c = user_client
    with db.session_scope() as s:
        lib = Library(owner_id=c.get("/api/auth/me").json()["id"], name="Crate")
        s.add(lib)
        s.flush()
        track = Track(track_id="1-A1", library_id=lib.id, title="Tone", artist="A")
        s.add(track)
        s.flush()
        pk = track.id
    for bad in ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "1899-12-31T23:59:59Z",
                (datetime.now(UTC) + timedelta(days=2)).isoformat()):
        r = _log(c, pk, started_at=bad)
        assert r.status_code == 422, r.text
        assert r.json()["code"] == "invalid_date" and r.json()["detail"].startswith("started_at ")
        r = _log(c, pk, item={"played_at": bad})
        assert r.status_code == 422 and r.json()["detail"].startswith("items[0].played_at ")
    assert c.get("/api/spins").json()["total"] == 0
    ok = _log(c, pk, started_at="1900-01-01T09:00:00+09:00")
    assert ok.status_code == 201, ok.text
    assert ok.json()["started_at"] == "1900-01-01T00:00:00Z"
    soon = datetime.now(UTC) + timedelta(hours=20)
    assert _log(c, pk, started_at=soon.isoformat()).status_code == 201
    assert _log(c, pk, started_at="2024-06-01T12:00:00").json()["started_at"] == "2024-06-01T12:00:00Z"  # naive = UTC


def _set(table: str, column: str, row_id: int, value: str) -> None:
    with db.get_engine().begin() as conn:
        conn.execute(text(f"UPDATE {table} SET {column} = CAST(:v AS timestamptz) WHERE id = :id"),  # noqa: S608
                     {"v": value, "id": row_id})


def test_every_list_reads_with_extreme_and_poisoned_dates(make_user):
    alice, bob = make_user("alice"), make_user("bob")
    library_id = alice.post("/api/libraries", json={"name": "Crate"}).json()["id"]
    assert alice.post(f"/api/libraries/{library_id}/shares", json={"username": "bob"}).status_code == 204
    assert bob.post(f"/api/users/me/invitations/{library_id}/accept").status_code == 200  # shares need consent
    values = ALLOWED + POISON + [(datetime.now(UTC) + timedelta(hours=23)).isoformat()]
    albums, tracks = [], []
    with db.session_scope() as s:
        for n, _ in enumerate(values, start=1):
            album = Album(library_id=library_id, release_id=n, title=f"Title {n}", artist="Artist")
            s.add(album)
            s.flush()
            track = Track(track_id=f"{n}-A1", library_id=library_id, album_id=album.id, release_id=n,
                          title=f"Title {n}", artist="Artist", position="A1")
            s.add(track)
            s.flush()
            albums.append(album.id)
            tracks.append(track.id)
    pls = {}
    for name, client in (("alice", alice), ("bob", bob)):
        r = client.post("/api/playlists", json={"name": f"{name}'s set", "track_pks": tracks})
        assert r.status_code == 201, r.text
        pls[name] = r.json()["id"]
        logged = [_log(client, pk).json()["id"] for pk in tracks]
        for value, spin_session_id in zip(values, logged, strict=True):
            _set("spin_sessions", "started_at", spin_session_id, value)
            with db.get_engine().begin() as conn:
                conn.execute(text("UPDATE spins SET played_at = CAST(:v AS timestamptz) WHERE session_id = :id"),
                             {"v": value, "id": spin_session_id})
    for value, album_id, track_pk in zip(values, albums, tracks, strict=True):
        _set("albums", "date_added", album_id, value)
        _set("albums", "created_at", album_id, value)
        _set("tracks", "analyzed_at", track_pk, value)
        _set("tracks", "updated_at", track_pk, value)
    _set("playlists", "created_at", pls["alice"], POISON[0])
    _set("playlists", "updated_at", pls["alice"], POISON[1])
    _set("libraries", "last_synced_at", library_id, POISON[1])

    for name, client in (("alice", alice), ("bob", bob)):
        urls = ["/api/albums", f"/api/albums?library_id={library_id}", "/api/albums?sort=date_added&order=asc",
                "/api/spins", "/api/spins/top-tracks", f"/api/tracks?ids={','.join(map(str, tracks))}",
                "/api/tracks/search?q=Title", "/api/tracks/search", "/api/playlists", f"/api/playlists/{pls[name]}", "/api/libraries",
                f"/api/libraries/{library_id}", "/", "/libraries", f"/libraries/{library_id}", "/tracks", "/spins",
                "/playlists", f"/playlists/{pls[name]}"]
        urls += [f"/api/albums/{a}" for a in albums] + [f"/albums/{a}" for a in albums]
        urls += [f"/api/tracks/{t}" for t in tracks] + [f"/tracks/{t}" for t in tracks]
        for url in urls:
            r = client.get(url)
            assert r.status_code == 200, (name, url, r.status_code, r.text[:300])

        page = client.get("/api/albums", params={"library_id": library_id, "limit": 100}).json()
        dates = {a["release_id"]: a["date_added"] for a in page["items"]}
        assert dates[1] == "1900-01-01T00:00:00Z" and dates[2] == "2100-12-31T23:59:59Z"
        # Before year 1 reads as the earliest datetime, after 9999 as the latest.
        assert dates[3] == dates[5] == dates[7] == "0001-01-01T00:00:00Z"
        assert dates[4] == dates[6] == dates[8] == "9999-12-31T23:59:59.999999Z"
        history = client.get("/api/spins", params={"limit": 200}).json()
        assert history["total"] == len(values)
        assert {"0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999999Z"} <= {s["started_at"] for s in history["items"]}
