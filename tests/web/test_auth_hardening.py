"""Account hardening through the web app: sessions ended by logout, password changes revoking tokens,
login throttling (429 + Retry-After, real Redis, fake clock), hashing off the default thread pool,
per-user Discogs tokens, share invitations, Secure cookies over HTTPS."""

from __future__ import annotations

import threading

import pytest
import redis
from fastapi.testclient import TestClient

from services.common.db import get_redis
from services.domain.accounts.throttle import LoginThrottle, Policy
from services.web.api import deps
from tests.conftest import TEST_PASSWORD
from tests.fakes.clock import FakeClock

SAME_SITE = {"origin": "http://testserver"}  # a cookie-authenticated write from our own pages


@pytest.fixture
def clock(app):
    """Sign-ins throttled in the real Redis with a fake clock (thresholds: 3 per account, 6 per address)."""
    for key in get_redis().scan_iter("djp:login:*"):
        get_redis().delete(key)
    clock = FakeClock()
    throttle = LoginThrottle(clock=clock, account=Policy(threshold=3), address=Policy(threshold=6))
    app.dependency_overrides[deps.get_login_throttle] = lambda: throttle
    yield clock
    app.dependency_overrides.pop(deps.get_login_throttle, None)


def _login(client, username, password=TEST_PASSWORD):
    return client.post("/api/auth/login", json={"username": username, "password": password})


# --- 1. logout ends the session --------------------------------------------------------------------


def test_logout_ends_the_session_for_every_copy_of_the_cookie(make_user, app):
    c = make_user("ann")
    copy = TestClient(app)
    copy.cookies.set("djp_session", c.cookies.get("djp_session"))
    assert copy.get("/api/auth/me").status_code == 200
    assert c.post("/api/auth/logout", headers=SAME_SITE).status_code == 204
    assert copy.get("/api/auth/me").status_code == 401  # the stolen/copied cookie is dead too
    assert c.get("/api/auth/me").status_code == 401
    assert c.post("/api/auth/logout").status_code == 204  # logging out again is harmless


