"""The enrichment pages: the review wizard (one item at a time, candidates side by side, accept / choose /
reject / skip, "n of m"), its keys and 390 px layout in a real Chromium, and the library's "Match links" form."""

from __future__ import annotations

import shutil
import uuid

import pytest

from services.common.db import session_scope
from services.common.models import EnrichmentReview, Library, Track
from services.domain.enrichment import jobs as enrichment_jobs
from services.domain.enrichment import service
from services.domain.enrichment.models import Candidate, TrackQuery
from services.web.ui.templates import templates
from tests.domain.enrichment import library_fixtures as fx
from tests.web.artifacts import artifacts_dir

catalog_env, apple_key, clock = fx.catalog_env, fx.apple_key, fx.clock  # fixtures
fake_apple, fake_spotify = fx.fake_apple, fx.fake_spotify

HX = {"HX-Request": "true"}
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
PHONE = {"width": 390, "height": 844}


def make_reviews(owner_id: int, count: int = 3) -> dict:
    """`count` tracks each with a pending Apple Music review of two candidates (12 s and 16 s off)."""
    with session_scope() as s:
        library = Library(owner_id=owner_id, name=f"crate {uuid.uuid4().hex[:6]}")
        s.add(library)
        s.flush()
        tracks, reviews = [], []
        for i in range(count):
            title = f"Motion Without Movement Part {i + 1} (Extended Dub Version By An Unreasonably Long Name)"
            track = Track(library_id=library.id, track_id=f"x-{i}", title=title, artist="Deep Ensemble",
                          album="Selected Works", duration_seconds=380.0)
            s.add(track)
            s.flush()
            query = TrackQuery(artist=track.artist, title=title, duration_seconds=380.0)
            candidates = [Candidate(source="apple", url=f"https://music.apple.com/us/album/{i}?i={n}",
                                    external_id=f"{i}{n}", artist="Deep Ensemble", title=title,
                                    album="Selected Works (Deluxe Remastered Anniversary Edition)",
                                    duration_seconds=380.0 + off, preview_url=f"https://audio.example/{i}{n}.m4a")
                          for n, off in ((1, 12), (2, 16))]
            review = EnrichmentReview(track_pk=track.id, source="apple",
                                      candidates=service.scored_candidates(query, candidates))
            s.add(review)
            s.flush()
            tracks.append(track.id)
            reviews.append(review.id)
        return {"library": library.id, "tracks": tracks, "reviews": reviews}


def test_the_wizard_shows_one_item_with_its_candidates_side_by_side(make_user):
    dj = make_user("dj")
    ids = make_reviews(dj.user_id, 3)
    r = dj.get("/enrichment/review")
    assert r.status_code == 200
    html = r.text
    assert "1 of 3" in html and "Motion Without Movement Part 1" in html and "Part 2" not in html
    assert html.count('data-candidate=') == 2 and "6:20" in html  # the track's duration
    assert "Duration differs by 12 s" in html and "Same version" in html
    assert 'href="https://music.apple.com/us/album/0?i=1" target="_blank" rel="noopener"' in html
    assert 'href="https://audio.example/01.m4a" target="_blank" rel="noopener"' in html
    for key in ("a", "r", "s", "1", "2"):
        assert f'data-key="{key}"' in html
    assert "data-errors" in html and "/static/enrichment.js" in html
    assert f'<option value="{ids["library"]}"' in html


def test_skip_accept_choose_and_reject_step_through_the_queue(make_user):
    dj = make_user("dj")
    ids = make_reviews(dj.user_id, 3)
    state = {"library_id": "", "source": "", "offset": "0", "done": "0"}

    r = dj.get("/enrichment/review/item", params={**state, "offset": 1}, headers=HX)
    assert "2 of 3" in r.text and "Part 2" in r.text
    r = dj.post(f"/enrichment/review/{ids['reviews'][1]}/accept", data={**state, "offset": 1, "candidate_index": 1},
                headers=HX)
    assert r.status_code == 200 and "3 of 3" in r.text and "Part 3" in r.text
    r = dj.post(f"/enrichment/review/{ids['reviews'][2]}/reject", data={**state, "offset": 1, "done": 1}, headers=HX)
    assert "You skipped the rest" in r.text and "1 still to decide" in r.text
    r = dj.post(f"/enrichment/review/{ids['reviews'][0]}/accept", data={**state, "done": 2}, headers=HX)
    assert "Nothing to review" in r.text and "All 3 decided" in r.text

    with session_scope() as s:
        urls = [s.get(Track, pk).apple_music_url for pk in ids["tracks"]]
    assert urls == ["https://music.apple.com/us/album/0?i=1", "https://music.apple.com/us/album/1?i=2", None]


def test_wizard_errors_are_short_messages_for_the_error_slot(make_user):
    dj = make_user("dj")
    ids = make_reviews(dj.user_id, 1)
    mine = "https://music.apple.com/us/song/mine/1"
    assert dj.patch(f"/api/tracks/{ids['tracks'][0]}", json={"apple_music_url": mine}).status_code == 200
    r = dj.post(f"/enrichment/review/{ids['reviews'][0]}/accept", data={"candidate_index": 0}, headers=HX)
    assert r.status_code == 409 and "set by hand" in r.json()["detail"]
    bob = make_user("bob")
    assert bob.post(f"/enrichment/review/{ids['reviews'][0]}/reject", headers=HX).status_code == 404
    assert "Nothing to review" in bob.get("/enrichment/review").text
    assert dj.get("/enrichment/review", params={"source": "tidal"}).status_code == 422
    assert dj.get("/enrichment/review", params={"library_id": "x"}).status_code == 422


