"""A new DJ's whole first day in a real headless Chromium, on a phone-sized screen, against the real
stack (the web app, the analysis service with a worker, the set builder service):

sign in → create a library with a Discogs CSV (a bad CSV first: its error is shown) → type in a
tracklist → upload audio (a non-audio file first: refused, the message shown), which is analysed at once →
create a playlist → add tracks from the Tracks page → drag to reorder → build the set → restore a
version → export Rekordbox XML and M3U8 and read them back with real parsers.

No console errors other than the browser's own note of the refused requests; no page wider than the
390 px screen. A screenshot of every step goes to test-artifacts/day/ (tests/web/artifacts.py).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import m3u8
import pytest

from services.common.settings import get_settings
from tests.domain.playlists.helpers import rekordbox_xml_class
from tests.essentia_api.audio_fixtures import ClipSpec, synth_clip, wav_bytes
from tests.web.artifacts import artifacts_dir
from tests.web.test_analysis_flow import analysis_stack  # noqa: F401 (the module's analysis service + worker)

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is installed by `make test` (.ci/apt-packages.txt)")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
PHONE = {"width": 390, "height": 844}
TIMEOUT_MS = 180_000  # analysis and the GA on a loaded 2-core machine: generous, never a speed test

CSV_HEADER = ("Catalog#,Artist,Title,Label,Format,Rating,Released,release_id,CollectionFolder,Date Added,"
              "Collection Media Condition,Collection Sleeve Condition,Collection Notes\n")
GOOD_CSV = CSV_HEADER + (
    'PE-1,"Moodymann (2)",Silentintroduction,"Planet E (2)","2xLP, Album",4,1997,11,Uncategorized,'
    '2023-05-01 10:11:12,Very Good Plus (VG+),Good (G),"first press"\n'
    'WAP-9,Nightmares On Wax,Smokers Delight,Warp Records,"2xLP, Album",5,1995,12,Uncategorized,'
    '2023-06-02 09:00:00,Near Mint (NM or M-),Very Good Plus (VG+),\n'
)
BAD_CSV = "Name,Band\nSilentintroduction,Moodymann\n"
# Three tracks of the hand-typed tracklist, with audio of different tempo, key and energy.
TRACKLIST = [("A1", "Dawn Groove", "0:20"), ("A2", "Midday Drive", "0:20"), ("B1", "Night Peak", "0:20")]
CLIPS = {
    "Dawn Groove": ClipSpec(bpm=118.0, tonic=9, scale="minor", seconds=20.0, style="house", seed=11),
    "Midday Drive": ClipSpec(bpm=122.0, tonic=4, scale="minor", seconds=20.0, style="house", seed=12),
    "Night Peak": ClipSpec(bpm=126.0, tonic=11, scale="minor", seconds=20.0, style="house", seed=13),
}


def _fits_phone(page, step: str) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"{step}: the page is {width} px wide on a {PHONE['width']} px screen"


def _step(page, shots: Path, name: str) -> None:
    _fits_phone(page, name)
    page.screenshot(path=str(shots / f"{name}.png"), full_page=True)


def _unexpected_console(messages: list[str]) -> list[str]:
    # Chromium notes every refused request ("Failed to load resource: ... status of 422"); the test
    # provokes those on purpose and checks the page shows them. Anything else is a real error.
    return [m for m in messages if not re.search(r"Failed to load resource: .* status of 4\d\d", m)]


@pytest.fixture
def uploads_analysed(env_setting):
    """ANALYZE_UPLOADS as deployed (the suite turns it off: see tests/conftest.py)."""
    env_setting(ANALYZE_UPLOADS="true")


def test_a_new_djs_first_day(make_user, live_server, ga_env, analysis_stack, uploads_analysed,  # noqa: F811
                             tmp_path):
    from playwright.sync_api import expect, sync_playwright

    make_user("newdj")
    shots = artifacts_dir("day")
    wavs = {}
    for title, spec in CLIPS.items():
        wavs[title] = tmp_path / f"{title}.wav"
        wavs[title].write_bytes(wav_bytes(synth_clip(spec)))
    not_audio = tmp_path / "holiday-photo.wav"
    not_audio.write_bytes(b"RIFF\x00\x00\x00\x00this is not audio at all" * 40)
    (tmp_path / "good.csv").write_text(GOOD_CSV)
    (tmp_path / "bad.csv").write_text(BAD_CSV)

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        context = browser.new_context(viewport=PHONE, accept_downloads=True)
        context.set_default_timeout(TIMEOUT_MS)
        page = context.new_page()
        console: list[str] = []
        page.on("pageerror", lambda exc: console.append(f"pageerror: {exc}"))
        page.on("console", lambda msg: console.append(msg.text) if msg.type == "error" else None)
        page.on("dialog", lambda dialog: dialog.accept())

        # Sign in: the dashboard says what to do first.
        page.goto(f"{live_server}/")
        assert "/login" in page.url
        page.fill("input[name=username]", "newdj")
        page.fill("input[name=password]", "correct horse battery")
        page.click("button[type=submit]")
        page.wait_for_url(f"{live_server}/")
        expect(page.locator("#next-steps")).to_be_visible()
        _step(page, shots, "01-dashboard")

        # Create a library: a CSV with the wrong columns is refused and the message shows by the form.
        page.goto(f"{live_server}/libraries")
        page.fill("#create-library input[name=name]", "My records")
        page.set_input_files("#create-library input[name=file]", str(tmp_path / "bad.csv"))
        page.click("#create-library button[type=submit]")
        expect(page.locator("#create-library [data-errors]")).to_contain_text("release_id")
        _step(page, shots, "02-bad-csv")
        page.set_input_files("#create-library input[name=file]", str(tmp_path / "good.csv"))
        page.click("#create-library button[type=submit]")
        page.wait_for_url(re.compile(r".*/libraries/\d+$"))
        expect(page.locator("[data-notice]")).to_contain_text("Imported 2 row")
        _step(page, shots, "03-library")

        # The CSV has no tracklists: the album page says so; type one in.
        page.click("text=Silentintroduction")
        page.wait_for_url(re.compile(r".*/albums/\d+$"))
        expect(page.locator("#no-tracks")).to_contain_text("Discogs CSV exports have no tracklists")
        rows = page.locator("#tracklist-rows tr")
        for i, (position, title, duration) in enumerate(TRACKLIST):
            if rows.count() <= i:
                page.click("#tracklist-form button[type=button]")  # more rows
            row = rows.nth(i)
            row.locator("input[name=position]").fill(position)
            row.locator("input[name=title]").fill(title)
            row.locator("input[name=duration]").fill(duration)
        page.click("#tracklist-form button[type=submit]")
        expect(page.locator("#album-tracks tbody tr")).to_have_count(3)
        _step(page, shots, "04-tracklist")

        # Upload audio to the first track: a file that is not audio is refused with its reason.
        page.click("#album-tracks >> text=Dawn Groove")
        page.wait_for_url(re.compile(r".*/tracks/\d+$"))
        first_pk = int(page.url.rsplit("/", 1)[1])
        page.set_input_files("#upload-audio input[name=file]", str(not_audio))
        page.click("#upload-audio button[type=submit]")
        expect(page.locator("#upload-audio [data-errors]")).to_contain_text("audio")
        _step(page, shots, "05-not-audio")
        page.set_input_files("#upload-audio input[name=file]", str(wavs["Dawn Groove"]))
        page.click("#upload-audio button[type=submit]")
        # Nothing to click: the upload queued the analysis, the page follows it and then shows it.
        expect(page.locator("dl.facts")).to_contain_text("118", timeout=TIMEOUT_MS)
        expect(page.locator("dl.facts")).to_contain_text("8A")
        _step(page, shots, "06-analysed")

        # The other two tracks get their audio the same way (through the API the page uses).
        album_rows = _album_track_pks(page, live_server, first_pk)
        for title, pk in album_rows.items():
            if pk == first_pk:
                continue
            same_site = {"Origin": live_server}  # page.request sends the cookie, not the page's Origin (CSRF)
            upload = page.request.post(f"{live_server}/api/tracks/{pk}/audio", headers=same_site, multipart={
                "file": {"name": f"{title}.wav", "mimeType": "audio/wav", "buffer": wavs[title].read_bytes()}})
            assert upload.status == 201, upload.text()
            assert upload.json()["analysis"]["track_pk"] == pk  # queued by the upload
        _wait_analysed(page, live_server, list(album_rows.values()))

        # A playlist, filled from the Tracks page (multi-select).
        page.goto(f"{live_server}/playlists")
        page.fill("#create-playlist input[name=name]", "Friday warm-up")
        page.click("#create-playlist button[type=submit]")
        page.wait_for_url(re.compile(r".*/playlists/\d+$"))
        playlist_id = int(page.url.rsplit("/", 1)[1])
        expect(page.locator("[data-empty-playlist]")).to_be_visible()
        page.goto(f"{live_server}/tracks")
        page.check("[data-track-select-all]")
        page.select_option("[data-add-to-playlist] select[name=playlist_id]", label="Friday warm-up")
        page.click("[data-add-button]")
        expect(page.locator("[data-add-result]")).to_contain_text("Added 3 tracks")
        _step(page, shots, "07-tracks-added")

        # Drag the last track to the top; the order is saved.
        page.goto(f"{live_server}/playlists/{playlist_id}")
        titles = page.locator("#playlist-editor .item-title a")
        before = titles.all_inner_texts()
        assert sorted(before) == sorted(CLIPS)
        page.wait_for_selector("[data-sortable][data-sortable-ready=true]")
        handles = page.locator("#playlist-editor .drag-handle")
        handles.nth(2).drag_to(handles.nth(0))
        expect(page.locator("#playlist-editor .notice")).to_contain_text("Order saved")
        dragged = [before[2], before[0], before[1]]
        expect(titles).to_have_text(dragged)
        assert _api_order(page, live_server, playlist_id) == dragged
        _step(page, shots, "08-reordered")

        # Build the set with a rising energy curve: the panel explains it.
        page.select_option("select[name=energy_curve]", "rising")
        page.click("text=Build the set")
        expect(page.locator("#set-panel")).to_contain_text("set score", ignore_case=True)
        expect(page.locator("#set-panel svg polyline.energy-target")).to_have_count(1)
        built = _api_order(page, live_server, playlist_id)
        energies = _api_energies(page, live_server, playlist_id)
        assert energies == sorted(energies), energies  # rising, when the tracks allow it
        _step(page, shots, "09-built")

        # Restore the order from before the build (the newest version).
        restore = page.locator("#versions [data-restore-version]").first
        restore.click()
        expect(page.locator(".notice")).to_contain_text("Version restored")
        assert _api_order(page, live_server, playlist_id) == dragged
        if built != dragged:
            expect(page.locator("#playlist-editor .item-title a")).to_have_text(dragged)
        _step(page, shots, "10-restored")

        # Export Rekordbox XML and M3U8 from the page; read them back with real parsers.
        page.click("[data-playlist-menu=export] summary")
        with page.expect_download() as info:
            page.click("[data-export=rekordbox]")
        xml_path = tmp_path / "set.xml"
        info.value.save_as(xml_path)
        xml = rekordbox_xml_class()(str(xml_path))
        names = {t["TrackID"]: t["Name"] for t in xml.get_tracks()}
        node = xml.get_playlist("Friday warm-up")
        assert [names[key] for key in node.get_tracks()] == dragged
        peak = next(t for t in xml.get_tracks() if t["Name"] == "Night Peak")
        assert abs(float(peak["AverageBpm"]) - 126.0) < 2.5
        # pyrekordbox gives the decoded path without its leading slash: the real file, inside AUDIO_DIR
        location = Path("/" + peak["Location"])
        assert location.is_file() and location.is_relative_to(get_settings().resolved_audio_dir)

        page.click("[data-playlist-menu=export] summary")
        with page.expect_download() as info:
            page.click("[data-export=m3u8]")
        playlist_m3u = m3u8.loads(Path(info.value.path()).read_text(encoding="utf-8"))
        assert [s.title.split(" - ", 1)[1] for s in playlist_m3u.segments] == dragged
        assert all(Path(s.uri).is_file() for s in playlist_m3u.segments)  # absolute paths to the real files
        _step(page, shots, "11-exported")

        assert _unexpected_console(console) == []
        browser.close()


def _album_track_pks(page, live_server: str, any_pk: int) -> dict[str, int]:
    album_id = page.request.get(f"{live_server}/api/tracks/{any_pk}").json()["album_id"]
    detail = page.request.get(f"{live_server}/api/albums/{album_id}").json()
    return {t["title"]: t["id"] for t in detail["tracks"]}


def _wait_analysed(page, live_server: str, pks: list[int]) -> None:
    """Poll the API until every track has its analysis (the worker runs them one by one)."""
    for _ in range(TIMEOUT_MS // 500):
        if all(page.request.get(f"{live_server}/api/tracks/{pk}").json()["analyzed_at"] for pk in pks):
            return
        page.wait_for_timeout(500)
    pytest.fail("the tracks were not analysed")


def _api_order(page, live_server: str, playlist_id: int) -> list[str]:
    return [item["title"] for item in page.request.get(f"{live_server}/api/playlists/{playlist_id}").json()["items"]]


def _api_energies(page, live_server: str, playlist_id: int) -> list[float]:
    return [item["energy"] for item in page.request.get(f"{live_server}/api/playlists/{playlist_id}").json()["items"]]
