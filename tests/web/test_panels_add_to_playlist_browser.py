"""Multi-select "Add to playlist" in the embedding panels, in a real headless Chromium at 390 px: the track
page's Similar panel (any playlist, chosen in the bar) and the playlist page's Suggest next tracks (into
that playlist in one click). Same partial and script as the tracks and album pages
(templates/_add_to_playlist.html, static/playlists.js)."""

from __future__ import annotations

import shutil

import pytest

from services.common import db
from services.common.models import Playlist
from tests.web.artifacts import artifacts_dir
from tests.web.test_recommendations_api import _crate

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is installed by `make test` (.ci/apt-packages.txt)")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
PHONE = {"width": 390, "height": 844}


def test_add_selected_hits_from_similar_and_suggest_next_tracks(make_user, live_server):
    from playwright.sync_api import expect, sync_playwright

    user = make_user("dj")
    ids = _crate(user.user_id)
    with db.session_scope() as s:
        warmup = Playlist(owner_id=user.user_id, name="Warm-up")
        s.add(warmup)
        s.flush()
        warmup_id = warmup.id
    set_id = user.post("/api/playlists", json={"name": "Peak set", "track_pks": [ids["Seed"]]}).json()["id"]

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        context = browser.new_context(viewport=PHONE)
        context.add_cookies([{"name": "djp_session", "value": user.cookies.get("djp_session"), "url": live_server}])
        page = context.new_page()
        console: list[str] = []
        page.on("pageerror", lambda exc: console.append(f"pageerror: {exc}"))
        page.on("console", lambda msg: console.append(msg.text) if msg.type == "error" else None)

        # The track page: the Similar panel loads by itself, each hit with a checkbox.
        page.goto(f"{live_server}/tracks/{ids['Seed']}")
        panel = page.locator("#similar-results")
        boxes = panel.locator("input[data-track-select]")
        expect(panel.locator("li", has_text="Adjacent")).to_have_count(1)
        button = panel.locator("[data-add-button]")
        expect(button).to_be_disabled()
        panel.locator("li", has_text="Adjacent").locator("input[data-track-select]").check()
        panel.locator("li", has_text="Relative").locator("input[data-track-select]").check()
        expect(button).to_have_text("Add 2 tracks")
        expect(panel.locator("select[name=playlist_id] option", has_text="Warm-up")).to_have_count(1)
        panel.locator("select[name=playlist_id]").select_option(label="Warm-up")
        button.click()
        expect(panel.locator("[data-add-result]")).to_contain_text("Added 2 tracks to Warm-up")
        expect(boxes.first).not_to_be_checked()
        titles = [i["title"] for i in page.request.get(f"{live_server}/api/playlists/{warmup_id}").json()["items"]]
        assert titles == ["Adjacent", "Relative"]
        # "Select all" selects every hit.
        panel.locator("[data-track-select-all]").check()
        expect(panel.locator("[data-add-button]")).to_have_text(f"Add {boxes.count()} tracks")
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        page.screenshot(path=str(artifacts_dir("pages") / "track-similar-select.png"), full_page=True)

        # The playlist page: Suggest next tracks, select all, one click adds them to this playlist.
        page.goto(f"{live_server}/playlists/{set_id}")
        page.locator("#next-tracks button[type=submit]").click()
        results = page.locator("#next-tracks-results")
        hits = results.locator("li")
        expect(hits.first).to_be_visible()
        suggested = [t.strip() for t in results.locator("li > div:first-child a").all_inner_texts()]
        assert "Adjacent" in suggested and "Seed" not in suggested
        bar = results.locator("form[data-add-selected]")
        expect(bar.locator("[data-add-button]")).to_be_disabled()
        bar.locator("[data-track-select-all]").check()
        expect(bar.locator("[data-add-button]")).to_have_text(f"Add {len(suggested)} selected tracks to this playlist")
        bar.locator("[data-add-button]").click()
        expect(bar.locator("[data-add-result]")).to_contain_text(f"Added {len(suggested)} tracks to Peak set")
        # The playlist's list reloads with them; the selection and its count are reset.
        expect(page.locator("#playlist-editor .item-title a")).to_have_text(["Seed", *suggested])
        expect(bar.locator("[data-add-button]")).to_have_text("Add 0 selected tracks to this playlist")
        expect(bar.locator("[data-add-button]")).to_be_disabled()
        expect(results.locator("input[data-track-select]:checked")).to_have_count(0)
        items = page.request.get(f"{live_server}/api/playlists/{set_id}").json()["items"]
        assert [i["title"] for i in items] == ["Seed", *suggested]
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        page.screenshot(path=str(artifacts_dir("pages") / "playlist-suggest-select.png"), full_page=True)
        assert [m for m in console if "Failed to load resource" not in m] == []
        browser.close()
