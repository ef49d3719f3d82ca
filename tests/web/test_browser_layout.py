"""Every page in a real headless Chromium: fits a 390 px phone, light and dark, no console errors;
error pages are HTML; the keyboard (/, g t/g p/g l, ?, Ctrl-K palette) works. Screenshots go to
test-artifacts/ (tests/web/artifacts.py)."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime

import pytest

from services.common import db
from services.common.models import Album, Library, Playlist, PlaylistTrack, Track
from tests.web.artifacts import artifacts_dir, screenshot_name

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is installed by `make test` (.ci/apt-packages.txt)")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
PHONE = {"width": 390, "height": 844}


def _collection(owner_id: int) -> dict:
    """A library with a long-titled album of analysed tracks and a playlist: enough to fill every page."""
    with db.session_scope() as s:
        lib = Library(owner_id=owner_id, name="Crates and crates of records from the weekend market")
        s.add(lib)
        s.flush()
        album = Album(library_id=lib.id, release_id=4242, artist="The Extremely Long Named Ensemble Of Deep House",
                      title="Selected Ambient Works Of An Unreasonably Long Title Volume II", year=1994,
                      genres=["Electronic"], styles=["Deep House", "Ambient"])
        s.add(album)
        s.flush()
        tracks = []
        for i, (bpm, cam, energy) in enumerate([(122.0, "8A", 4.0), (124.0, "9A", 6.0), (126.0, "9B", 7.0)]):
            tracks.append(Track(track_id=f"4242-A{i + 1}", library_id=lib.id, album_id=album.id,
                                title=f"Motion Without Movement Part {i + 1} (Extended Dub Version)",
                                artist=album.artist, position=f"A{i + 1}", bpm=bpm, camelot=cam, key="A",
                                scale="minor", energy=energy, danceability=0.7, duration_seconds=380,
                                analyzed_at=datetime.now(UTC)))
        # One unbreakable title makes the album table wider than a phone: it must scroll in its own box,
        # hidden labels included (an absolutely positioned one once widened the whole page).
        tracks.append(Track(track_id="4242-B1", library_id=lib.id, album_id=album.id, position="B1",
                            title="UntitledDubplateSpecialRooftopEditWithoutAnySpacesAtAll", artist=album.artist))
        s.add_all(tracks)
        playlist = Playlist(owner_id=owner_id, name="Warm-up set for the rooftop")
        s.add(playlist)
        s.flush()
        s.add_all(PlaylistTrack(playlist_id=playlist.id, track_pk=t.id, position=i) for i, t in enumerate(tracks))
        return {"library": lib.id, "album": album.id, "track": tracks[0].id, "playlist": playlist.id}


def _pages(ids: dict) -> list[str]:
    return ["/", "/tracks", "/tracks?q=motion", "/playlists", f"/playlists/{ids['playlist']}", "/libraries",
            f"/libraries/{ids['library']}", f"/albums/{ids['album']}", f"/tracks/{ids['track']}", "/jobs", "/spins",
            "/settings", "/settings/connections", "/suggestions", "/enrichment/review"]


def _browser_context(p, live_server: str, cookie: str, **options):
    browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
    context = browser.new_context(**options)
    context.add_cookies([{"name": "djp_session", "value": cookie, "url": live_server}])
    return browser, context


def _watch_console(page) -> list[str]:
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
    page.on("console", lambda msg: errors.append(f"console: {msg.text}") if msg.type == "error" else None)
    return errors


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_every_page_fits_a_phone_without_console_errors(make_user, live_server, scheme):
    from playwright.sync_api import sync_playwright

    user = make_user("dj")
    ids = _collection(user.user_id)
    shots = artifacts_dir("pages", f"phone-{scheme}")
    with sync_playwright() as p:
        browser, context = _browser_context(p, live_server, user.cookies.get("djp_session"),
                                            viewport=PHONE, color_scheme=scheme, device_scale_factor=1)
        page = context.new_page()
        errors = _watch_console(page)
        for path in _pages(ids):
            response = page.goto(f"{live_server}{path}")
            assert response.status == 200, path
            page.wait_for_load_state("load")
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= PHONE["width"], f"{path} is {width} px wide at {PHONE['width']} px"
            background = page.evaluate("getComputedStyle(document.body).backgroundColor")
            light = background in ("rgb(246, 247, 249)",)
            assert light == (scheme == "light"), (path, background)
            page.screenshot(path=str(shots / screenshot_name(path or "root")), full_page=True)
        assert errors == []
        browser.close()


def test_error_pages_are_html_in_the_browser(make_user, live_server):
    from playwright.sync_api import sync_playwright

    user = make_user("dj")
    _collection(user.user_id)
    with sync_playwright() as p:
        browser, context = _browser_context(p, live_server, user.cookies.get("djp_session"), viewport=PHONE)
        page = context.new_page()
        response = page.goto(f"{live_server}/playlists/999999")
        assert response.status == 404
        assert page.locator("h1").inner_text() == "Not found"
        assert page.locator("[data-error-message]").inner_text() == "playlist not found"
        assert page.locator("nav >> text=Tracks").count() == 1  # still inside the app
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        page.screenshot(path=str(artifacts_dir("pages") / "error-404.png"), full_page=True)
        browser.close()


def test_keyboard_shortcuts_and_command_palette(make_user, live_server):
    from playwright.sync_api import sync_playwright

    user = make_user("dj")
    ids = _collection(user.user_id)
    with sync_playwright() as p:
        browser, context = _browser_context(p, live_server, user.cookies.get("djp_session"))
        page = context.new_page()
        errors = _watch_console(page)
        page.goto(f"{live_server}/")
        page.keyboard.press("?")
        assert page.locator("#shortcuts-help").is_visible()
        page.keyboard.press("Escape")
        assert not page.locator("#shortcuts-help").is_visible()

        page.keyboard.press("g")
        page.keyboard.press("p")
        page.wait_for_url(f"{live_server}/playlists")
        page.keyboard.press("g")
        page.keyboard.press("l")
        page.wait_for_url(f"{live_server}/libraries")
        page.keyboard.press("g")
        page.keyboard.press("t")
        page.wait_for_url(f"{live_server}/tracks")
        page.goto(f"{live_server}/libraries")
        page.keyboard.press("/")  # from any page: the Tracks page with the cursor in its search box
        page.wait_for_url(f"{live_server}/tracks")
        page.wait_for_function("() => document.activeElement && document.activeElement.id === 'q'")
        page.locator("body").click()

        page.keyboard.press("Control+k")
        assert page.locator("#palette").is_visible()
        page.keyboard.type("rooftop")
        page.wait_for_selector("#palette-results li[role=option] >> text=Warm-up set for the rooftop")
        page.keyboard.press("Enter")
        page.wait_for_url(f"{live_server}/playlists/{ids['playlist']}")
        assert not page.locator("#palette").is_visible()

        page.keyboard.press("Control+k")
        page.keyboard.type("motion part 2")
        page.click("#palette-results a:has-text('Part 2')")
        page.wait_for_url(f"{live_server}/tracks/{ids['track'] + 1}")
        assert errors == []
        browser.close()
