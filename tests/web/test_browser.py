"""The UI in a real headless Chromium: log in, open a set, build it with the GA, see it redrawn."""

from __future__ import annotations

import shutil
import threading
import time

import httpx
import pytest
import uvicorn

from services.common import db
from services.common.models import Library, Playlist, PlaylistTrack, Track
from tests.conftest import TEST_PASSWORD, free_port

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is installed by `make test` (.ci/apt-packages.txt)")


@pytest.fixture
def live_server(app):
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
            break
        except httpx.HTTPError:
            time.sleep(0.1)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def _playlist(owner_id: int) -> int:
    specs = [("Peak", 128.0, "12B", 9.0), ("Opener", 118.0, "8A", 3.0), ("Build", 122.0, "9A", 5.0),
             ("Lift", 125.0, "10A", 7.0)]
    with db.session_scope() as s:
        lib = Library(owner_id=owner_id, name="Crates", discogs_username="crates")
        s.add(lib)
        s.flush()
        tracks = [Track(track_id=f"9-A{i}", library_id=lib.id, title=t, artist=f"Artist {i}", bpm=b, camelot=c,
                        energy=e, duration_seconds=300) for i, (t, b, c, e) in enumerate(specs)]
        s.add_all(tracks)
        playlist = Playlist(owner_id=owner_id, name="Browser set")
        s.add(playlist)
        s.flush()
        s.add_all(PlaylistTrack(playlist_id=playlist.id, track_pk=t.id, position=i) for i, t in enumerate(tracks))
        return playlist.id


def test_login_and_build_a_set_in_the_browser(make_user, live_server, ga_env, tmp_path):
    from playwright.sync_api import sync_playwright

    user = make_user("dj")
    pid = _playlist(user.user_id)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"])
        page = browser.new_page()
        page.goto(f"{live_server}/playlists/{pid}")
        assert "/login" in page.url  # not logged in yet: sent to the login page
        page.fill("input[name=username]", "dj")
        page.fill("input[name=password]", "wrong")
        page.click("button[type=submit]")
        assert page.locator(".error").inner_text() == "wrong username or password"
        page.fill("input[name=username]", "dj")
        page.fill("input[name=password]", TEST_PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{live_server}/playlists/{pid}")
        assert page.locator("svg.set-curve polyline.bpm").count() == 1
        first_before = page.locator("table.set tbody tr td:nth-child(2)").first.inner_text()
        assert first_before == "Peak"

        page.select_option("select[name=energy_curve]", "rising")
        page.click("text=Build the set")  # htmx swaps the set panel in place
        page.wait_for_function("document.querySelector('table.set tbody td:nth-child(2)').innerText !== 'Peak'")
        titles = page.locator("table.set tbody tr td:nth-child(2)").all_inner_texts()
        assert titles[0] == "Opener" and titles[-1] == "Peak"  # a rising energy curve
        page.screenshot(path=str(tmp_path / "set.png"), full_page=True)
        browser.close()
    assert (tmp_path / "set.png").stat().st_size > 10_000


def test_search_as_you_type_in_the_browser(make_user, live_server, tmp_path):
    from playwright.sync_api import sync_playwright

    user = make_user("dj")
    _playlist(user.user_id)
    cookie = user.cookies.get("djp_session")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"])
        context = browser.new_context()
        context.add_cookies([{"name": "djp_session", "value": cookie, "url": live_server}])
        page = context.new_page()
        page.goto(f"{live_server}/")
        page.click("nav >> text=Tracks")
        assert page.locator("table.tracks tbody tr").count() == 4
        page.locator("body").click()  # leave the search box, then "/" brings the cursor back to it
        page.keyboard.press("/")
        assert page.evaluate("document.activeElement.id") == "q"
        page.keyboard.type("lif")  # found as you type, by prefix (a debounced htmx request)
        page.wait_for_function("document.querySelectorAll('table.tracks tbody tr').length === 1")
        assert page.locator("table.tracks tbody tr td a").first.inner_text() == "Lift"
        assert "q=lif" in page.url  # the query is in the URL: bookmarkable
        page.goto(f"{live_server}/tracks")
        page.click(".facets a:has-text('8A')")  # a facet is one click
        assert "key=8A" in page.url and page.locator("table.tracks tbody tr").count() == 1
        page.screenshot(path=str(tmp_path / "tracks.png"), full_page=True)
        browser.close()
    assert (tmp_path / "tracks.png").stat().st_size > 10_000
