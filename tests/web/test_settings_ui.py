"""The settings page (sources, last errors, prompt templates) and the suggestion review in the browser."""

from __future__ import annotations

import re
import shutil
from html import unescape

import pytest

from services.common import db
from services.common.models import Library, Track
from services.common.settings import get_settings
from services.domain.enrichment import prompts
from tests.fakes.openai_server import COMPLETIONS
from tests.web.artifacts import artifacts_dir, screenshot_name

HTML = {"accept": "text/html,application/xhtml+xml"}
HTMX = {"HX-Request": "true"}




def make_track(owner_id: int) -> int:
    with db.session_scope() as s:
        lib = Library(owner_id=owner_id, name="Crate")
        s.add(lib)
        s.flush()
        track = Track(track_id="9-A1", library_id=lib.id, release_id=9, title="Lush Life", artist="Theo Parrish",
                      genres=["Electronic"], styles=["Deep House"], tags=[], notes="B2B favourite.")
        s.add(track)
        s.flush()
        return track.id


def source_row(page: str, name: str) -> str:
    match = re.search(rf'<li data-source="{name}".*?</li>', page, re.DOTALL)
    assert match, f"no row for {name}"
    return unescape(match.group(0))


def test_settings_page_shows_every_source_with_its_reason_and_last_error(make_user, fake_openai):
    dj = make_user("dj")
    r = dj.get("/settings", headers=HTML)
    assert r.status_code == 200 and "<h1>Settings</h1>" in r.text
    for name, label in [("apple", "Apple Music"), ("spotify", "Spotify"), ("youtube", "YouTube"), ("openai", "OpenAI"),
                        ("discogs", "Discogs")]:
        assert label in source_row(r.text, name)
    openai_row = source_row(r.text, "openai")
    assert 'data-configured="yes"' in openai_row and "gpt-test-mini" in openai_row
    assert re.search(r'data-col="last-error">Last error:\s*<span class="muted">—</span>', openai_row)
    # A failure shows up as OpenAI's last error, without the key.
    (pk,) = [make_track(dj.user_id)]
    fake_openai.fault(COMPLETIONS, "503", "503", "503")
    assert dj.post(f"/api/tracks/{pk}/suggestions").status_code == 503
    openai_row = source_row(dj.get("/settings", headers=HTML).text, "openai")
    assert "OpenAI answered HTTP 503 (gave up after 3 attempts)" in openai_row
    assert fake_openai.api_key not in openai_row
    assert 'href="/settings"' in r.text  # reachable from the menu


def test_settings_page_explains_what_is_not_configured(make_user, no_openai, monkeypatch):
    monkeypatch.delenv("DISCOGS_USER_TOKEN", raising=False)
    get_settings.cache_clear()
    dj = make_user("dj")
    page = dj.get("/settings", headers=HTML).text
    openai_row = source_row(page, "openai")
    assert 'data-configured="no"' in openai_row and "Not configured" in openai_row
    assert "set OPENAI_API_KEY" in openai_row
    assert "set DISCOGS_USER_TOKEN" in source_row(page, "discogs")


def test_only_admins_edit_prompts(make_user):
    dj = make_user("dj")
    page = dj.get("/settings", headers=HTML).text
    assert "Only an admin can change them." in page and "<textarea" not in page
    assert '<pre class="prompt-text">' in page
    r = dj.post("/settings/prompts/suggest_user", data={"text": "{tracks}"}, headers=HTMX)
    assert r.status_code == 403 and "admin" in r.json()["detail"]
    assert dj.post("/settings/prompts/suggest_user/reset", headers=HTMX).status_code == 403


def test_admin_saves_and_resets_a_prompt(make_user):
    admin = make_user("boss", is_admin=True)
    page = admin.get("/settings", headers=HTML).text
    assert page.count("<textarea") == len(prompts.TEMPLATES)
    assert 'hx-post="/settings/prompts/suggest_user"' in page and "data-errors" in page

    r = admin.post("/settings/prompts/suggest_user", data={"text": "Tag {tracks} in {language}"}, headers=HTMX)
    assert r.status_code == 422 and "unknown placeholder {language}" in r.json()["detail"]
    r = admin.post("/settings/prompts/suggest_user", data={"text": "Tag {count} of these:\r\n{tracks}"}, headers=HTMX)
    assert r.status_code == 200 and 'id="prompt-suggest_user"' in r.text and "Saved." in r.text
    assert "data-overridden" in r.text and "Tag {count} of these:\n{tracks}" in unescape(r.text)
    r = admin.post("/settings/prompts/suggest_user/reset", headers=HTMX)
    assert r.status_code == 200 and "Back to the default." in r.text and "data-overridden" not in r.text
    assert prompts.SUGGEST_USER in unescape(r.text)


