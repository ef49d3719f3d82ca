"""Browser pages the lead owns: HTML error pages, the command palette, the dashboard."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi.testclient import TestClient

from services.common import db
from services.common.models import Library, Playlist, Track

HTML = {"accept": "text/html,application/xhtml+xml"}


def _library_with_tracks(owner_id: int, *, analysed: int, with_audio: int, total: int) -> int:
    with db.session_scope() as s:
        lib = Library(owner_id=owner_id, name="Crates")
        s.add(lib)
        s.flush()
        for i in range(total):
            s.add(Track(track_id=f"1-A{i}", library_id=lib.id, title=f"Deep Motion {i}", artist="Aphex Twin",
                        local_audio_path=f"library_{lib.id}/{i}.flac" if i < with_audio else None,
                        analyzed_at=datetime.now(UTC) if i < analysed else None))
        s.add(Playlist(owner_id=owner_id, name="Warm-up set"))
        return lib.id


def test_missing_page_is_an_html_page_with_a_request_id(make_user):
    client = make_user("dj")
    r = client.get("/no-such-page", headers=HTML)
    assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")
    assert "There is no page at this address." in r.text
    assert r.headers["x-request-id"] in r.text
    assert 'href="/tracks"' in r.text  # the signed-in navigation is there
    # A missing resource behind a browser route: the domain's message, as a page.
    r = client.get("/playlists/987654", headers=HTML)
    assert r.status_code == 404 and "playlist not found" in r.text and "<main" in r.text
    # The API and htmx fragment requests keep the JSON envelope.
    r = client.get("/api/playlists/987654", headers=HTML)
    assert r.status_code == 404 and r.json()["code"] == "not_found"
    r = client.get("/playlists/987654", headers={**HTML, "HX-Request": "true"})
    assert r.status_code == 404 and r.json()["detail"] == "playlist not found"


def test_unexpected_error_page_names_the_request_id_and_hides_the_cause(app, make_user):
    user = make_user("dj")

    def boom():
        raise RuntimeError("secret internals")

    app.add_api_route("/boom", boom, include_in_schema=False)
    with TestClient(app, raise_server_exceptions=False, cookies=user.cookies) as client:
        r = client.get("/boom", headers=HTML)
        assert r.status_code == 500 and r.headers["content-type"].startswith("text/html")
        assert "secret internals" not in r.text and r.headers["x-request-id"] in r.text
        r = client.get("/boom")  # not a browser: the JSON envelope
        assert r.status_code == 500 and r.json()["code"] == "internal_error"
        assert r.json()["request_id"] == r.headers["x-request-id"]


def test_anonymous_browser_is_sent_to_login_not_an_error_page(client):
    r = client.get("/no-such-page", headers=HTML, follow_redirects=False)
    assert r.status_code in (303, 404)  # unknown paths need no login to say they do not exist
    r = client.get("/palette?q=x", headers=HTML, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")


def test_palette_finds_pages_playlists_libraries_and_tracks_of_this_user_only(make_user):
    alice, bob = make_user("alice"), make_user("bob")
    from services.common.models import User
    with db.session_scope() as s:
        alice_id = s.query(User).filter_by(username="alice").one().id
    _library_with_tracks(alice_id, analysed=0, with_audio=0, total=2)
    r = alice.get("/palette", params={"q": ""})
    assert r.status_code == 200
    assert 'href="/tracks"' in r.text and 'href="/playlists/' in r.text and 'href="/libraries/' in r.text
    r = alice.get("/palette", params={"q": "deep moti"})
    assert r.text.count('href="/tracks/') == 2 and "Deep Motion" in r.text
    r = alice.get("/palette", params={"q": "warm"})
    assert "Warm-up set" in r.text and 'href="/tracks/' not in r.text
    r = bob.get("/palette", params={"q": "deep"})
    assert "Deep Motion" not in r.text and "Nothing matches" in r.text
    assert 'role="option"' not in bob.get("/palette", params={"q": "<script>"}).text
    assert "&lt;script&gt;" in bob.get("/palette", params={"q": "<script>"}).text


def test_dashboard_counts_and_next_steps(make_user):
    client = make_user("dj")
    r = client.get("/")
    assert r.status_code == 200
    assert 'id="next-steps"' in r.text and 'href="/libraries"' in r.text
    from services.common.models import User
    with db.session_scope() as s:
        uid = s.query(User).filter_by(username="dj").one().id
    _library_with_tracks(uid, analysed=1, with_audio=2, total=5)
    r = client.get("/")
    stats = r.text.split('class="stats"')[1].split("</dl>")[0]
    assert '<a href="/tracks">5</a>' in stats and '<a href="/tracks?analyzed=true">1</a>' in stats
    assert '<a href="/tracks?has_audio=true">2</a>' in stats and '<a href="/playlists">1</a>' in stats
    assert "3 tracks have no audio yet" in r.text


def test_forbidden_page_is_html_with_a_request_id(make_user):
    """403 on a browser route (an admin page, a non-admin user): the HTML error page, not JSON."""
    client = make_user("dj")
    r = client.get("/settings/backups", headers=HTML)
    assert r.status_code == 403 and r.headers["content-type"].startswith("text/html")
    assert "<h1>Not allowed</h1>" in r.text and "data-error-message" in r.text
    assert r.headers["x-request-id"] in r.text and 'href="/tracks"' in r.text
    r = client.get("/settings/backups", headers={**HTML, "HX-Request": "true"})  # htmx: the JSON envelope
    assert r.status_code == 403 and r.json()["code"] == "forbidden"


def test_dashboard_lists_recent_jobs_of_this_users_libraries(make_user):
    import os

    from services.domain import jobs

    client, other = make_user("dj"), make_user("other")
    from services.common.models import User
    with db.session_scope() as s:
        uid = s.query(User).filter_by(username="dj").one().id
        other_id = s.query(User).filter_by(username="other").one().id
    library_id = _library_with_tracks(uid, analysed=0, with_audio=1, total=1)
    other_library = _library_with_tracks(other_id, analysed=0, with_audio=1, total=1)
    with db.session_scope() as s:
        pk = s.query(Track).filter_by(library_id=library_id).one().id
    # Queued on a queue no worker listens to: the job stays "queued" while the page is read.
    jobs.enqueue("test-dashboard", os.getpid, kind="analysis", library_id=library_id, track_pk=pk,
                 user_id=uid, description="Analyse Deep Motion 0")
    jobs.enqueue("test-dashboard", os.getpid, kind="analysis", library_id=other_library,
                 user_id=other_id, description="Someone else's analysis")
    r = client.get("/")
    section = r.text.split("<h2>Recent jobs</h2>")[1].split("</section>")[0]
    assert f'<a href="/tracks/{pk}">Analyse Deep Motion 0</a>' in section
    assert "status-queued" in section and 'href="/jobs"' in section
    assert "Someone else" not in section
    theirs = other.get("/").text.split("<h2>Recent jobs</h2>")[1].split("</section>")[0]
    assert "Someone else&#39;s analysis" in theirs and "Deep Motion" not in theirs  # each sees their own
