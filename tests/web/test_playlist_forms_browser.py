"""Playlist forms in a real headless Chromium at 390 px.

The import form on /playlists: a file that is not a playlist is refused with its reason by the form; an
M3U8 is imported, the page says what matched and lists what did not, and the new playlist appears in the
list above (static/playlists.js, static/app.js). The album page's "Add to playlist" bar: checkboxes added
to a tracklist that has none, the selection counted, added, cleared. A 500 answer to an htmx form:
its message and request id shown by the form (the one global error handler)."""

from __future__ import annotations

import shutil

import pytest

from services.common import db
from services.common.settings import get_settings
from tests.domain.playlists.helpers import make_library, make_tracks
from tests.web.artifacts import artifacts_dir

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is installed by `make test` (.ci/apt-packages.txt)")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
PHONE = {"width": 390, "height": 844}


def test_import_a_playlist_file_in_the_browser(make_user, live_server, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    user = make_user("dj")
    with db.session_scope() as s:
        tracks = make_tracks(s, make_library(s, user.user_id))
        peak_path = tracks["Peak"].local_audio_path
    audio_dir = get_settings().resolved_audio_dir.resolve()
    (tmp_path / "set.m3u8").write_text(
        "#EXTM3U\n"
        f"#EXTINF:245,Bee - Peak\n{(audio_dir / peak_path).as_posix()}\n"
        "#EXTINF:200,Nobody Known - Never Heard Of It\n/Volumes/USB/never-heard-of-it.mp3\n",
        encoding="utf-8")
    (tmp_path / "notes.json").write_text("this is not a playlist", encoding="utf-8")

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        context = browser.new_context(viewport=PHONE)
        context.add_cookies([{"name": "djp_session", "value": user.cookies.get("djp_session"), "url": live_server}])
        page = context.new_page()
        console: list[str] = []
        page.on("pageerror", lambda exc: console.append(f"pageerror: {exc}"))
        page.on("console", lambda msg: console.append(msg.text) if msg.type == "error" else None)
        page.goto(f"{live_server}/playlists")

        form = page.locator("#import-playlist")
        form.locator("input[name=file]").set_input_files(str(tmp_path / "notes.json"))
        form.locator("button[type=submit]").click()
        expect(form.locator("[data-errors]")).to_contain_text("the file is not valid JSON")
        assert form.locator("[data-import-result]").inner_text() == ""

        form.locator("input[name=file]").set_input_files(str(tmp_path / "set.m3u8"))
        form.locator("input[name=name]").fill("From the USB stick")
        form.locator("button[type=submit]").click()
        result = form.locator("[data-import-result]")
        expect(result).to_contain_text("Imported “From the USB stick”: 1 of 2 tracks matched.")
        expect(result).to_contain_text("1 not matched")
        expect(result.locator("li")).to_have_count(1)
        expect(result.locator("li")).to_contain_text("Never Heard Of It")
        expect(form.locator("[data-errors]")).to_be_empty()  # the earlier refusal is cleared
        expect(page.locator("#playlists a", has_text="From the USB stick")).to_have_count(1)
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        page.screenshot(path=str(artifacts_dir("pages") / "playlist-import.png"), full_page=True)

        result.locator("a", has_text="Open it").click()
        page.wait_for_url(f"{live_server}/playlists/*")
        expect(page.locator("#playlist-editor .item-title a")).to_have_text(["Peak"])
        assert [m for m in console if "Failed to load resource" not in m] == []
        browser.close()


def test_add_tracks_from_an_album_page_in_the_browser(make_user, live_server):
    """The album page's tracklist has no checkboxes of its own: the add bar puts one in each row."""
    from playwright.sync_api import expect, sync_playwright

    from services.common.models import Album, Library, Playlist, Track

    user = make_user("dj")
    with db.session_scope() as s:
        library = Library(owner_id=user.user_id, name="Crates")
        s.add(library)
        s.flush()
        album = Album(library_id=library.id, release_id=-1, artist="Ann", title="First Light")
        s.add(album)
        s.flush()
        s.add_all(Track(track_id=f"-1-A{i}", library_id=library.id, album_id=album.id, position=f"A{i}",
                        title=f"Tune {i}", artist="Ann") for i in (1, 2, 3))
        playlist = Playlist(owner_id=user.user_id, name="Warm-up")
        s.add(playlist)
        s.flush()
        album_id, playlist_id = album.id, playlist.id

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        context = browser.new_context(viewport=PHONE)
        context.add_cookies([{"name": "djp_session", "value": user.cookies.get("djp_session"), "url": live_server}])
        page = context.new_page()
        console: list[str] = []
        page.on("pageerror", lambda exc: console.append(f"pageerror: {exc}"))
        page.on("console", lambda msg: console.append(msg.text) if msg.type == "error" else None)
        page.goto(f"{live_server}/albums/{album_id}")
        boxes = page.locator("#album-tracks tbody input[data-track-select]")
        expect(boxes).to_have_count(3)
        boxes.nth(0).check()
        boxes.nth(2).check()
        expect(page.locator("[data-add-button]")).to_have_text("Add 2 tracks")
        page.select_option("[data-add-to-playlist] select[name=playlist_id]", label="Warm-up")
        page.click("[data-add-button]")
        expect(page.locator("[data-add-result]")).to_contain_text("Added 2 tracks to Warm-up")
        expect(boxes.nth(0)).not_to_be_checked()
        titles = [i["title"] for i in page.request.get(f"{live_server}/api/playlists/{playlist_id}").json()["items"]]
        assert titles == ["Tune 1", "Tune 3"]
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        assert console == []
        browser.close()


def test_a_server_error_is_shown_by_the_form_with_its_request_id(app, make_user, live_server):
    """The one htmx error handler (static/app.js) on a 500: the message and the request id by the form."""
    from playwright.sync_api import expect, sync_playwright

    def boom():
        raise RuntimeError("secret internals")

    app.add_api_route("/test-boom", boom, methods=["POST"], include_in_schema=False)
    user = make_user("dj")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        context = browser.new_context(viewport=PHONE)
        context.add_cookies([{"name": "djp_session", "value": user.cookies.get("djp_session"), "url": live_server}])
        page = context.new_page()
        page.goto(f"{live_server}/playlists")
        # A form of the page pointed at the failing route (the CSP allows no inline script; evaluate is the test's).
        page.evaluate("""() => {
            const form = document.getElementById("create-playlist");
            form.setAttribute("hx-post", "/test-boom");
            htmx.process(form);
        }""")
        page.fill("#create-playlist input[name=name]", "Never made")
        with page.expect_response(lambda r: r.url.endswith("/test-boom")) as info:
            page.click("#create-playlist button[type=submit]")
        rid = info.value.headers["x-request-id"]
        assert info.value.status == 500
        slot = page.locator("#create-playlist [data-errors]")
        expect(slot).to_contain_text(f"request id {rid}")
        assert "secret internals" not in slot.inner_text()
        assert page.url == f"{live_server}/playlists"  # the page stays; nothing was swapped
        browser.close()
