"""Domain errors reach HTTP clients in one shape, mapped in one place (services/web/api/errors.py)."""

from __future__ import annotations

import inspect
import os

from services.common.db import get_redis, redis_url
from services.common.settings import get_settings
from services.domain import errors
from services.web.api.errors import STATUS, status_of
from tests.conftest import free_port


def test_every_domain_error_has_its_own_status():
    kinds = [c for _, c in inspect.getmembers(errors, inspect.isclass)
             if issubclass(c, errors.DomainError) and c is not errors.DomainError]
    assert sorted(k.__name__ for k in kinds) == sorted(k.__name__ for k in STATUS)
    assert len(set(STATUS.values())) == len(STATUS)
    assert status_of(errors.Conflict("x", code="track_deleted")) == 409


def test_domain_errors_carry_their_code(user_client):
    r = user_client.get("/api/libraries/12345")
    assert r.status_code == 404 and r.json() == {"detail": "library not found", "code": "not_found"}
    r = user_client.post("/api/playlists", json={"name": "x", "track_pks": [999]})
    assert r.status_code == 404 and r.json()["code"] == "not_found"
    r = user_client.post("/api/auth/password", json={"current_password": "wrong", "new_password": "long enough"})
    assert r.status_code == 400 and r.json()["code"] == "wrong_password"


def test_job_queue_down_is_503_where_it_is_needed_and_invisible_where_it_is_not(user_client, monkeypatch):
    monkeypatch.setenv("DISCOGS_USER_TOKEN", "t")
    library_id = user_client.post("/api/libraries", json={"name": "L", "discogs_username": "digger"}).json()["id"]
    saved = os.environ["REDIS_URL"]
    monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
    for cached in (get_settings, redis_url, get_redis):
        cached.cache_clear()
    try:
        r = user_client.post(f"/api/libraries/{library_id}/sync")
        assert r.status_code == 503 and r.json()["code"] == "queue_unavailable"
        assert r.headers["Retry-After"]
        state = user_client.get(f"/api/libraries/{library_id}/sync")
        assert state.status_code == 200 and state.json()["job"] is None
        assert user_client.get(f"/libraries/{library_id}").status_code == 200
    finally:
        monkeypatch.setenv("REDIS_URL", saved)
        for cached in (get_settings, redis_url, get_redis):
            cached.cache_clear()


def test_database_down_is_503_with_retry_after_and_recovers(user_client, monkeypatch):
    from tests.conftest import reset_caches

    assert user_client.get("/api/playlists").status_code == 200
    saved = os.environ["DATABASE_URL"]
    # Nothing listens there: every connection is refused, as when Postgres is down or restarting.
    monkeypatch.setenv("DATABASE_URL", f"postgresql+psycopg://djp@127.0.0.1:{free_port()}/djplaylist")
    reset_caches()
    try:
        r = user_client.get("/api/playlists")
        assert r.status_code == 503, r.text
        assert r.json() == {"detail": "the database is not reachable; try again shortly", "code": "unavailable"}
        assert int(r.headers["Retry-After"]) > 0
        page = user_client.get("/playlists", headers={"Accept": "text/html"})
        assert page.status_code == 503
        assert page.headers["content-type"].startswith("text/html")
        assert "database is not reachable" in page.text
        assert int(page.headers["Retry-After"]) > 0
    finally:
        monkeypatch.setenv("DATABASE_URL", saved)
        reset_caches()
    # Back up: the same app answers again, no restart needed.
    assert user_client.get("/api/playlists").status_code == 200
