"""The UI in a real headless Chromium: log in, open a set, build it with the GA, see it redrawn."""

from __future__ import annotations

import shutil

import pytest

from services.common import db
from services.common.models import Library, Playlist, PlaylistTrack, Track
from tests.conftest import TEST_PASSWORD

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is installed by `make test` (.ci/apt-packages.txt)")


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
        page.wait_for_function("() => document.querySelector('table.set tbody td:nth-child(2)').innerText !== 'Peak'")
        titles = page.locator("table.set tbody tr td:nth-child(2)").all_inner_texts()
        assert titles[0] == "Opener" and titles[-1] == "Peak"  # a rising energy curve
        assert page.locator("svg.set-curve polyline.energy-target").count() == 1  # target vs actual energy
        assert "/100" in page.locator("[data-set-score]").inner_text()
        assert page.locator("td.mix .mix-score").first.get_attribute("title").startswith("Mix score ")
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
        page.wait_for_function("() => document.querySelectorAll('table.tracks tbody tr').length === 1")
        assert page.locator("table.tracks tbody tr td a").first.inner_text() == "Lift"
        assert "q=lif" in page.url  # the query is in the URL: bookmarkable
        page.goto(f"{live_server}/tracks")
        page.click(".facets a:has-text('8A')")  # a facet is one click
        assert "key=8A" in page.url and page.locator("table.tracks tbody tr").count() == 1
        page.screenshot(path=str(tmp_path / "tracks.png"), full_page=True)
        browser.close()
    assert (tmp_path / "tracks.png").stat().st_size > 10_000


# --- the player bar, downloads with live progress, the Jobs page ------------------------------------------

AUDIO_JS = "document.getElementById('player-audio')"


def _album_with_audio(owner_id: int) -> dict:
    """An album of three tracks, the first two with a real 30 s WAV file, the third without audio."""
    from services.common.models import Album
    from services.common.settings import get_settings
    from tests.essentia_api.audio_fixtures import ClipSpec, synth_clip, wav_bytes

    wav = wav_bytes(synth_clip(ClipSpec(bpm=120.0, tonic=0, scale="major", seconds=30.0, seed=1)))
    with db.session_scope() as s:
        lib = Library(owner_id=owner_id, name="Crates", discogs_username="crates")
        s.add(lib)
        s.flush()
        album = Album(library_id=lib.id, release_id=88, artist="Deck", title="Player Album")
        s.add(album)
        s.flush()
        tracks = [Track(track_id=f"88-A{i}", library_id=lib.id, album_id=album.id, title=title, artist="Deck",
                        position=f"A{i}") for i, title in enumerate(("First Tune", "Second Tune", "Silent Tune"), 1)]
        s.add_all(tracks)
        s.flush()
        folder = get_settings().resolved_audio_dir / f"library_{lib.id}"
        folder.mkdir(parents=True, exist_ok=True)
        for t in tracks[:2]:
            (folder / f"{t.id}.wav").write_bytes(wav)
            t.local_audio_path = f"library_{lib.id}/{t.id}.wav"
        return {"album": album.id, "pks": [t.id for t in tracks]}


def _too_wide(page) -> list[str]:
    """What sticks out of the screen (for the failure message)."""
    return page.evaluate("""[...document.querySelectorAll('body *')]
        .filter((e) => e.getBoundingClientRect().right > window.innerWidth + 1)
        .slice(0, 10).map((e) => `${e.tagName}.${e.className}#${e.id} ${Math.round(e.getBoundingClientRect().right)}`)""")


def _forget_download_jobs(pks: list[int]) -> None:
    """Remove the download jobs the test queued (no worker ran them) from Redis."""
    from rq.job import Job

    from services.domain import jobs

    redis = db.get_redis()
    for pk in pks:
        job_id = redis.get(f"djp:download:track:{pk}")
        if job_id:
            job = Job.fetch(job_id.decode(), connection=redis)
            job.cancel()
            job.delete()
            redis.zrem(jobs.index_key(job.meta.get("library_id")), job.id)
            redis.delete(f"djp:download:track:{pk}")


