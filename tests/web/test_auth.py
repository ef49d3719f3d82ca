from __future__ import annotations

import re

import pytest
from fastapi.routing import APIRoute

from tests.conftest import TEST_PASSWORD

# Logging out needs no session: it only clears the cookie.
PUBLIC_PATHS = {"/health", "/api/auth/login", "/login", "/api/auth/logout", "/logout"}


def test_wrong_password_is_401(client, make_user):
    make_user("bob")
    r = client.post("/api/auth/login", json={"username": "bob", "password": "nope"})
    assert r.status_code == 401
    assert r.json()["detail"] == "wrong username or password"
    r = client.post("/api/auth/login", json={"username": "nobody", "password": "nope"})
    assert r.status_code == 401


def test_malformed_body_is_422_with_message(client):
    r = client.post("/api/auth/login", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 422
    assert "JSON" in r.json()["detail"]
    r = client.post("/api/auth/login", json={"username": "bob"})
    assert r.status_code == 422
    assert "password" in r.json()["detail"]


def test_cookie_login_and_me(make_user):
    c = make_user("carol")
    r = c.get("/api/auth/me")
    assert r.status_code == 200
    assert r.json()["username"] == "carol"
    assert r.json()["is_admin"] is False


def test_bearer_token_lifecycle(client, make_user):
    c = make_user("dave")
    r = c.post("/api/auth/tokens", json={"name": "laptop"})
    assert r.status_code == 201
    token = r.json()["token"]
    assert token.startswith("djp_")
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/auth/me", headers=headers).json()["username"] == "dave"
    listed = c.get("/api/auth/tokens").json()
    assert [t["name"] for t in listed] == ["laptop"]
    assert "token" not in listed[0]
    assert c.delete(f"/api/auth/tokens/{r.json()['id']}").status_code == 204
    assert client.get("/api/auth/me", headers=headers).status_code == 401
    assert client.get("/api/auth/me", headers={"Authorization": "Bearer djp_forged"}).status_code == 401
    assert client.get("/api/auth/me", headers={"Authorization": "Basic abc"}).status_code == 401


def test_tampered_cookie_is_rejected(client, make_user):
    c = make_user("erin")
    cookie = c.cookies.get("djp_session")
    client.cookies.set("djp_session", cookie[:-2] + ("AA" if cookie[-2:] != "AA" else "BB"))
    assert client.get("/api/auth/me").status_code == 401


def test_password_change_invalidates_sessions(make_user, app):
    from fastapi.testclient import TestClient

    c = make_user("frank")
    other = TestClient(app)  # another browser, signed in separately
    assert other.post("/api/auth/login", json={"username": "frank", "password": TEST_PASSWORD}).status_code == 200
    assert other.get("/api/auth/me").status_code == 200
    r = c.post("/api/auth/password", json={"current_password": "wrong", "new_password": "another-secret"})
    assert r.status_code == 400
    r = c.post("/api/auth/password", json={"current_password": TEST_PASSWORD, "new_password": "another-secret"})
    assert r.status_code == 200
    assert r.json()["ended_sessions"] == 1
    assert other.get("/api/auth/me").status_code == 401
    assert c.get("/api/auth/me").status_code == 200  # the browser that changed it stays signed in
    login = other.post("/api/auth/login", json={"username": "frank", "password": "another-secret"},
                       headers={"origin": "http://testserver"})
    assert login.status_code == 200


def all_api_routes(routes) -> list[tuple[str, set[str]]]:
    """Every (path, methods) the app serves, through included routers."""
    found = []
    for route in routes:
        if isinstance(route, APIRoute):
            found.append((route.path, set(route.methods)))
        elif hasattr(route, "original_router"):
            prefix_routes = all_api_routes(route.original_router.routes)
            ctx = getattr(route, "include_context", None)
            prefix = getattr(ctx, "prefix", "") or ""
            found.extend((prefix + path, methods) for path, methods in prefix_routes)
    return found


def test_every_route_requires_authentication(app, client):
    """Walk every registered route: without credentials each answers 401."""
    checked = 0
    schema_paths = set()
    for path, methods in all_api_routes(app.routes):
        if path in PUBLIC_PATHS:
            continue
        schema_paths.add(path)
        concrete = re.sub(r"\{[^}]+\}", "1", path)
        for method in methods - {"HEAD", "OPTIONS"}:
            r = client.request(method, concrete, headers={"accept": "application/json"})
            assert r.status_code == 401, f"{method} {path} answered {r.status_code}"
            checked += 1
    assert checked >= 15
    assert "/api/playlists/{playlist_id}" in schema_paths


def test_browser_pages_redirect_to_login(client):
    r = client.get("/", headers={"accept": "text/html"}, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"].startswith("/login")
    assert client.get("/login").status_code == 200
    assert "htmx.min.js" in client.get("/login").text


def test_form_login_sets_cookie_and_rejects_foreign_redirect(client, make_user):
    make_user("gina")
    r = client.post(
        "/login",
        data={"username": "gina", "password": TEST_PASSWORD, "next": "https://evil.example/"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert r.headers["location"] == "/"
    assert "Your collection" in client.get("/").text
    bad = client.post("/login", data={"username": "gina", "password": "x"}, follow_redirects=False)
    assert bad.status_code == 401
    assert "wrong username or password" in bad.text


def test_cross_origin_cookie_write_is_refused(make_user):
    c = make_user("hank")
    r = c.post("/api/playlists", json={"name": "x"}, headers={"origin": "https://evil.example"})
    assert r.status_code == 403
    ok = c.post("/api/playlists", json={"name": "x"}, headers={"origin": "http://testserver"})
    assert ok.status_code == 201


def test_docs_need_login(client, user_client):
    assert client.get("/openapi.json").status_code == 401
    schema = user_client.get("/openapi.json").json()
    assert "/api/auth/login" in schema["paths"]
    docs = user_client.get("/docs")
    assert docs.status_code == 200
    assert "/static/vendor/swagger-ui-bundle.js" in docs.text
    assert user_client.get("/static/vendor/swagger-ui-bundle.js").status_code == 200


@pytest.mark.parametrize("payload", [{"username": "x", "password": "short", "is_admin": False},
                                     {"username": "bad name!", "password": "long-enough-pw"}])
def test_admin_creates_users_with_validation(user_client, payload):
    assert user_client.post("/api/users", json=payload).status_code == 422


def test_only_admins_create_users(user_client, make_user):
    r = user_client.post("/api/users", json={"username": "ivy", "password": "long-enough-pw"})
    assert r.status_code == 201
    assert user_client.post("/api/users", json={"username": "ivy", "password": "long-enough-pw"}).status_code == 409
    plain = make_user("jack")
    assert plain.post("/api/users", json={"username": "kim", "password": "long-enough-pw"}).status_code == 403


def test_out_of_range_and_malformed_values_are_4xx_not_500(user_client):
    """Found by fuzzing the OpenAPI schema: values Postgres refuses must not become 500s."""
    assert user_client.get(f"/api/libraries/{2**62}").status_code in (404, 422)
    assert user_client.delete(f"/api/libraries/{2**40}/shares/x").status_code in (404, 422)
    assert user_client.post("/api/tracks/batch", json={"ids": [2**63 - 1]}).status_code in (200, 404, 422)
    assert user_client.get("/api/analysis/jobs/%C2%A7").status_code == 404
    assert user_client.get("/api/sync/jobs/%C2%A7").status_code == 404
    pid = user_client.post("/api/playlists", json={"name": "x"}).json()["id"]
    r = user_client.patch(f"/api/playlists/{pid}", json={"name": None})
    assert r.status_code == 422
    lib = user_client.post("/api/libraries", json={"name": "L"}).json()["id"]
    r = user_client.post(f"/api/libraries/{lib}/albums", json={"title": "a\u0000b", "artist": "x"})
    assert r.status_code == 422
    assert "NUL" in r.json()["detail"]
