"""The UI's player bar, play buttons, download buttons and the Jobs page (server-rendered HTML)."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.common import db
from services.common.models import Album, Library, Playlist, PlaylistTrack, Track
from services.domain import jobs as domain_jobs

PAGES_WITH_PLAYER = ("/", "/tracks", "/jobs")


def _collection(owner_id: int) -> dict[str, int]:
    """A library with an album of two tracks (the first has audio) and a playlist of both."""
    with db.session_scope() as s:
        lib = Library(owner_id=owner_id, name="Crates", discogs_username="crates")
        s.add(lib)
        s.flush()
        album = Album(library_id=lib.id, release_id=77, artist="Test Artist", title="Test Album")
        s.add(album)
        s.flush()
        with_audio = Track(track_id="77-A1", library_id=lib.id, album_id=album.id, title="Has Audio",
                           artist="Test Artist", position="A1", local_audio_path=f"library_{lib.id}/x.wav")
        without = Track(track_id="77-A2", library_id=lib.id, album_id=album.id, title="No Audio",
                        artist="Test Artist", position="A2")
        s.add_all([with_audio, without])
        s.flush()
        playlist = Playlist(owner_id=owner_id, name="Warm-up")
        s.add(playlist)
        s.flush()
        s.add_all([PlaylistTrack(playlist_id=playlist.id, track_pk=with_audio.id, position=0),
                   PlaylistTrack(playlist_id=playlist.id, track_pk=without.id, position=1)])
        return {"library": lib.id, "album": album.id, "with": with_audio.id, "without": without.id,
                "playlist": playlist.id}


def _has_player(html: str) -> bool:
    return ('id="player"' in html and '<audio id="player-audio"' in html and 'data-player="toggle"' in html
            and 'data-player-seek' in html and "/static/player.js" in html)


def test_every_page_has_the_player_bar_outside_main_and_a_jobs_link(make_user):
    alice = make_user("alice")
    ids = _collection(alice.user_id)
    pages = (*PAGES_WITH_PLAYER, f"/albums/{ids['album']}", f"/tracks/{ids['with']}", f"/playlists/{ids['playlist']}",
             f"/libraries/{ids['library']}")
    for path in pages:
        r = alice.get(path)
        assert r.status_code == 200, (path, r.text[:300])
        html = r.text
        assert _has_player(html), path
        assert '<a href="/jobs">Jobs</a>' in html, path
        assert 'hx-boost="true"' in html and '<main id="main" hx-history-elt>' in html, path
        # the bar comes after </main>: swapping <main> leaves it (and its audio) alone
        assert html.index("</main>") < html.index('id="player"'), path
        assert html.count("/static/shortcuts.js") == 1, path  # once, in base.html
    # Full-page posts stay full page loads (login, logout); the API docs are not our page.
    home = alice.get("/").text
    assert re.search(r'<form method="post" action="/logout"[^>]*hx-boost="false"', home)
    assert '<a href="/docs" hx-boost="false">' in home


def test_login_page_has_no_player_and_posts_in_full(client):
    page = client.get("/login").text
    assert 'id="player"' not in page and 'hx-boost="true"' not in page
    assert '<form method="post" action="/login" hx-boost="false">' in page


def test_static_scripts_are_served(client):
    player = client.get("/static/player.js")
    assert player.status_code == 200 and "sessionStorage" in player.text and "playTracks" in player.text
    jobs = client.get("/static/jobs.js")
    assert jobs.status_code == 200 and "/api/jobs/events" in jobs.text and "EventSource" in jobs.text


@pytest.mark.skipif(shutil.which("node") is None, reason="node checks the scripts' syntax")
def test_scripts_parse():
    static = Path(__file__).resolve().parents[2] / "services" / "web" / "static"
    for name in ("player.js", "jobs.js", "shortcuts.js"):
        done = subprocess.run(["node", "--check", str(static / name)], check=False, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr


def test_play_buttons_only_for_tracks_with_audio(make_user):
    alice = make_user("alice")
    ids = _collection(alice.user_id)
    with_audio, without = f'data-play="{ids["with"]}"', f'data-play="{ids["without"]}"'

    album = alice.get(f"/albums/{ids['album']}").text
    assert with_audio in album and without not in album
    assert 'data-title="Has Audio"' in album and 'data-artist="Test Artist"' in album
    assert 'data-play-all="#album-tracks"' in album  # "Play all" queues the album's playable tracks

    assert with_audio in alice.get(f"/tracks/{ids['with']}").text
    track_without = alice.get(f"/tracks/{ids['without']}").text
    assert "data-play=" not in track_without

    playlist = alice.get(f"/playlists/{ids['playlist']}").text
    assert with_audio in playlist and without not in playlist and "data-play-all=" in playlist

    results = alice.get("/tracks").text
    assert with_audio in results and without not in results
    fragment = alice.get("/tracks?q=audio", headers={"HX-Request": "true", "HX-Target": "results"}).text
    assert "<main" not in fragment and with_audio in fragment

    # An album where nothing has audio yet: no "Play all".
    with db.session_scope() as s:
        s.get(Track, ids["with"]).local_audio_path = None
    album = alice.get(f"/albums/{ids['album']}").text
    assert "data-play=" not in album and "data-play-all=" not in album


def test_a_boosted_request_gets_the_whole_page(make_user):
    """htmx boosted navigation fetches the full page and keeps only <main> (player.js), title included."""
    alice = make_user("alice")
    ids = _collection(alice.user_id)
    r = alice.get(f"/albums/{ids['album']}", headers={"HX-Request": "true", "HX-Boosted": "true"})
    assert r.status_code == 200
    assert '<main id="main"' in r.text and "<title>Test Artist – Test Album · DJ Playlist</title>" in r.text
    tracks = alice.get("/tracks", headers={"HX-Request": "true", "HX-Boosted": "true"}).text
    assert '<main id="main"' in tracks  # not the results fragment


def test_download_buttons_on_track_album_and_playlist_pages(make_user):
    alice = make_user("alice")
    ids = _collection(alice.user_id)
    track = alice.get(f"/tracks/{ids['without']}").text
    assert f'data-download="/api/tracks/{ids["without"]}/download"' in track and "Download audio" in track
    assert f'data-job-track="{ids["without"]}"' in track and "data-download-result" in track
    album = alice.get(f"/albums/{ids['album']}").text
    assert f'data-download="/api/albums/{ids["album"]}/download"' in album and "Download missing audio" in album
    for pk in (ids["with"], ids["without"]):  # each row shows its download's progress
        assert f'data-job-track="{pk}"' in album
    playlist = alice.get(f"/playlists/{ids['playlist']}").text
    assert f'data-download="/api/playlists/{ids["playlist"]}/download"' in playlist
    assert f'data-job-track="{ids["without"]}"' in playlist


def test_friends_library_tracks_can_be_downloaded_but_not_uploaded(make_user):
    alice = make_user("alice")
    with db.session_scope() as s:
        lib = Library(owner_id=alice.user_id, name="Friend", discogs_username="pal", is_friend=True)
        s.add(lib)
        s.flush()
        t = Track(track_id="5-A1", library_id=lib.id, title="Theirs", artist="Pal")
        s.add(t)
        s.flush()
        pk = t.id
    page = alice.get(f"/tracks/{pk}").text
    assert f'data-download="/api/tracks/{pk}/download"' in page
    assert f'action="/api/tracks/{pk}/audio"' not in page  # uploads only to your own libraries


def test_jobs_page_requires_login(client):
    r = client.get("/jobs", headers={"Accept": "text/html"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    assert client.get("/jobs").status_code == 401


@pytest.fixture
def private_download_queue(monkeypatch) -> str:
    """Download jobs go to a queue no worker listens on, so they stay queued even if some worker runs."""
    name = "download-ui-test"
    monkeypatch.setattr(domain_jobs, "DOWNLOAD_QUEUE", name)
    return name


@pytest.fixture
def queued_download(make_user, private_download_queue) -> Iterator[tuple]:
    """Alice's track with a download queued (no worker runs: it stays queued); removed afterwards."""
    from services.domain.downloads.jobs import enqueue_download

    alice = make_user("alice")
    ids = _collection(alice.user_id)
    with db.session_scope() as s:
        job, created = enqueue_download(track=s.get(Track, ids["without"]), url=None, user_id=alice.user_id)
    assert created
    try:
        yield alice, ids, job
    finally:
        redis = db.get_redis()
        job.delete()
        redis.zrem(domain_jobs.index_key(job.meta.get("library_id")), job.id)
        redis.delete(f"djp:download:track:{ids['without']}")


