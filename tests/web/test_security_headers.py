"""Security headers on every answer of the web app, and a Content-Security-Policy the real UI passes:
no page, in a real headless Chromium, reports a CSP violation (or any console error)."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from services.web.api.security import CSP
from tests.web.test_browser_layout import CHROMIUM, _browser_context, _collection, _pages, _watch_console

TEMPLATES = Path(__file__).resolve().parents[2] / "services" / "web" / "templates"
HTML = {"accept": "text/html,application/xhtml+xml"}


def _directives(policy: str) -> dict[str, str]:
    return {part.split()[0]: " ".join(part.split()[1:]) for part in policy.split(";") if part.strip()}


def _assert_headers(r) -> None:
    assert r.headers["x-content-type-options"] == "nosniff", r.request.url
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["referrer-policy"] == "same-origin"
    policy = _directives(r.headers["content-security-policy"])
    assert policy["frame-ancestors"] == "'none'"
    assert "'unsafe-inline'" not in policy["script-src"] and "'unsafe-eval'" not in policy["script-src"]


def test_the_policy():
    policy = _directives(CSP)
    assert policy == {
        "default-src": "'self'", "script-src": "'self'", "style-src": "'self'", "style-src-attr": "'unsafe-inline'",
        "img-src": "'self' data: https:", "media-src": "'self' blob:", "connect-src": "'self'",
        "font-src": "'self'", "object-src": "'none'", "base-uri": "'self'", "form-action": "'self'",
        "frame-ancestors": "'none'",
    }


def test_every_kind_of_answer_has_the_headers(app, client, make_user):
    user = make_user("dj")
    answers = [
        client.get("/health"),
        client.get("/login"),
        client.get("/static/app.js"),
        client.get("/api/auth/me"),  # 401 JSON
        client.get("/", headers=HTML, follow_redirects=False),  # redirect to the login page
        user.get("/"),
        user.get("/api/playlists"),
        user.get("/no-such-page", headers=HTML),  # HTML error page
        user.get("/api/playlists/999999"),  # JSON 404
        user.post("/api/playlists", json={}),  # 422
        user.post("/api/playlists", content=b"x" * 64, headers={"content-length": str(10**12)}),  # 413
        user.get("/openapi.json"),
    ]
    for r in answers:
        _assert_headers(r)
    assert [r.status_code for r in answers] == [200, 200, 200, 401, 303, 200, 200, 404, 404, 422, 413, 200]


def test_unexpected_errors_have_the_headers_too(app, make_user):
    user = make_user("dj")

    def boom():
        raise RuntimeError("boom")

    app.add_api_route("/boom", boom, include_in_schema=False)
    with TestClient(app, raise_server_exceptions=False, cookies=user.cookies) as c:
        for headers in (HTML, {}):
            r = c.get("/boom", headers=headers)
            assert r.status_code == 500
            _assert_headers(r)


def test_docs_allow_only_their_own_inline_script(user_client):
    r = user_client.get("/docs")
    assert r.status_code == 200
    _assert_headers(r)
    script_src = _directives(r.headers["content-security-policy"])["script-src"].split()
    inline = re.findall(r"<script>(.*?)</script>", r.text, re.DOTALL)
    assert len(inline) == 1
    digest = base64.b64encode(hashlib.sha256(inline[0].encode()).digest()).decode()
    assert script_src == ["'self'", f"'sha256-{digest}'"]


def test_templates_have_no_inline_script_or_handlers():
    for path in TEMPLATES.glob("*.html"):
        text = re.sub(r"\{#.*?#\}", "", path.read_text(), flags=re.DOTALL)  # without Jinja comments
        for tag in re.findall(r"<script\b[^>]*>", text):
            assert "src=" in tag, f"{path.name}: inline <script> (CSP script-src 'self')"
        assert not re.search(r"<style\b", text), f"{path.name}: <style> element (CSP style-src 'self')"
        assert not re.search(r"\son[a-z]+\s*=", text), f"{path.name}: inline event handler attribute"
        assert "hx-on" not in text, f"{path.name}: hx-on needs eval (CSP)"
        assert "javascript:" not in text, path.name


VIOLATIONS = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__csp.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`);
});
"""


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is installed by `make test` (.ci/apt-packages.txt)")
def test_no_page_violates_the_policy_in_chromium(make_user, live_server):
    from playwright.sync_api import sync_playwright

    user = make_user("dj")
    ids = _collection(user.user_id)
    with sync_playwright() as p:
        browser, context = _browser_context(p, live_server, user.cookies.get("djp_session"))
        context.add_init_script(VIOLATIONS)
        page = context.new_page()
        errors = _watch_console(page)
        for path in [*_pages(ids), "/docs", "/no-such-page"]:
            response = page.goto(f"{live_server}{path}")
            assert "content-security-policy" in response.headers, path
            page.wait_for_load_state("networkidle")
            if path == "/docs":
                page.wait_for_selector(".opblock")  # Swagger UI rendered the schema
            else:
                # htmx kept its indicator styles out of the page (includeIndicatorStyles: false)
                assert page.evaluate("document.querySelectorAll('style').length") == 0, path
            assert page.evaluate("window.__csp") == [], path
        # the indicators still hide without htmx's own <style>: app.css styles them
        page.goto(f"{live_server}/playlists/{ids['playlist']}")
        assert page.evaluate("getComputedStyle(document.querySelector('.htmx-indicator')).display") == "none"
        # the page's own writes carry the Origin the CSRF check wants
        status = page.evaluate("""fetch('/api/playlists', {method: 'POST', headers: {'Content-Type': 'application/json'},
                                                      body: JSON.stringify({name: 'from the page'})}).then(r => r.status)""")
        assert status == 201
        context.clear_cookies()
        page.goto(f"{live_server}/login")
        assert page.evaluate("window.__csp") == []
        # refused HTTP answers (the 404 page above) are not the policy's business; anything else is
        assert [e for e in errors if "Failed to load resource" not in e] == []
        browser.close()


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is installed by `make test` (.ci/apt-packages.txt)")
def test_audio_upload_refreshes_the_page_without_an_inline_handler(make_user, live_server, tmp_path):
    from playwright.sync_api import sync_playwright

    user = make_user("dj")
    ids = _collection(user.user_id)
    track = ids["track"]
    audio = tmp_path / "a.mp3"
    audio.write_bytes(b"ID3" + b"\0" * 64)
    with sync_playwright() as p:
        browser, context = _browser_context(p, live_server, user.cookies.get("djp_session"))
        context.add_init_script(VIOLATIONS)
        page = context.new_page()
        errors = _watch_console(page)
        uploads: list[str | None] = []

        def accept(route):  # the upload itself is tested elsewhere; here only what the page does after it
            uploads.append(route.request.header_value("origin"))
            route.fulfill(status=200, content_type="application/json", body="{}")

        page.route(f"**/api/tracks/{track}/audio", accept)
        page.goto(f"{live_server}/tracks/{track}")
        page.set_input_files("#upload-audio input[type=file]", str(audio))
        with page.expect_request(lambda r: r.method == "GET" and r.url == f"{live_server}/tracks/{track}"):
            page.click("#upload-audio button[type=submit]")
        assert uploads == [live_server]  # the browser sent its Origin with the upload
        assert page.evaluate("window.__csp") == []
        assert [e for e in errors if "Failed to load resource" not in e] == []
        browser.close()