def test_player_queue_keys_downloads_and_jobs_in_the_browser(make_user, live_server, tmp_path, monkeypatch):
    from playwright.sync_api import sync_playwright

    from services.domain import jobs

    monkeypatch.setattr(jobs, "DOWNLOAD_QUEUE", "download-ui-test")  # no worker runs them: they stay queued
    user = make_user("dj")
    ids = _album_with_audio(user.user_id)
    first, second, silent = ids["pks"]
    cookie = user.cookies.get("djp_session")
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=[
                "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                "--autoplay-policy=no-user-gesture-required"])
            context = browser.new_context()
            context.add_cookies([{"name": "djp_session", "value": cookie, "url": live_server}])
            page = context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(f"{live_server}/albums/{ids['album']}")
            assert page.locator(f'[data-play="{silent}"]').count() == 0  # no audio, no play button

            # Play one track: the bar shows it and the audio plays.
            page.click(f'button[data-play="{first}"]')
            page.wait_for_function(f"() => !{AUDIO_JS}.paused && {AUDIO_JS}.currentTime > 0")
            assert page.locator("[data-player-title]").inner_text() == "First Tune"
            assert page.evaluate(f"{AUDIO_JS}.src").endswith(f"/api/tracks/{first}/audio")

            # Navigate with a boosted link: only <main> changes, the same <audio> keeps playing.
            page.evaluate(f"window.__audio = {AUDIO_JS}")
            page.click("nav >> text=Jobs")
            page.wait_for_selector("table[data-jobs-table]")
            assert page.url == f"{live_server}/jobs" and page.title() == "Jobs · DJ Playlist"
            assert page.evaluate(f"window.__audio === {AUDIO_JS}")  # same document, same element
            assert page.evaluate(f"!{AUDIO_JS}.paused")
            playing_at = page.evaluate(f"{AUDIO_JS}.currentTime")
            page.wait_for_function(f"() => {AUDIO_JS}.currentTime > {playing_at}")

            # Space pauses and resumes (focus outside any field); seeking moves the position.
            page.evaluate("document.activeElement && document.activeElement.blur()")
            page.keyboard.press(" ")
            page.wait_for_function(f"() => {AUDIO_JS}.paused")
            page.keyboard.press(" ")
            page.wait_for_function(f"() => !{AUDIO_JS}.paused")
            page.eval_on_selector("[data-player-seek]", "el => { el.value = '20'; el.dispatchEvent(new Event('change')); }")
            page.wait_for_function(f"() => {AUDIO_JS}.currentTime >= 20")

            # Back (htmx restores <main>), then "Play all" queues the album's two playable tracks.
            page.go_back()
            page.wait_for_selector("[data-play-all]")
            assert page.evaluate(f"window.__audio === {AUDIO_JS}")
            page.click("[data-play-all]")
            page.wait_for_function("() => document.querySelector('[data-player-queue]').innerText === '1 / 2 queued'")
            page.evaluate("document.activeElement && document.activeElement.blur()")
            page.keyboard.press("]")
            page.wait_for_function("() => document.querySelector('[data-player-title]').innerText === 'Second Tune'")
            assert page.evaluate(f"{AUDIO_JS}.src").endswith(f"/api/tracks/{second}/audio")
            page.keyboard.press(" ")  # pause, go to the start: "[" then goes to the previous track
            page.wait_for_function(f"() => {AUDIO_JS}.paused")
            page.evaluate(f"{AUDIO_JS}.currentTime = 0")
            page.keyboard.press("[")
            page.wait_for_function("() => document.querySelector('[data-player-title]').innerText === 'First Tune'")

            # Typing a space in a text field does not touch the player.
            page.click("nav >> text=Tracks")
            page.wait_for_selector("#q")
            paused = page.evaluate(f"{AUDIO_JS}.paused")
            page.fill("#q", "")
            page.focus("#q")
            page.keyboard.press(" ")
            assert page.evaluate(f"{AUDIO_JS}.paused") == paused
            assert page.evaluate(f"window.__audio === {AUDIO_JS}")

            # A full reload restores the queue from sessionStorage.
            page.reload()
            page.wait_for_function("() => document.querySelector('[data-player-queue]').innerText === '1 / 2 queued'")
            assert page.locator("[data-player-title]").inner_text() == "First Tune"

            # "Download missing audio": what was queued, then each row's live stage from the event stream.
            page.click("#player [data-player-title]")  # the title in the bar: a boosted link to the track
            page.wait_for_selector("h1 >> text=First Tune")
            page.goto(f"{live_server}/albums/{ids['album']}")
            page.click("button[data-download]")
            page.wait_for_function("() => document.querySelector('[data-download-result]').innerText.includes('1 download queued')")
            page.wait_for_selector(f'[data-job-track="{silent}"] .job-stage')
            assert "queued" in page.locator(f'[data-job-track="{silent}"]').inner_text()
            from rq.job import Job  # a worker reports progress in the job's meta: the row follows it

            job = Job.fetch(db.get_redis().get(f"djp:download:track:{silent}").decode(), connection=db.get_redis())
            job.meta.update(stage="downloading", percent=40)
            job.save_meta()
            page.wait_for_function(f"() => document.querySelector('[data-job-track=\"{silent}\"]').innerText"
                                   ".includes('downloading 40%')")

            # The Jobs page shows the job; Cancel, then Retry, update the row in place.
            page.click("nav >> text=Jobs")
            row = page.locator("table[data-jobs-table] tbody tr[data-job-id]").first
            assert "Download Deck – Silent Tune" in row.inner_text()
            row.locator("button[data-job-action=cancel]").click()
            row.locator("button[data-job-action=retry]").wait_for()
            assert "canceled" in row.locator("[data-col=status]").inner_text()
            row.locator("button[data-job-action=retry]").click()
            row.locator("button[data-job-action=cancel]").wait_for()
            assert "queued" in row.locator("[data-col=status]").inner_text()

            # An error is shown next to its button, not swallowed.
            page.goto(f"{live_server}/tracks/{silent}")
            with db.session_scope() as s:
                s.get(Track, silent).deleted_at = s.get(Track, silent).created_at  # deleted meanwhile
            page.click("button[data-download]")
            page.wait_for_function("() => document.querySelector('[data-download-result]').innerText.includes('not found')")
            assert "error" in page.get_attribute("[data-download-result]", "class")

            # A phone-sized screen: no horizontal scroll, the bar fits.
            page.set_viewport_size({"width": 390, "height": 844})
            for path in (f"/albums/{ids['album']}", "/jobs"):
                page.goto(f"{live_server}{path}")
                assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), (path, _too_wide(page))
                box = page.locator("#player").bounding_box()
                assert box["x"] >= 0 and box["x"] + box["width"] <= 390
            page.screenshot(path=str(tmp_path / "player.png"), full_page=True)
            assert errors == []  # no script error on any page
            browser.close()
    finally:
        _forget_download_jobs(ids["pks"])
    assert (tmp_path / "player.png").stat().st_size > 5_000