def test_jobs_page_lists_your_jobs_with_cancel_then_retry(queued_download, make_user):
    alice, ids, job = queued_download
    page = alice.get("/jobs")
    assert page.status_code == 200
    html = page.text
    assert f'data-job-id="{job.id}"' in html
    row = html[html.index(f'<tr data-job-id="{job.id}"'):]
    row = row[: row.index("</tr>")]
    assert "download" in row and "queued" in row
    assert f'<a href="/tracks/{ids["without"]}">Download Test Artist – No Audio</a>' in row
    assert f'data-job-action="cancel" data-job-id="{job.id}"' in row and "Retry" not in row
    assert 'role="progressbar"' in row
    assert "data-jobs-table" in html and "/static/jobs.js" in html

    # Filters by kind and status (query parameters).
    assert f'data-job-id="{job.id}"' in alice.get("/jobs?kind=download&status=queued").text
    assert f'data-job-id="{job.id}"' not in alice.get("/jobs?kind=sync").text
    assert f'data-job-id="{job.id}"' not in alice.get("/jobs?status=failed").text
    bad = alice.get("/jobs?kind=nope")
    assert bad.status_code == 422 and "kind" in bad.text and 'id="player"' in bad.text

    # Someone else never sees it.
    bob = make_user("bob")
    assert job.id not in bob.get("/jobs").text
    assert bob.post(f"/api/jobs/{job.id}/cancel").status_code == 404

    # Cancelled (what the Cancel button calls), it offers Retry instead.
    assert alice.post(f"/api/jobs/{job.id}/cancel").status_code == 200
    html = alice.get("/jobs").text
    row = html[html.index(f'<tr data-job-id="{job.id}"'):]
    row = row[: row.index("</tr>")]
    assert f'data-job-action="retry" data-job-id="{job.id}"' in row and "cancelled" in row


def test_jobs_page_without_jobs(make_user):
    alice = make_user("carol")
    html = alice.get("/jobs").text
    assert "No jobs" in html and "<time" not in html
