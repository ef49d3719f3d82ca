"""Adding a folder's worth of audio files from a library page, in a real headless Chromium: the live table,
a close call resolved with one click."""

from __future__ import annotations

import shutil

import pytest

from services.common import db
from services.common.models import Library, Track
from tests.domain.local_audio.audio_files import add_tracks, make_audio

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is installed by `make test` (.ci/apt-packages.txt)")
SECONDS = 6.0


def test_add_audio_files_from_the_library_page(make_user, live_server, tmp_path):
    from playwright.sync_api import sync_playwright

    user = make_user("dj")
    with db.session_scope() as s:
        lib = Library(owner_id=user.user_id, name="Crates")
        s.add(lib)
        s.flush()
        library_id = lib.id
    xtal = add_tracks(library_id, [("Daft Punk", "Da Funk"), ("Aphex Twin", "Xtal")], seconds=SECONDS)["Xtal"]
    files = [make_audio(tmp_path / "01.mp3", seconds=SECONDS, artist="Daft Punk", title="Da Funk"),
             make_audio(tmp_path / "Aphex Twin - Xtal.mp3", seconds=SECONDS * 4),  # too long: a close call
             make_audio(tmp_path / "Burial - Archangel.mp3", seconds=SECONDS)]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"])
        context = browser.new_context()
        context.add_cookies([{"name": "djp_session", "value": user.cookies.get("djp_session"), "url": live_server}])
        page = context.new_page()
        page.goto(f"{live_server}/libraries/{library_id}")
        page.click("#audio-import-form button[type=submit]")
        assert page.locator("#audio-import-form [data-errors]").inner_text() == "Choose files or a folder first."
        apple_double = tmp_path / "._01.mp3"  # macOS's resource fork copy: an audio name, no audio; skipped
        apple_double.write_bytes(b"\x00\x05\x16\x07" * 64)
        page.set_input_files("#audio-import-form input[name=files]", [str(f) for f in [*files, apple_double]])
        page.click("#audio-import-form button[type=submit]")
        page.wait_for_function("() => document.querySelector('#audio-import-results [role=status]')"
                               "?.textContent.startsWith('3 of 3')")
        rows = page.locator("#audio-import-table tbody tr")
        assert [rows.nth(i).get_attribute("data-status") for i in range(3)] == ["attached", "ambiguous", "unmatched"]
        assert page.locator("#audio-import-table a[href^='/tracks/']").first.inner_text() == "Daft Punk – Da Funk"
        summary = page.locator("#audio-import-results [role=status]").inner_text()
        assert "attached 1" in summary and "choose a track 1" in summary and "no match 1" in summary
        page.locator("#audio-import").screenshot(path=str(tmp_path / "audio-import.png"))
        rows.nth(1).locator("button", has_text="Aphex Twin – Xtal").click()  # the DJ's choice
        page.wait_for_function("() => document.querySelectorAll('#audio-import-table tr[data-status=attached]')"
                               ".length === 2")
        assert "attached 2" in page.locator("#audio-import-results [role=status]").inner_text()
        browser.close()
    with db.session_scope() as s:
        assert s.get(Track, xtal).local_audio_path is not None
    assert (tmp_path / "audio-import.png").stat().st_size > 10_000