def test_the_filter_narrows_to_a_library_and_source(make_user):
    dj = make_user("dj")
    first = make_reviews(dj.user_id, 2)
    make_reviews(dj.user_id, 1)
    assert "1 of 3" in dj.get("/enrichment/review").text
    html = dj.get("/enrichment/review", params={"library_id": first["library"], "source": "apple"}).text
    assert "1 of 2" in html
    assert "Nothing to review" in dj.get("/enrichment/review", params={"source": "spotify"}).text


@pytest.fixture
def own_queue(monkeypatch, servers):
    monkeypatch.setattr(enrichment_jobs, "QUEUE", f"enrich-ui-{uuid.uuid4().hex[:8]}")
    fx.forget_current_jobs()


def test_match_links_form_disables_unconfigured_sources_with_the_reason(make_user, fake_apple, own_queue, monkeypatch):
    from services.common.settings import get_settings

    dj = make_user("dj")
    library = make_reviews(dj.user_id, 1)["library"]
    monkeypatch.setenv("YOUTUBE_API_KEY", "")
    monkeypatch.setattr("importlib.util.find_spec", lambda name, *a: None)  # no yt-dlp either
    get_settings.cache_clear()

    include = templates.get_template("_enrich_form.html").render(library={"id": library})
    assert f'hx-get="/libraries/{library}/enrich-form"' in include and 'hx-trigger="load"' in include

    html = dj.get(f"/libraries/{library}/enrich-form", headers=HX).text
    assert 'value="apple"' in html and "SPOTIFY_CLIENT_ID" in html and "YOUTUBE_API_KEY" in html
    apple = html[html.index('value="apple"') - 80:html.index('value="apple"') + 60]
    spotify = html[html.index('value="spotify"') - 80:html.index('value="spotify"') + 60]
    assert "checked" in apple and "disabled" not in apple
    assert "disabled" in spotify and "checked" not in spotify
    assert "data-errors" in html

    r = dj.post(f"/libraries/{library}/enrich", data={"sources": ["apple"]}, headers=HX)
    assert r.status_code == 200 and "Matching started" in r.text and "/jobs?kind=enrichment" in r.text
    r = dj.post(f"/libraries/{library}/enrich", data={"sources": ["spotify"]}, headers=HX)
    assert r.status_code == 409 and "SPOTIFY_CLIENT_ID" in r.json()["detail"]
    r = dj.post(f"/libraries/{library}/enrich", data={}, headers=HX)
    assert r.status_code == 422 and "at least one" in r.json()["detail"]
    bob = make_user("bob")
    assert bob.get(f"/libraries/{library}/enrich-form", headers=HX).status_code == 404


SETTLED = "!document.querySelector('.htmx-added, .htmx-settling, .htmx-swapping, .htmx-request')"


def wait_for(page, condition: str) -> None:
    """Until `condition` holds and htmx has wired what it swapped in (keys are ignored before that)."""
    page.wait_for_function(f"() => ({condition}) && {SETTLED}")


def at(position: str) -> str:
    return f"document.querySelector('[data-enrich-position]')?.textContent === '{position}'"


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is installed by `make test` (.ci/apt-packages.txt)")
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_wizard_keys_and_phone_layout_in_a_browser(make_user, live_server, scheme):
    from playwright.sync_api import sync_playwright

    dj = make_user("dj")
    ids = make_reviews(dj.user_id, 3)
    shots = artifacts_dir("pages", f"phone-{scheme}")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        context = browser.new_context(viewport=PHONE, color_scheme=scheme, device_scale_factor=1)
        context.add_cookies([{"name": "djp_session", "value": dj.cookies.get("djp_session"), "url": live_server}])
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" and "409" not in msg.text
                else None)
        page.goto(f"{live_server}/enrichment/review")
        position = page.locator("[data-enrich-position]")
        assert position.inner_text() == "1 of 3"
        wait_for(page, "true")
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        page.screenshot(path=str(shots / "enrichment-review.png"), full_page=True)

        page.keyboard.press("s")
        wait_for(page, at("2 of 3"))
        page.keyboard.press("2")  # choose the second candidate of the second track
        wait_for(page, at("3 of 3"))
        with session_scope() as s:
            assert s.get(Track, ids["tracks"][1]).apple_music_url.endswith("?i=2")
            s.get(Track, ids["tracks"][2]).apple_music_url = "https://music.apple.com/us/song/mine/3"
            s.get(Track, ids["tracks"][2]).link_origins = {"apple_music_url": "manual"}
        page.keyboard.press("a")
        wait_for(page, "document.querySelector('.enrich-actions [data-errors]')?.textContent.includes('set by hand')")
        page.keyboard.press("r")
        wait_for(page, "document.body.textContent.includes('You skipped the rest')")
        page.keyboard.press("s")  # start again from the first
        wait_for(page, at("3 of 3"))
        page.keyboard.press("a")
        page.wait_for_selector("text=All 3 decided")
        assert errors == []
        browser.close()
    with session_scope() as s:
        assert s.get(Track, ids["tracks"][0]).apple_music_url.endswith("?i=1")
