from __future__ import annotations

import redis

from services.common import db


def test_health_reports_dependencies(client):
    r = client.get("/health")
    assert r.status_code == 200
    assert r.json()["checks"] == {"database": "ok", "redis": "ok"}


def test_health_is_503_when_redis_is_down(client, monkeypatch, tmp_path):
    dead = redis.Redis.from_url(f"unix://{tmp_path}/nothing.sock", socket_connect_timeout=0.5)
    monkeypatch.setattr(db, "get_redis", lambda: dead)
    from services.web.api.routes import health

    monkeypatch.setattr(health, "get_redis", lambda: dead)
    r = client.get("/health")
    assert r.status_code == 503
    assert r.json()["checks"]["redis"].startswith("down")
    assert r.json()["checks"]["database"] == "ok"


def test_health_is_503_when_database_is_down(client, monkeypatch):
    from sqlalchemy import create_engine

    from services.web.api.routes import health

    broken = create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none", connect_args={"connect_timeout": 1})
    monkeypatch.setattr(health, "get_health_engine", lambda: broken)
    r = client.get("/health")
    assert r.status_code == 503
    assert r.json()["checks"]["database"].startswith("down")