def test_browser_logout_form_ends_the_session(make_user, app):
    c = make_user("ann")
    copy = TestClient(app)
    copy.cookies.set("djp_session", c.cookies.get("djp_session"))
    r = c.post("/logout", headers=SAME_SITE, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login"
    assert copy.get("/api/auth/me").status_code == 401


def test_logout_everywhere(make_user, app):
    c = make_user("ann")
    other = TestClient(app)
    assert _login(other, "ann").status_code == 200
    token = c.post("/api/auth/tokens", json={"name": "cli"}, headers=SAME_SITE).json()["token"]
    r = c.post("/api/auth/logout-everywhere", headers=SAME_SITE)
    assert r.status_code == 200 and r.json()["ended_sessions"] == 2
    assert other.get("/api/auth/me").status_code == 401
    assert c.get("/api/auth/me").status_code == 401
    # API tokens are separate credentials: revoked on their own (or by a password change)
    assert TestClient(app).get("/api/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200


# --- 2. a password change revokes API tokens and other sessions --------------------------------------


def test_password_change_revokes_tokens_and_says_so(make_user, app, client):
    c = make_user("ann")
    other = TestClient(app)
    assert _login(other, "ann").status_code == 200
    token = c.post("/api/auth/tokens", json={"name": "cli"}, headers=SAME_SITE).json()["token"]
    bearer = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/auth/me", headers=bearer).status_code == 200
    r = c.post("/api/auth/password", headers=SAME_SITE,
               json={"current_password": TEST_PASSWORD, "new_password": "a-new-password"})
    assert r.status_code == 200
    body = r.json()
    assert (body["ended_sessions"], body["revoked_tokens"]) == (1, 1)
    assert "1 API token(s) revoked" in body["detail"]
    assert client.get("/api/auth/me", headers=bearer).status_code == 401
    assert other.get("/api/auth/me").status_code == 401
    assert c.get("/api/auth/me").status_code == 200  # the session that changed it stays
    assert c.get("/api/auth/tokens").json() == []


# --- 3. login throttling --------------------------------------------------------------------------------


def test_login_throttled_per_account_with_retry_after(make_user, client, clock):
    make_user("ann")
    for _ in range(3):
        assert _login(client, "ann", "wrong-password").status_code == 401
    r = _login(client, "ann")  # the right password, but the account is locked
    assert r.status_code == 429
    assert r.headers["Retry-After"] == "1"
    assert r.json()["code"] == "login_throttled"
    assert "too many failed sign-ins for this account" in r.json()["detail"]
    clock.now += 1
    assert _login(client, "ann", "wrong-password").status_code == 401  # 4th failure: locked 2 s
    assert _login(client, "ann").headers["Retry-After"] == "2"
    clock.now += 2
    assert _login(client, "ann").status_code == 200  # success resets the account (not the address: 4 of 6)
    assert _login(client, "ann", "wrong-password").status_code == 401  # one failure, not five: no lock
    assert _login(client, "ann").status_code == 200


def test_login_throttled_per_address_across_accounts(make_user, client, clock):
    make_user("ann")
    for i in range(6):
        assert _login(client, f"guess{i}", "x").status_code == 401  # unknown names count the same
    r = _login(client, "ann")
    assert r.status_code == 429 and "your address" in r.json()["detail"]


def test_browser_login_form_shows_the_throttle(make_user, client, clock):
    make_user("ann")
    for _ in range(3):
        assert client.post("/login", data={"username": "ann", "password": "nope"}).status_code == 401
    r = client.post("/login", data={"username": "ann", "password": TEST_PASSWORD}, follow_redirects=False)
    assert r.status_code == 429 and r.headers["Retry-After"] == "1"
    assert "too many failed sign-ins" in r.text


def test_login_answers_503_when_redis_is_down(make_user, client, app):
    make_user("ann")
    dead = LoginThrottle(redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.5), clock=FakeClock())
    app.dependency_overrides[deps.get_login_throttle] = lambda: dead
    try:
        r = _login(client, "ann")
    finally:
        app.dependency_overrides.pop(deps.get_login_throttle, None)
    assert r.status_code == 503 and r.json()["code"] == "login_unavailable"


# --- 4. hashing off the default thread pool --------------------------------------------------------------


def test_password_hashing_runs_in_the_dedicated_pool(make_user, client, clock, monkeypatch):
    from services.domain.accounts import service

    make_user("ann")
    seen: list[str] = []
    real = service.verify_password

    def spy(password_hash, password):
        seen.append(threading.current_thread().name)
        return real(password_hash, password)

    monkeypatch.setattr(service, "verify_password", spy)
    assert _login(client, "ann").status_code == 200
    assert seen and all(name.startswith("djp-password") for name in seen)


def test_sign_ins_beyond_the_queue_are_refused_at_once(make_user, client, clock, monkeypatch):
    make_user("ann")
    full = threading.BoundedSemaphore(1)
    full.acquire()  # every slot taken
    monkeypatch.setattr(deps, "_password_slots", full)
    r = _login(client, "ann")
    assert r.status_code == 503 and r.json()["code"] == "busy" and r.headers["Retry-After"]


# --- 7. Secure cookies over HTTPS -----------------------------------------------------------------------


def test_cookie_is_secure_over_https_or_when_configured(make_user, app, monkeypatch):
    from services.common.settings import get_settings

    make_user("ann")
    plain = _login(TestClient(app), "ann")
    assert "secure" not in plain.headers["set-cookie"].lower()
    assert "httponly" in plain.headers["set-cookie"].lower()
    https = _login(TestClient(app, base_url="https://testserver"), "ann")
    assert https.status_code == 200 and "secure" in https.headers["set-cookie"].lower()
    monkeypatch.setenv("COOKIE_SECURE", "true")
    get_settings.cache_clear()
    try:
        forced = _login(TestClient(app), "ann")
        assert "secure" in forced.headers["set-cookie"].lower()
    finally:
        monkeypatch.delenv("COOKIE_SECURE")
        get_settings.cache_clear()
