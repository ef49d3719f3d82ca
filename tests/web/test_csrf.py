"""CSRF: a cookie-authenticated write must name this site in Origin (or Referer); Bearer clients are exempt."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from services.web.api.security import csrf_refusal, same_site
from tests.conftest import TEST_PASSWORD


def _bare(app, user: TestClient) -> TestClient:
    """The user's session cookie in a client that sends no Origin (like a forged form from an old browser)."""
    return TestClient(app, cookies=user.cookies)


def test_cookie_writes_without_origin_or_referer_are_refused(app, make_user):
    user = make_user("ana")
    bare = _bare(app, user)
    # the two writes the probe got through: a form-encoded token creation and a multipart CSV import
    r = bare.post("/api/auth/tokens", data={"name": "stolen"})
    assert r.status_code == 403 and r.json()["code"] == "csrf"
    assert "Origin" in r.json()["detail"] and "Bearer" in r.json()["detail"]
    r = bare.post("/api/libraries/1/import/csv", files={"file": ("c.csv", b"Catalog#,Artist\n", "text/csv")})
    assert r.status_code == 403 and r.json()["code"] == "csrf"
    for method in ("PUT", "PATCH", "DELETE"):
        assert bare.request(method, "/api/playlists/1").status_code == 403
    assert user.get("/api/auth/tokens").json() == []  # nothing was created
    assert bare.get("/api/auth/me").status_code == 200  # reads need no Origin


@pytest.mark.parametrize("origin", ["https://evil.example", "http://testserver.evil.example", "null",
                                    "http://testserver:8080", "file://testserver", "not a url"])
def test_foreign_origins_are_refused(make_user, origin):
    user = make_user("bea")
    r = user.post("/api/playlists", json={"name": "x"}, headers={"Origin": origin})
    assert r.status_code == 403 and r.json()["code"] == "csrf"
    assert r.headers["x-content-type-options"] == "nosniff"  # the refusal has the security headers too


def test_the_referer_stands_in_for_a_missing_origin(app, make_user):
    bare = _bare(app, make_user("cleo"))
    ok = bare.post("/api/playlists", json={"name": "from a page"}, headers={"Referer": "http://testserver/playlists"})
    assert ok.status_code == 201
    r = bare.post("/api/playlists", json={"name": "x"}, headers={"Referer": "https://evil.example/testserver"})
    assert r.status_code == 403
    # a matching Referer does not excuse a foreign Origin
    r = bare.post("/api/playlists", json={"name": "x"},
                  headers={"Origin": "https://evil.example", "Referer": "http://testserver/"})
    assert r.status_code == 403


def test_bearer_token_clients_need_no_origin(app, make_user):
    user = make_user("dora")
    token = user.post("/api/auth/tokens", json={"name": "cli"}).json()["token"]
    with TestClient(app, headers={"Authorization": f"Bearer {token}"}) as api:
        assert api.post("/api/playlists", json={"name": "scripted"}).status_code == 201
    # a wrong token is not waved through to the cookie either
    with TestClient(app, cookies=user.cookies, headers={"Authorization": "Bearer nope"}) as api:
        assert api.post("/api/playlists", json={"name": "x"}).status_code == 401


def test_anonymous_writes_still_answer_401(app):
    with TestClient(app) as anonymous:
        r = anonymous.post("/api/playlists", json={"name": "x"})
        assert r.status_code == 401 and r.json()["code"] != "csrf"


def test_login_refuses_a_foreign_origin_but_lets_programs_in(app, make_user):
    make_user("eve")
    body = {"username": "eve", "password": TEST_PASSWORD}
    with TestClient(app) as c:
        forged = c.post("/api/auth/login", json=body, headers={"Origin": "https://evil.example"})
        assert forged.status_code == 403 and "djp_session" not in forged.cookies
        forged = c.post("/login", data=body, headers={"Referer": "https://evil.example/"}, follow_redirects=False)
        assert forged.status_code == 403 and "djp_session" not in forged.cookies
        # curl and scripts send neither header: no browser to forge it from
        assert c.post("/api/auth/login", json=body).status_code == 200
        # the browser's own login form
        page = c.post("/login", data=body, headers={"Origin": "http://testserver"}, follow_redirects=False)
        assert page.status_code == 303


def test_logout_with_the_cookie_needs_the_origin_too(app, make_user):
    user = make_user("fay")
    bare = _bare(app, user)
    assert bare.post("/api/auth/logout").status_code == 403
    assert bare.post("/logout", follow_redirects=False).status_code == 403
    assert user.get("/api/auth/me").status_code == 200


def test_same_site_rule():
    assert same_site("http://example.com", "example.com")
    assert same_site("https://example.com", "example.com")  # TLS proxy: Host carries no port
    assert same_site("https://Example.COM:443", "example.com")
    assert same_site("http://example.com:80/path?q=1", "example.com")
    assert same_site("http://127.0.0.1:3000", "127.0.0.1:3000")
    assert same_site("http://[::1]:3000/x", "[::1]:3000")
    assert not same_site("http://127.0.0.1:3001", "127.0.0.1:3000")
    assert not same_site("https://example.com", "example.com:80")
    assert not same_site("http://example.com.evil", "example.com")
    assert not same_site("http://evil@example.org", "example.com")
    assert not same_site("http://example.com:notaport", "example.com")
    assert not same_site("null", "example.com")
    assert not same_site("", "example.com")
    assert not same_site("http://example.com", None)


def test_which_requests_are_checked():
    cookie = {"cookie": "theme=dark; djp_session=abc"}
    assert csrf_refusal("POST", "/api/playlists", cookie)
    assert not csrf_refusal("GET", "/api/playlists", cookie)
    assert not csrf_refusal("OPTIONS", "/api/playlists", cookie)
    assert not csrf_refusal("POST", "/api/playlists", {**cookie, "authorization": "Bearer t"})
    assert not csrf_refusal("POST", "/api/playlists", {"cookie": "djp_session_other=abc"})
    assert not csrf_refusal("POST", "/api/playlists", {**cookie, "origin": "http://h", "host": "h"})
    assert csrf_refusal("POST", "/api/auth/login", {"origin": "http://evil", "host": "h"})
    assert csrf_refusal("POST", "/api/auth/login", {**cookie, "host": "h"})  # a browser session, no Origin
    assert not csrf_refusal("POST", "/api/auth/login", {"host": "h"})