def test_suggest_on_a_track_then_review_accept_and_reject(make_user, fake_openai):
    dj = make_user("dj")
    pk = make_track(dj.user_id)
    r = dj.post(f"/tracks/{pk}/suggest", headers=HTMX)
    assert r.status_code == 200, r.text
    sid = int(re.search(r'data-suggestion="(\d+)"', r.text).group(1))
    assert 'value="Electronic"' in r.text and f'hx-post="/suggestions/{sid}/accept"' in r.text

    page = dj.get("/suggestions", headers=HTML).text
    assert f'id="suggestion-{sid}"' in page and "Lush Life" in page
    r = dj.post(f"/suggestions/{sid}/accept", headers=HTMX,
                data={"genres": "Electronic, House", "styles": "", "moods": "dreamy, warm", "note": "Closer."})
    assert r.status_code == 200 and "Accepted" in r.text and 'data-status="accepted"' in r.text
    with db.session_scope() as s:
        track = s.get(Track, pk)
        assert track.genres == ["Electronic", "House"] and track.styles == ["Deep House"]
        assert track.tags == ["dreamy", "warm"] and track.notes == "B2B favourite.\nCloser."
    assert f'id="suggestion-{sid}"' not in dj.get("/suggestions", headers=HTML).text

    r = dj.post(f"/tracks/{pk}/suggest", headers=HTMX)
    sid = int(re.search(r'data-suggestion="(\d+)"', r.text).group(1))
    r = dj.post(f"/suggestions/{sid}/reject", headers=HTMX)
    assert r.status_code == 200 and "Rejected" in r.text
    with db.session_scope() as s:
        assert s.get(Track, pk).tags == ["dreamy", "warm"]
    r = dj.post(f"/suggestions/{sid}/accept", headers=HTMX, data={"genres": "x"})
    assert r.status_code == 409 and "already rejected" in r.json()["detail"]
    assert "No suggestions waiting" in dj.get("/suggestions", headers=HTML).text


def test_suggest_without_openai_answers_the_reason(make_user, no_openai):
    dj = make_user("dj")
    pk = make_track(dj.user_id)
    r = dj.post(f"/tracks/{pk}/suggest", headers=HTMX)
    assert r.status_code == 409 and "OPENAI_API_KEY" in r.json()["detail"]
    page = dj.get("/suggestions", headers=HTML).text
    assert "data-not-configured" in page and "set OPENAI_API_KEY" in unescape(page)


def test_suggest_partial_renders_for_the_track_page(make_user):
    """`_suggest.html` as track.html includes it: a button for tracks you can change, nothing otherwise."""
    from services.web.ui.templates import templates

    dj = make_user("dj")
    pk = make_track(dj.user_id)
    with db.session_scope() as s:
        track = s.get(Track, pk)
        partial = templates.get_template("_suggest.html")
        html = partial.render(track=track, can_write=True)
        assert f'hx-post="/tracks/{pk}/suggest"' in html and "data-errors" in html
        assert "Suggest metadata" in html
        assert partial.render(track=track, can_write=False).strip() == ""


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
PHONE = {"width": 390, "height": 844}


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is installed by `make test` (.ci/apt-packages.txt)")
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_settings_and_review_in_a_phone_browser(make_user, live_server, fake_openai, scheme):
    from playwright.sync_api import sync_playwright

    admin = make_user("boss", is_admin=True)
    pk = make_track(admin.user_id)
    assert admin.post(f"/api/tracks/{pk}/suggestions").status_code == 201
    shots = artifacts_dir("settings", f"phone-{scheme}")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        context = browser.new_context(viewport=PHONE, color_scheme=scheme)
        context.add_cookies([{"name": "djp_session", "value": admin.cookies.get("djp_session"), "url": live_server}])
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        for path in ("/settings", "/suggestions"):
            assert page.goto(f"{live_server}{path}").status == 200
            page.wait_for_load_state("load")
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= PHONE["width"], f"{path} is {width} px wide"
            page.screenshot(path=str(shots / screenshot_name(path)), full_page=True)

        page.goto(f"{live_server}/settings")
        prompt = page.locator("#prompt-suggest_user")
        prompt.locator("summary").click()
        prompt.locator("textarea").fill("Tag {tracks} in {language}")
        prompt.locator("button[type=submit]").click()
        expect_text(prompt.locator("[data-errors]"), "unknown placeholder {language}")
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]

        page.goto(f"{live_server}/suggestions")
        card = page.locator("article.suggestion").first
        card.locator("input[name=moods]").fill("hazy")
        card.locator("button[type=submit]").click()
        expect_text(page.locator("article.suggestion .notice").first, "Accepted")
        assert errors == []
        browser.close()
    with db.session_scope() as s:
        assert s.get(Track, pk).tags == ["hazy"]


def expect_text(locator, text: str) -> None:
    from playwright.sync_api import expect

    expect(locator).to_contain_text(text)
